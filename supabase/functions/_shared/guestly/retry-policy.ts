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

/**
 * `conflict`: a definite refusal because the listing's nights are taken (see calendarConflict):
 * final like `permanent`, with its own alert (a double booking).
 */
export type AttemptOutcome =
  | "success"
  | "retryable"
  | "permanent"
  | "unknown"
  | "auth"
  | "conflict";

/**
 * Classify by status code first: Guestly's error bodies vary by service.
 *
 * A 5xx or 408 does not say whether Guestly acted: gateways answer 502/503/504 after the backend
 * committed, and a backend may finish after the gateway gave up. Repeating an idempotent request
 * (a status change, a lookup) is harmless, so it is simply retried; for a request that creates
 * something the outcome is `unknown` and must be resolved by a lookup before anything is resent.
 * 401, 425 and 429 are refused before any work is done, so they are definite on both kinds. A
 * 401 is `auth` (drop the token, mint another) only when it is about the token: given the
 * answer's body, a 401 naming anything else is Guestly refusing the request (`permanent`).
 */
export function classifyHttpStatus(
  status: number,
  idempotent = true,
  bodyText?: string,
): AttemptOutcome {
  if (status >= 200 && status < 300) return "success";
  if (status === 401) {
    return bodyText === undefined || isTokenRejection(bodyText) ? "auth" : "permanent";
  }
  if (status === 429 || status === 425) return "retryable";
  if (status === 408 || status >= 500) return idempotent ? "retryable" : "unknown";
  return "permanent";
}

/**
 * Whether a 401 is about our token (drop it, mint another: tokens are 5 a day) or a refusal of
 * the request itself: Guesty's definition says a create or change "will check calendar
 * availability and decline (401) if unavailable" and declines a breach of the listing's terms
 * with 401 too. Only a body naming the token (Guesty's `UNAUTHORIZED`, or no readable body, as
 * from a gateway) is read as the token's; any other code is a refusal, never retried and never
 * burning a token.
 */
export function isTokenRejection(bodyText: string): boolean {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return true;
  }
  const error = (body as { error?: unknown })?.error;
  if (typeof error === "string") return /unauthori[sz]ed|token/i.test(error);
  if (typeof error !== "object" || error === null) {
    const message = (body as { message?: unknown })?.message;
    return typeof message !== "string" || /unauthori[sz]ed|token|jwt/i.test(message);
  }
  const e = error as Record<string, unknown>;
  if (typeof e.code === "string") return e.code === "UNAUTHORIZED" || /TOKEN/i.test(e.code);
  return typeof e.message !== "string" || /unauthori[sz]ed|token|jwt/i.test(e.message);
}

/**
 * How long after an unknown create its effect can still appear in Guestly: longer than our
 * request timeout (a create we gave up on may still be running) plus a gateway's own timeout.
 * A lookup before then can miss a reservation that is about to exist.
 */
export const DEFAULT_SETTLE_MS = 60_000;

/**
 * Guesty warns that a payment posted right after its reservation's create can be lost or refused
 * (a race in its backend) and asks for a pause between the two; how long is not documented.
 */
export const DEFAULT_PAYMENT_DELAY_MS = 2_000;

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

/** A reservation that holds the nights we asked for, as Guestly's refusal names it. */
export interface BlockingReservation {
  reservation_id: string | null;
  confirmation_code: string | null;
  source: string | null;
  status: string | null;
  check_in: string | null;
  check_out: string | null;
  guest_name: string | null;
}

export interface CalendarConflict {
  listing_id: string | null;
  blocked_dates: string[];
  reservations: BlockingReservation[];
}

/** The error codes that mean "the listing's calendar is blocked for these dates". */
const CONFLICT_CODES = new Set(["LISTING_CALENDAR_BLOCKED", "CALENDAR_BLOCKED"]);

const text = (v: unknown): string | null => typeof v === "string" && v !== "" ? v : null;

/**
 * Whether a definite 4xx refuses a create because the dates are taken, and what Guestly said
 * blocks them. Guesty's Open API does not document this body (docs/guestly-api.md): we take the
 * Booking Engine API's code `LISTING_CALENDAR_BLOCKED`, as `error.code` or inside
 * `error.data.errorCode` / `error.data.reason` (its `CREATE_RESERVATION_ERROR` wrapper), and read
 * the blocking reservations from `error.data.conflicts` when present. Pure.
 */
export function calendarConflict(status: number, bodyText: string): CalendarConflict | null {
  // 401 included: Guesty's create "will check calendar availability and decline (401)".
  if (status < 400 || status >= 500 || status === 429) return null;
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return null;
  }
  const error = (body as { error?: unknown })?.error;
  if (typeof error !== "object" || error === null) return null;
  const e = error as Record<string, unknown>;
  const data = (typeof e.data === "object" && e.data !== null ? e.data : {}) as Record<
    string,
    unknown
  >;
  const codes = [e.code, data.errorCode, data.reason, data.code].filter((c) =>
    typeof c === "string"
  );
  if (!codes.some((c) => CONFLICT_CODES.has(c as string))) return null;
  const conflicts = Array.isArray(data.conflicts) ? data.conflicts : [];
  return {
    listing_id: text(data.listingId),
    blocked_dates: Array.isArray(data.blockedDates)
      ? data.blockedDates.filter((d): d is string => typeof d === "string").slice(0, 366)
      : [],
    reservations: conflicts.slice(0, 20).map((c) => {
      const r = (typeof c === "object" && c !== null ? c : {}) as Record<string, unknown>;
      return {
        reservation_id: text(r.reservationId) ?? text(r._id),
        confirmation_code: text(r.confirmationCode),
        source: text(r.source),
        status: text(r.status),
        check_in: text(r.checkInDateLocalized) ?? text(r.checkIn),
        check_out: text(r.checkOutDateLocalized) ?? text(r.checkOut),
        guest_name: text(r.guestName),
      };
    }),
  };
}
