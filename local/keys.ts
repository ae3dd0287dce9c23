/**
 * The local stack's JWT secret and API keys: the legacy anon/service_role JWTs as the Supabase CLI
 * makes them for `supabase start` (the CLI's public demo values), and a random pair of the new
 * keys per stack. Local-only, never production secrets.
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

/**
 * The new API keys, as a project created today has them (`sb_publishable_…`, `sb_secret_…`):
 * opaque strings, not JWTs. The local stack makes a random pair per stack (stackApiKeys), so no
 * fixed, published value ever opens a function.
 */
export interface ApiKeys {
  publishableKey: string;
  secretKey: string;
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** `<prefix><22 random characters>_<8-character checksum>`, the shape Supabase's keys have. */
async function apiKey(prefix: "sb_publishable_" | "sb_secret_"): Promise<string> {
  const body = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const sum = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(prefix + body)),
  );
  return `${prefix}${body}_${base64url(sum.subarray(0, 6))}`;
}

export async function generateApiKeys(): Promise<ApiKeys> {
  return {
    publishableKey: await apiKey("sb_publishable_"),
    secretKey: await apiKey("sb_secret_"),
  };
}

/**
 * The stack's pair, kept in `<stateDir>/api-keys.json` (mode 600): made on first use, the same
 * for every later process of that stack (functions, tests, `sync:retry`).
 */
export async function stackApiKeys(stateDir: string): Promise<ApiKeys> {
  const path = `${stateDir}/api-keys.json`;
  try {
    const saved = JSON.parse(await Deno.readTextFile(path));
    if (
      typeof saved.publishableKey === "string" &&
      saved.publishableKey.startsWith("sb_publishable_") &&
      typeof saved.secretKey === "string" && saved.secretKey.startsWith("sb_secret_")
    ) return { publishableKey: saved.publishableKey, secretKey: saved.secretKey };
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound) && !(e instanceof SyntaxError)) throw e;
  }
  const keys = await generateApiKeys();
  await Deno.mkdir(stateDir, { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(keys, null, 2) + "\n", { mode: 0o600 });
  return keys;
}

/** What the platform injects into functions for the new keys: JSON objects of named keys. */
export function apiKeysEnv(keys: ApiKeys): Record<string, string> {
  return {
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: keys.secretKey }),
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: keys.publishableKey }),
  };
}
