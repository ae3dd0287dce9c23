// The sync core: brings one booking's Guestly reservation in step with the booking's status.
// All I/O (database, Guestly, clock, sleep, log) is injected; nothing here throws to the caller.
import { BookingRow, type BookingStatus } from "./schemas.ts";
import { mapBookingToGuestlyReservation, mapStatusToGuestly } from "./mapping.ts";
import { ATTEMPTS_PER_ROUND, MAX_IN_ROUND_WAIT_MS, retryDelayMs } from "./retry-policy.ts";
import type { GuestlyClient, HttpAttempt } from "./client.ts";
import type { SyncStore } from "./store.ts";
import type { Logger } from "../log.ts";

export { mapBookingToGuestlyReservation, mapStatusToGuestly, STATUS_MAP } from "./mapping.ts";
export * from "./schemas.ts";

export interface SyncSettings {
  enabled: boolean;
  testMode: boolean;
  maxAttempts: number;
  bookingRefFieldId: string;
}

export interface SyncDeps {
  store: SyncStore;
  guestly: GuestlyClient;
  settings: SyncSettings;
  log: Logger;
  sleep: (ms: number) => Promise<void>;
  random?: () => number;
}

export type SyncOutcome =
  | { outcome: "synced"; reservationId: string | null; attempts: number }
  | { outcome: "failed"; final: boolean; error: string; attempts: number }
  | { outcome: "deferred"; until: string }
  | { outcome: "skipped"; reason: string; reservationId?: string }
  | { outcome: "test_mode"; payload: unknown }
  | { outcome: "not_found" }
  | { outcome: "invalid_booking"; error: string };

type Step =
  | { kind: "done"; reservationId: string | null }
  | { kind: "retry"; error: string; retryAfterMs?: number }
  | { kind: "permanent"; error: string }
  | { kind: "deferred"; until: Date };

/** Passes over one booking: a status change during a sync is followed up right away. */
const MAX_PASSES = 3;

export async function syncBookingToGuestly(
  bookingId: string,
  deps: SyncDeps,
): Promise<SyncOutcome> {
  if (!deps.settings.enabled) {
    return { outcome: "skipped", reason: "GUESTLY_SYNC_ENABLED is not true" };
  }
  let last: SyncOutcome = { outcome: "skipped", reason: "nothing to do" };
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const result = await syncPass(bookingId, deps);
    if (!result.more) return result.value;
    last = result.value;
  }
  return last;
}

/** An operator's retry: starts a new episode (even past the attempt limit), then syncs. */
export async function retryFailedSync(bookingId: string, deps: SyncDeps): Promise<SyncOutcome> {
  const begun = await deps.store.beginManualRetry(bookingId);
  if (!begun.ok) {
    if (begun.reason === "not_found") return { outcome: "not_found" };
    return { outcome: "skipped", reason: begun.reason ?? "not retryable" };
  }
  return await syncBookingToGuestly(bookingId, deps);
}

async function syncPass(
  bookingId: string,
  deps: SyncDeps,
): Promise<{ more: boolean; value: SyncOutcome }> {
  const { store, log } = deps;
  const claim = await store.claim(bookingId);
  if (!claim.claimed) {
    const value: SyncOutcome = claim.reason === "not_found"
      ? { outcome: "not_found" }
      : { outcome: "skipped", reason: claim.reason, reservationId: claim.reservationId };
    return { more: false, value };
  }
  const { leaseId } = claim;
  const parsed = BookingRow.safeParse(claim.booking);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const error = `booking row invalid: ${issue.path.join(".")}: ${issue.message}`;
    await store.recordFailure(bookingId, leaseId, error, true, deps.settings.maxAttempts);
    log.error("guestly.sync.invalid_booking", { booking_id: bookingId, error });
    return { more: false, value: { outcome: "invalid_booking", error } };
  }
  const booking = parsed.data;

  if (deps.settings.testMode) {
    const target = mapStatusToGuestly(booking.status);
    const payload = booking.guestly_reservation_id || target !== "confirmed"
      ? { status: target, reservationId: booking.guestly_reservation_id }
      : mapBookingToGuestlyReservation(booking, deps.settings.bookingRefFieldId);
    log.info("guestly.sync.test_mode", { booking_id: bookingId, would_send: payload });
    await store.release(bookingId, leaseId);
    return { more: false, value: { outcome: "test_mode", payload } };
  }

  const round = await runRound(booking, leaseId, deps);
  return round;
}

async function runRound(
  booking: BookingRow,
  leaseId: string,
  deps: SyncDeps,
): Promise<{ more: boolean; value: SyncOutcome }> {
  const { store, log } = deps;
  const state = { lookupNeeded: booking.guestly_sync_lookup_needed, attempts: 0 };
  let lastError = "";
  for (let tryIndex = 0; tryIndex < ATTEMPTS_PER_ROUND; tryIndex++) {
    const step = await performStep(booking, leaseId, state, deps);
    if (step.kind === "done") {
      const result = await store.recordSuccess(
        booking.id,
        leaseId,
        step.reservationId,
        booking.status,
      );
      log.info("guestly.sync.synced", {
        booking_id: booking.id,
        reservation_id: step.reservationId,
        attempt: state.attempts,
        more_work: result.moreWork,
      });
      return {
        more: result.recorded && result.moreWork,
        value: { outcome: "synced", reservationId: step.reservationId, attempts: state.attempts },
      };
    }
    if (step.kind === "deferred") {
      await store.release(booking.id, leaseId, step.until);
      log.warn("guestly.sync.deferred", {
        booking_id: booking.id,
        until: step.until.toISOString(),
      });
      return {
        more: false,
        value: { outcome: "deferred", until: step.until.toISOString() },
      };
    }
    lastError = step.error;
    if (step.kind === "permanent") {
      return await fail(booking.id, leaseId, lastError, true, state, deps);
    }
    const isLastTry = tryIndex === ATTEMPTS_PER_ROUND - 1;
    if (isLastTry) break;
    const delay = retryDelayMs(tryIndex + 1, step.retryAfterMs, (deps.random ?? Math.random)());
    if (delay > MAX_IN_ROUND_WAIT_MS) break;
    log.info("guestly.sync.retrying", {
      booking_id: booking.id,
      attempt: state.attempts,
      delay_ms: delay,
    });
    await deps.sleep(delay);
  }
  return await fail(booking.id, leaseId, lastError, false, state, deps);
}

