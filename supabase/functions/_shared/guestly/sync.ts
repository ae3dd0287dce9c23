// The sync core: brings one booking's Guestly reservation in step with the booking's status.
// All I/O (database, Guestly, clock, sleep, log) is injected; nothing here throws to the caller.
import { BookingRow, type BookingStatus } from "./schemas.ts";
import { guestlyTarget, mapBookingToGuestlyReservation, syncedStatusAfter } from "./mapping.ts";
import { isHoldWork } from "./hold.ts";
import { ATTEMPTS_PER_ROUND, MAX_IN_ROUND_WAIT_MS, retryDelayMs } from "./retry-policy.ts";
import type { GuestlyClient } from "./client.ts";
import type { FailureOptions, SyncStore } from "./store.ts";
import { newRoundState, performStep, type RoundContext } from "./steps.ts";
import { now } from "./round.ts";
import { planContentChanges } from "./content-changes.ts";
import type { Logger } from "../log.ts";

export { mapBookingToGuestlyReservation, mapStatusToGuestly, STATUS_MAP } from "./mapping.ts";
export * from "./schemas.ts";

export interface SyncSettings {
  enabled: boolean;
  testMode: boolean;
  maxAttempts: number;
  bookingRefFieldId: string;
  /** How long an unknown create's effect may take to show in Guestly (GUESTLY_UNKNOWN_SETTLE_MS). */
  settleMs: number;
  /**
   * The pause between a reservation's create and its first payment record that Guesty asks for
   * (GUESTLY_PAYMENT_DELAY_MS); undefined = none.
   */
  paymentDelayMs?: number;
  /** One invocation's wall-clock budget (GUESTLY_FUNCTION_BUDGET_MS), below the platform's limit. */
  budgetMs: number;
}

export interface SyncDeps {
  store: SyncStore;
  guestly: GuestlyClient;
  settings: SyncSettings;
  log: Logger;
  sleep: (ms: number) => Promise<void>;
  random?: () => number;
  /** The clock (epoch ms); Date.now when not given. */
  now?: () => number;
}

export type SyncOutcome =
  | { outcome: "synced"; reservationId: string | null; attempts: number }
  | {
    outcome: "failed";
    final: boolean;
    error: string;
    attempts: number;
    /** `conflict`: the dates are taken in Guestly (a double booking). */
    errorKind?: "conflict";
  }
  | { outcome: "deferred"; until: string }
  | { outcome: "skipped"; reason: string; reservationId?: string }
  | { outcome: "test_mode"; payload: unknown }
  | { outcome: "not_found" }
  | { outcome: "invalid_booking"; error: string };

/**
 * Passes over one booking. A pass does one piece of work (the reservation and its status, its
 * content, its money) and records it; a change made meanwhile is followed up right away too.
 */
const MAX_PASSES = 6;

export async function syncBookingToGuestly(
  bookingId: string,
  deps: SyncDeps,
  startedAt: number = now(deps),
): Promise<SyncOutcome> {
  if (!deps.settings.enabled) {
    return { outcome: "skipped", reason: "GUESTLY_SYNC_ENABLED is not true" };
  }
  const deadline = startedAt + deps.settings.budgetMs;
  let last: SyncOutcome = { outcome: "skipped", reason: "nothing to do" };
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const result = await syncPass(bookingId, deadline, deps);
    if (!result.more) return result.value;
    last = result.value;
  }
  return last;
}

/** An operator's retry: starts a new episode (even past the attempt limit), then syncs. */
export async function retryFailedSync(
  bookingId: string,
  deps: SyncDeps,
  startedAt: number = now(deps),
  options: { ignoreCalendar?: boolean } = {},
): Promise<SyncOutcome> {
  const begun = await deps.store.beginManualRetry(bookingId, options);
  if (!begun.ok) {
    if (begun.reason === "not_found") return { outcome: "not_found" };
    return { outcome: "skipped", reason: begun.reason ?? "not retryable" };
  }
  return await syncBookingToGuestly(bookingId, deps, startedAt);
}

async function syncPass(
  bookingId: string,
  deadline: number,
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
    const target = guestlyTarget(booking);
    const payload =
      booking.guestly_reservation_id || (target !== "confirmed" && target !== "reserved")
        ? {
          status: target,
          reservationId: booking.guestly_reservation_id,
          changes: planContentChanges(booking.guestly_synced_state, booking.guestly_desired_state)
            .map((change) => change.kind),
          payments: (booking.guestly_pending_payments ?? []).map((p) => ({
            kind: p.kind,
            amount: p.amount,
            currency: p.currency,
          })),
        }
        : mapBookingToGuestlyReservation(booking);
    log.info("guestly.sync.test_mode", { booking_id: bookingId, would_send: payload });
    await store.release(bookingId, leaseId);
    return { more: false, value: { outcome: "test_mode", payload } };
  }

  return await runRound({ booking, leaseId, deadline, state: newRoundState(booking), deps });
}

type PassResult = { more: boolean; value: SyncOutcome };

