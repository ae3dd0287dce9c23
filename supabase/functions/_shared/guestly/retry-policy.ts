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

/** Classify by status code first: Guestly's error bodies vary by service. */
export function classifyHttpStatus(status: number): AttemptOutcome {
  if (status >= 200 && status < 300) return "success";
  if (status === 401) return "auth";
  if (status === 408 || status === 429 || status === 425 || status >= 500) return "retryable";
  return "permanent";
}

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
