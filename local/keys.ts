/**
 * The local stack's JWT secret and API keys, as the Supabase CLI makes them for `supabase start`.
 * Local-only: these are the CLI's public demo values, never production secrets.
 */
import { jwtVerify, SignJWT } from "jose";

/** The Supabase CLI's public default local JWT secret. */
export const LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";

/** `SUPABASE_JWT_SECRET` from the environment if set (and readable), else {@link LOCAL_JWT_SECRET}. */
export function localJwtSecret(): string {
  try {
    const fromEnv = Deno.env.get("SUPABASE_JWT_SECRET");
    if (fromEnv) return fromEnv;
  } catch {
    // no --allow-env: use the default
  }
  return LOCAL_JWT_SECRET;
}

/** Expiry the CLI puts in its demo keys (2032-11-12). */
const DEMO_EXP = 1983812996;

async function sign(role: string, secret: string): Promise<string> {
  // Claim order iss, role, exp and header {alg, typ} match the CLI's keys byte for byte.
  return await new SignJWT({ iss: "supabase-demo", role, exp: DEMO_EXP })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(secret));
}

export interface LocalKeys {
  anonKey: string;
  serviceRoleKey: string;
  jwtSecret: string;
}

/** The anon and service_role keys signed with `secret` (default {@link localJwtSecret}). */
export async function localKeys(secret: string = localJwtSecret()): Promise<LocalKeys> {
  return {
    anonKey: await sign("anon", secret),
    serviceRoleKey: await sign("service_role", secret),
    jwtSecret: secret,
  };
}

/**
 * Verifies an HS256 JWT signed with `secret` (signature and `exp`/`nbf`).
 * Returns its `role` claim (`""` if absent), or null if the token is not valid.
 */
export async function verifySupabaseJwt(
  token: string,
  secret: string,
): Promise<{ role: string } | null> {
  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), {
      algorithms: ["HS256"],
    });
    return { role: typeof payload.role === "string" ? payload.role : "" };
  } catch {
    return null;
  }
}