async function runRound(ctx: RoundContext): Promise<PassResult> {
  const { booking, leaseId, state, deps } = ctx;
  const { store, log } = deps;
  let lastError = "";
  for (let tryIndex = 0; tryIndex < ATTEMPTS_PER_ROUND; tryIndex++) {
    const step = await performStep(ctx);
    switch (step.kind) {
      case "done": {
        const result = await store.recordSuccess(
          booking.id,
          leaseId,
          step.reservationId,
          syncedStatusAfter(booking),
          step.syncedState,
          { referenceSet: step.referenceSet },
        );
        if (!result.recorded && result.reason === "bound_elsewhere") {
          // Never bound twice (one reservation, one booking): an operator decides which it is.
          return await fail(
            ctx,
            `reservation ${step.reservationId} is already recorded on another booking; check ` +
              "both bookings in Guestly (two bookings of one guest on one stay?), then retry",
            true,
          );
        }
        if (!result.recorded) {
          // Guestly changed, but another invocation holds the booking now: it looks up first
          // (its claim took over an abandoned lease), so it finds this reservation.
          log.error("guestly.sync.lease_lost_after_change", {
            booking_id: booking.id,
            reservation_id: step.reservationId,
            attempt: state.attempts,
          });
          return { more: false, value: { outcome: "skipped", reason: "lease lost" } };
        }
        log.info("guestly.sync.synced", {
          booking_id: booking.id,
          reservation_id: step.reservationId,
          attempt: state.attempts,
          more_work: result.moreWork,
        });
        return {
          more: result.moreWork,
          value: { outcome: "synced", reservationId: step.reservationId, attempts: state.attempts },
        };
      }
      case "deferred":
        return await defer(ctx, step.until, step.reason);
      case "lease_lost":
        // Another invocation holds the booking now: it decides; we record nothing.
        log.warn("guestly.sync.lease_lost", { booking_id: booking.id, attempt: state.attempts });
        return { more: false, value: { outcome: "skipped", reason: "lease lost" } };
      case "status_changed":
        // The booking changed before our request left: start over from the new status.
        await store.release(booking.id, leaseId, new Date(now(deps)));
        log.info("guestly.sync.status_changed", { booking_id: booking.id });
        return { more: true, value: { outcome: "skipped", reason: "booking changed" } };
      case "unknown": {
        // Guestly may have created it. Nothing is sent again until a lookup can see it.
        const settleUntil = new Date(now(deps) + deps.settings.settleMs);
        return await fail(ctx, `outcome unknown: ${step.error}`, false, {
          retryNotBefore: settleUntil,
        });
      }
      case "permanent":
        return await fail(ctx, step.error, true, {
          alertDetails: step.alertDetails,
          errorKind: step.errorKind,
        });
      case "retry": {
        lastError = step.error;
        if (tryIndex === ATTEMPTS_PER_ROUND - 1) break;
        const delay = retryDelayMs(tryIndex + 1, step.retryAfterMs, (deps.random ?? Math.random)());
        if (delay > MAX_IN_ROUND_WAIT_MS) break;
        const timeoutMs = deps.guestly.deps.timeoutMs;
        if (now(deps) + delay + timeoutMs > ctx.deadline) {
          // The next try would not finish inside this invocation's budget: the sweep does it.
          return await fail(ctx, lastError, false, {
            retryNotBefore: new Date(now(deps) + delay),
          });
        }
        log.info("guestly.sync.retrying", {
          booking_id: booking.id,
          attempt: state.attempts,
          delay_ms: delay,
        });
        await deps.sleep(delay);
        continue;
      }
    }
    break;
  }
  return await fail(ctx, lastError, false);
}

async function defer(ctx: RoundContext, until: Date, reason: string): Promise<PassResult> {
  await ctx.deps.store.release(ctx.booking.id, ctx.leaseId, until);
  ctx.deps.log.warn("guestly.sync.deferred", {
    booking_id: ctx.booking.id,
    until: until.toISOString(),
    reason,
  });
  return { more: false, value: { outcome: "deferred", until: until.toISOString() } };
}

async function fail(
  ctx: RoundContext,
  error: string,
  permanent: boolean,
  options: FailureOptions = {},
): Promise<PassResult> {
  const { booking, leaseId, state, deps } = ctx;
  if (isHoldWork(booking)) return await failHold(ctx, error, permanent, options);
  const result = await deps.store.recordFailure(
    booking.id,
    leaseId,
    error,
    permanent,
    deps.settings.maxAttempts,
    {
      ...options,
      claimedStatus: booking.status,
      claimedState: booking.guestly_desired_state,
      syncedState: state.content,
    },
  );
  const level = result.final ? "error" : "warn";
  deps.log[level]("guestly.sync.failed", {
    booking_id: booking.id,
    attempt: state.attempts,
    final: result.final,
    permanent,
    next_attempt_at: result.nextAttemptAt,
    error,
    ...(options.errorKind ? { error_kind: options.errorKind } : {}),
  });
  return failed(result.final, error, state.attempts, options.errorKind);
}

function failed(
  final: boolean,
  error: string,
  attempts: number,
  errorKind: FailureOptions["errorKind"],
): PassResult {
  return {
    more: false,
    value: { outcome: "failed", final, error, attempts, ...(errorKind ? { errorKind } : {}) },
  };
}

/** A hold that could not be placed or released: the website's answer, never an admin's alert. */
async function failHold(
  ctx: RoundContext,
  error: string,
  permanent: boolean,
  options: FailureOptions,
): Promise<PassResult> {
  const { booking, leaseId, state, deps } = ctx;
  const result = await deps.store.recordHoldFailure(booking.id, leaseId, error, permanent, {
    errorKind: options.errorKind,
    retryNotBefore: options.retryNotBefore,
  });
  deps.log.warn("guestly.hold.failed", {
    booking_id: booking.id,
    attempt: state.attempts,
    final: result.final,
    next_attempt_at: result.nextAttemptAt,
    error,
    ...(options.errorKind ? { error_kind: options.errorKind } : {}),
  });
  return failed(result.final, error, state.attempts, options.errorKind);
}

export type { BookingStatus };
