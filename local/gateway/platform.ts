// What the local gateway imitates of the Supabase platform's own answers: the wall-clock limit
// (546), an unknown or unstarted function, and verify_jwt's check of legacy JWTs (the new sb_
// keys are not JWTs and are refused there, as on the platform). Local-only: never deployed.
import { verifySupabaseJwt } from "../keys.ts";

/** Supabase's wall clock on the free plan (paid plans: 400 s). */
export const DEFAULT_WALL_CLOCK_LIMIT_MS = 150_000;

/**
 * What hosted Supabase answers when a function's worker is stopped by a resource limit
 * (wall clock, CPU, memory): HTTP 546 with this JSON body and the same code in the
 * `sb-error-code` header (docs: guides/functions/status-codes, guides/functions/error-codes,
 * troubleshooting "546 - WORKER_LIMIT Exceeded" and "wall clock time limit reached"). The
 * docs renamed the code from `WORKER_LIMIT` to `WORKER_RESOURCE_LIMIT` in 2026, and the
 * CLI's `functions serve` still says `WORKER_LIMIT`: callers should go by the 546.
 */
export const WALL_CLOCK_LIMIT = {
  status: 546,
  code: "WORKER_RESOURCE_LIMIT",
  message: "Function failed due to not having enough compute resources (please check logs)",
} as const;

/** Parses `FUNCTIONS_WALL_CLOCK_LIMIT_MS`: unset or empty → the default; else a positive integer. */
export function wallClockLimitFrom(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return DEFAULT_WALL_CLOCK_LIMIT_MS;
  const ms = Number(value.trim());
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new Error(
      `invalid configuration: FUNCTIONS_WALL_CLOCK_LIMIT_MS must be a positive integer of ` +
        `milliseconds, got ${JSON.stringify(value)}`,
    );
  }
  return ms;
}

/** The platform's answer to a request cut off by the wall clock. */
export function wallClockExceeded(): Response {
  return Response.json(
    { code: WALL_CLOCK_LIMIT.code, message: WALL_CLOCK_LIMIT.message },
    { status: WALL_CLOCK_LIMIT.status, headers: { "sb-error-code": WALL_CLOCK_LIMIT.code } },
  );
}

export function jsonResponse(body: unknown, status: number): Response {
  return Response.json(body, { status });
}

export function functionNotFound(): Response {
  return jsonResponse({ code: "NOT_FOUND", message: "Requested function was not found" }, 404);
}

/** verify_jwt = true: a valid JWT in `Authorization: Bearer`, or the platform's 401. */
export async function verifyJwtRefusal(req: Request, jwtSecret: string): Promise<Response | null> {
  const auth = req.headers.get("authorization");
  if (!auth) return jsonResponse({ code: 401, message: "Missing authorization header" }, 401);
  const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  if (!m || !(await verifySupabaseJwt(m[1], jwtSecret))) {
    return jsonResponse({ code: 401, message: "Invalid JWT" }, 401);
  }
  return null;
}