async function fail(
  bookingId: string,
  leaseId: string,
  error: string,
  permanent: boolean,
  state: { attempts: number },
  deps: SyncDeps,
) {
  const result = await deps.store.recordFailure(
    bookingId,
    leaseId,
    error,
    permanent,
    deps.settings.maxAttempts,
  );
  const level = result.final ? "error" : "warn";
  deps.log[level]("guestly.sync.failed", {
    booking_id: bookingId,
    attempt: state.attempts,
    final: result.final,
    permanent,
    next_attempt_at: result.nextAttemptAt,
    error,
  });
  return {
    more: false,
    value: { outcome: "failed" as const, final: result.final, error, attempts: state.attempts },
  };
}

/** One try: look up if an earlier outcome is unknown, then create or change the status. */
async function performStep(
  booking: BookingRow,
  leaseId: string,
  state: { lookupNeeded: boolean; attempts: number },
  deps: SyncDeps,
): Promise<Step> {
  const { guestly, settings } = deps;
  const target = mapStatusToGuestly(booking.status);
  if (target === null) return { kind: "done", reservationId: booking.guestly_reservation_id };
  let reservationId = booking.guestly_reservation_id;

  if (!reservationId && state.lookupNeeded) {
    const lookup = await attempt(
      booking.id,
      leaseId,
      "lookup",
      state,
      deps,
      () => guestly.findByBookingRef(settings.bookingRefFieldId, booking.id),
    );
    if (lookup.outcome !== "success") return toStep(lookup);
    state.lookupNeeded = false;
    if (lookup.data) {
      reservationId = lookup.data.id;
      if (lookup.data.status === target) return { kind: "done", reservationId };
    }
  }

  if (!reservationId) {
    // Never created, and nothing in Guestly carries our reference: nothing to cancel there.
    if (target !== "confirmed") return { kind: "done", reservationId: null };
    const payload = mapBookingToGuestlyReservation(booking, settings.bookingRefFieldId);
    const created = await attempt(
      booking.id,
      leaseId,
      "create",
      state,
      deps,
      () => guestly.createReservation(payload),
    );
    if (created.outcome === "unknown") state.lookupNeeded = true;
    return created.outcome === "success"
      ? { kind: "done", reservationId: created.data!.id }
      : toStep(created);
  }

  const change = target === "canceled"
    ? { status: target, canceledBy: "website", cancellationReason: `booking ${booking.status}` }
    : { status: target };
  const updated = await attempt(
    booking.id,
    leaseId,
    "update_status",
    state,
    deps,
    () => guestly.updateReservationStatus(reservationId!, change),
  );
  return updated.outcome === "success" ? { kind: "done", reservationId } : toStep(updated);
}

function toStep(result: HttpAttempt<unknown>): Step {
  if (result.outcome === "deferred") {
    return { kind: "deferred", until: result.deferUntil ?? new Date(Date.now() + 60_000) };
  }
  if (result.outcome === "permanent") return { kind: "permanent", error: result.error ?? "" };
  return { kind: "retry", error: result.error ?? "", retryAfterMs: result.retryAfterMs };
}

/**
 * One HTTP request to Guestly, recorded in the attempt log. A 401 means our token went stale:
 * the client dropped it, so the request is repeated once with a fresh token; a second 401 is final.
 */
async function attempt<T>(
  bookingId: string,
  leaseId: string,
  operation: "create" | "update_status" | "lookup",
  state: { attempts: number },
  deps: SyncDeps,
  call: () => Promise<HttpAttempt<T>>,
): Promise<HttpAttempt<T>> {
  const recorded = async (): Promise<HttpAttempt<T>> => {
    const result = await call();
    if (result.outcome === "deferred") return result;
    state.attempts = await deps.store.recordAttempt({
      bookingId,
      leaseId,
      operation,
      startedAt: result.startedAt,
      durationMs: Math.round(result.durationMs),
      httpStatus: result.httpStatus,
      outcome: result.outcome === "auth" ? "retryable" : result.outcome,
      error: result.error ?? null,
    });
    deps.log.info("guestly.attempt", {
      booking_id: bookingId,
      attempt: state.attempts,
      operation,
      http_status: result.httpStatus,
      outcome: result.outcome,
      duration_ms: Math.round(result.durationMs),
    });
    return result;
  };
  let result = await recorded();
  if (result.outcome === "auth") {
    result = await recorded();
    if (result.outcome === "auth") result = { ...result, outcome: "permanent" };
  }
  return result;
}

export type { BookingStatus };
