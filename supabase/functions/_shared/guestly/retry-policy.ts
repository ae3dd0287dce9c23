// Backoff schedule and error classification. Pure: the clock and randomness are parameters.

/** One round = the first try plus up to 3 retries after 1 s, 2 s and 4 s. */
export const ROUND_DELAYS_MS = [1000, 2000, 4000] as const;
export const ATTEMPTS_PER_ROUND = ROUND_DELAYS_MS.length + 1;
/** A Retry-After longer than this ends the round; the cron sweep comes back later. */
export const MAX_IN_ROUND_WAIT_MS = 30_000;

/**
 * Delay before retry number `retry` (1-based) of a round. A 429's Retry-After wins when longer.
 * `jitter` (0..1) spreads concurrent retries, as Guesty asks; tests pass 0.
 */
export function retryDelayMs(retry: number, retryAfterMs?: number, jitter = 0): number {
  const base = ROUND_DELAYS_MS[Math.min(retry, ROUND_DELAYS_MS.length) - 1];
  const withJitter = Math.round(base * (1 + 0.1 * jitter));
  return Math.max(withJitter, retryAfterMs ?? 0);
}

export type AttemptOutcome = "success" | "retryable" | "permanent" | "unknown" | "auth";

/**
 * Classify by status code first: Guestly's error bodies vary by service.
 *
 * A 5xx or 408 does not say whether Guestly acted: gateways answer 502/503/504 after the backend
 * committed, and a backend may finish after the gateway gave up. Repeating an idempotent request
 * (a status change, a lookup) is harmless, so it is simply retried; for a request that creates
 * something the outcome is `unknown` and must be resolved by a lookup before anything is resent.
 * 401, 425 and 429 are refused before any work is done, so they are definite on both kinds.
 */
export function classifyHttpStatus(status: number, idempotent = true): AttemptOutcome {
  if (status >= 200 && status < 300) return "success";
  if (status === 401) return "auth";
  if (status === 429 || status === 425) return "retryable";
  if (status === 408 || status >= 500) return idempotent ? "retryable" : "unknown";
  return "permanent";
}

/**
 * How long after an unknown create its effect can still appear in Guestly: longer than our
 * request timeout (a create we gave up on may still be running) plus a gateway's own timeout.
 * A lookup before then can miss a reservation that is about to exist.
 */
export const DEFAULT_SETTLE_MS = 60_000;

/** Retry-After is seconds or an HTTP date. */
export function parseRetryAfterMs(value: string | null, nowMs: number): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/** A short, operator-readable message from any of Guestly's error body shapes. */
export function guestlyErrorMessage(status: number, bodyText: string): string {
  let detail = bodyText.trim();
  try {
    const body = JSON.parse(bodyText);
    if (typeof body === "string") detail = body;
    else if (body?.error?.message) detail = String(body.error.message);
    else if (typeof body?.error === "string") {
      detail = body.error_description ? `${body.error}: ${body.error_description}` : body.error;
    } else if (body?.message) detail = String(body.message);
  } catch { /* not JSON: keep the text */ }
  return `Guestly HTTP ${status}: ${detail.slice(0, 500) || "(empty body)"}`;
}
