// Who may call guestly-sync and notify-admin: the database (pg_net, with the key from Vault) and
// operators. Both functions run with verify_jwt = false, because Supabase's platform check only
// understands JWTs and the new secret keys (`sb_secret_…`) are not JWTs, so the check is here:
// a caller must present one of the keys the platform injects —
//   SUPABASE_SERVICE_ROLE_KEY  the legacy service_role JWT (projects that still have legacy keys)
//   SUPABASE_SECRET_KEYS       the project's secret keys, a JSON object of named keys:
//                              {"default":"sb_secret_…","database":"sb_secret_…"}
//   SUPABASE_SECRET_KEY        one secret key, set by hand (self-hosting, scripts)
// — in `apikey` (where Supabase documents API keys) or as `Authorization: Bearer …` (where the
// legacy JWT always went, and where supabase-js also puts a key). Comparisons are constant-time
// over SHA-256 digests. Publishable keys are public and never accepted, even if misconfigured.
import { json } from "./http.ts";

const SECRET_PREFIX = "sb_secret_";
const PUBLISHABLE_PREFIX = "sb_publishable_";

/** The 401 answer's message: what to send instead. */
export const UNAUTHORIZED_MESSAGE = "unauthorized: a secret key (sb_secret_…, in the apikey " +
  "header) or the service_role key (Authorization: Bearer) is required";

export interface ServiceKeys {
  /** How many keys are accepted (0: every caller is refused). */
  readonly count: number;
  /** Configuration problems worth an error log at start-up (never a key's value). */
  readonly problems: string[];
  /** True when the request carries one of the accepted keys. */
  accepts(request: Request): Promise<boolean>;
  /**
   * Null when the caller may go on; else the answer to send: 401, or 500 when no key is
   * configured at all (the function cannot tell anyone in, and says why).
   */
  refusal(request: Request): Promise<Response | null>;
}

/** What a refused caller's log line says (never the key it sent). */
export const REFUSED_KEY_HINT = "the caller's key is none of this project's secret or " +
  "service_role keys (Vault secret service_role_key?)";

/** refusal(), with a 401 logged under `event`: a database calling with the wrong key is told. */
export async function refuseUnlessServiceKey(
  keys: ServiceKeys,
  request: Request,
  logRefusal: (hint: string) => void,
): Promise<Response | null> {
  const refused = await keys.refusal(request);
  if (refused?.status === 401) logRefusal(REFUSED_KEY_HINT);
  return refused;
}

/**
 * How every function the database or an operator calls begins: POST only (405 otherwise), then
 * refuseUnlessServiceKey. Null when the caller may go on.
 */
export async function refuseUnlessServicePost(
  keys: ServiceKeys,
  request: Request,
  logRefusal: (hint: string) => void,
): Promise<Response | null> {
  if (request.method !== "POST") {
    await request.body?.cancel();
    return json(405, { error: "method not allowed: use POST" }, { Allow: "POST" });
  }
  return await refuseUnlessServiceKey(keys, request, logRefusal);
}

/** The secret keys named in SUPABASE_SECRET_KEYS (a JSON object of name → key). */
export function parseSecretKeys(
  raw: string | undefined,
): { keys: string[]; problem: string | null } {
  const text = raw?.trim() ?? "";
  if (text === "") return { keys: [], problem: null };
  // Tolerate a bare key, as some hand-written .env files have it.
  if (text.startsWith(SECRET_PREFIX)) return { keys: [text], problem: null };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {
      keys: [],
      problem: 'SUPABASE_SECRET_KEYS is not JSON (expected {"<name>":"sb_secret_…"}); ignored',
    };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    return {
      keys: [],
      problem: 'SUPABASE_SECRET_KEYS must be a JSON object {"<name>":"sb_secret_…"}; ignored',
    };
  }
  const keys: string[] = [];
  const bad: string[] = [];
  for (const [name, value] of Object.entries(parsed)) {
    if (typeof value === "string" && value.trim() !== "") keys.push(value.trim());
    else bad.push(name);
  }
  return {
    keys,
    problem: bad.length
      ? `SUPABASE_SECRET_KEYS: entries without a key string ignored: ${bad.join(", ")}`
      : null,
  };
}

async function digest(value: string): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value)),
  );
}

/** What a request presents: the bearer token and the apikey header (empty ones dropped). */
export function presentedKeys(request: Request): string[] {
  const out: string[] = [];
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "");
  if (bearer) out.push(bearer[1]);
  const apikey = request.headers.get("apikey")?.trim();
  if (apikey) out.push(apikey);
  return out;
}

export function serviceKeysFrom(env: Record<string, string | undefined>): ServiceKeys {
  const problems: string[] = [];
  const candidates: Array<[string, string]> = [];
  const legacy = env.SUPABASE_SERVICE_ROLE_KEY?.trim();
  if (legacy) candidates.push(["SUPABASE_SERVICE_ROLE_KEY", legacy]);
  const secrets = parseSecretKeys(env.SUPABASE_SECRET_KEYS);
  if (secrets.problem) problems.push(secrets.problem);
  for (const key of secrets.keys) candidates.push(["SUPABASE_SECRET_KEYS", key]);
  const single = env.SUPABASE_SECRET_KEY?.trim();
  if (single) candidates.push(["SUPABASE_SECRET_KEY", single]);

  const accepted: string[] = [];
  for (const [name, key] of candidates) {
    if (key.startsWith(PUBLISHABLE_PREFIX)) {
      problems.push(`${name} holds a publishable key (public): not accepted as a service key`);
      continue;
    }
    if (!accepted.includes(key)) accepted.push(key);
  }
  if (accepted.length === 0) {
    problems.push(
      "no service key configured (SUPABASE_SERVICE_ROLE_KEY, SUPABASE_SECRET_KEYS or " +
        "SUPABASE_SECRET_KEY): every call is refused",
    );
  }
  // Hashed on the first request that needs them, then kept: started here, at a function's
  // start, the digests ran outside any request (and outlived tests that present no key).
  let expected: Promise<Uint8Array[]> | null = null;

  const keys: ServiceKeys = {
    count: accepted.length,
    problems,
    async accepts(request: Request): Promise<boolean> {
      const wanted = await (expected ??= Promise.all(accepted.map(digest)));
      const presented = await Promise.all(presentedKeys(request).map(digest));
      // Every pair is compared in full: no early exit that would time a near match.
      let ok = 0;
      for (const p of presented) {
        for (const w of wanted) {
          let diff = 0;
          for (let i = 0; i < w.length; i++) diff |= p[i] ^ w[i];
          ok |= diff === 0 ? 1 : 0;
        }
      }
      return ok === 1;
    },
    async refusal(request: Request): Promise<Response | null> {
      if (await keys.accepts(request)) return null;
      await request.body?.cancel();
      if (accepted.length === 0) return json(500, { error: problems[problems.length - 1] });
      return json(401, { error: UNAUTHORIZED_MESSAGE });
    },
  };
  return keys;
}
