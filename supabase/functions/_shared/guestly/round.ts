// What every step of a sync round shares: the round's context and state, the outcome of a step,
// and the one way a request to Guestly is sent and recorded in the attempt log.
import type {
  BookingRow,
  GuestlyReservation,
  GuestlyStatus,
  ReservationContent,
} from "./schemas.ts";
import { guestlyTarget } from "./mapping.ts";
import { isHoldWork } from "./hold.ts";
import type { CallOptions, HttpAttempt } from "./client.ts";
import type { AttemptRecord } from "./store.ts";
import type { SyncDeps } from "./sync.ts";

export type Step =
  | {
    kind: "done";
    reservationId: string | null;
    /** The content Guestly now holds, when this step changed or first learned it. */
    syncedState?: ReservationContent;
    /** Our booking reference was set on reservationId and read back. */
    referenceSet?: boolean;
  }
  | { kind: "retry"; error: string; retryAfterMs?: number }
  /** A create (or payment) whose effect we cannot know yet: end the round, look it up later. */
  | { kind: "unknown"; error: string }
  | {
    kind: "permanent";
    error: string;
    alertDetails?: Record<string, unknown>;
    /** `conflict`: Guestly refused because the nights are taken (a double booking). */
    errorKind?: "conflict";
  }
  | { kind: "deferred"; until: Date; reason: string }
  | { kind: "lease_lost" }
  | { kind: "status_changed" };

export type Operation = AttemptRecord["operation"];

/** Why beforeSend stops a request (the client hands it back as the `aborted` error). */
const LEASE_LOST = "lease_lost";
const STATUS_CHANGED = "status_changed";

/** What one round knows beyond the claimed row. */
export interface RoundState {
  attempts: number;
  lookupNeeded: boolean;
  /** Live reservations carrying our reference, once looked up in this round. */
  found: GuestlyReservation[] | null;
  /** Reservations this round has already set to the target status. */
  settled: Set<string>;
  /** Payment rows this round has recorded in Guestly. */
  recordedPayments: Set<string>;
  /** Content this round has brought Guestly to, once a change went through. */
  content?: ReservationContent;
}

export interface RoundContext {
  booking: BookingRow;
  leaseId: string;
  deadline: number;
  state: RoundState;
  deps: SyncDeps;
}

export function newRoundState(booking: BookingRow): RoundState {
  return {
    attempts: 0,
    lookupNeeded: booking.guestly_sync_lookup_needed,
    found: null,
    settled: new Set(),
    recordedPayments: new Set(),
  };
}

export function toStep(
  ctx: RoundContext,
  operation: Operation,
  result: HttpAttempt<unknown>,
): Step {
  switch (result.outcome) {
    case "deferred":
      return {
        kind: "deferred",
        until: result.deferUntil ?? new Date(now(ctx.deps) + 60_000),
        reason: result.error ?? "deferred",
      };
    case "aborted":
      // beforeSend's reason, handed back by the client as the error.
      return { kind: result.error === STATUS_CHANGED ? "status_changed" : "lease_lost" };
    case "permanent":
      return { kind: "permanent", error: result.error ?? "" };
    case "conflict":
      // Definite: Guestly refused, nothing was created. Never retried automatically.
      return {
        kind: "permanent",
        error: `dates not available in Guestly: ${result.error ?? ""}`,
        errorKind: "conflict",
        alertDetails: { conflict: result.conflict ?? null, operation },
      };
    case "unknown":
      // Not idempotent (a create, a payment): it may have happened; look before sending again.
      if (operation === "create" || operation === "record_payment") {
        return { kind: "unknown", error: result.error ?? "" };
      }
      return { kind: "retry", error: result.error ?? "" };
    default:
      return { kind: "retry", error: result.error ?? "", retryAfterMs: result.retryAfterMs };
  }
}

/**
 * One HTTP request to Guestly, recorded in the attempt log. Requests that change Guestly (a
 * `sending` status is given) first confirm, in one SQL call right before they leave, that this
 * invocation still holds the lease and that the booking still wants that status. A 401 means our
 * token went stale: the client dropped it, so the request is repeated once with a fresh token;
 * a second 401 is final.
 */
export async function attempt<T>(
  ctx: RoundContext,
  operation: Operation,
  call: (options: CallOptions) => Promise<HttpAttempt<T>>,
  sending?: GuestlyStatus,
): Promise<HttpAttempt<T>> {
  const { booking, leaseId, state, deps } = ctx;
  const beforeSend = sending
    ? async () => {
      const lease = await deps.store.confirmLease(booking.id, leaseId);
      if (!lease.held) return LEASE_LOST;
      if (
        lease.status &&
        guestlyTarget({ status: lease.status, guestly_hold_status: lease.holdStatus }) !== sending
      ) return STATUS_CHANGED;
      return null;
    }
    : undefined;
  const recorded = async (): Promise<HttpAttempt<T>> => {
    // A hold waits behind paid bookings for Guestly's send slots.
    const priority = isHoldWork(booking) ? "hold" : "live";
    const result = await call({ deadline: ctx.deadline, beforeSend, priority });
    if (result.outcome === "deferred" || result.outcome === "aborted") return result;
    state.attempts = await deps.store.recordAttempt({
      bookingId: booking.id,
      leaseId,
      operation,
      startedAt: result.startedAt,
      durationMs: Math.round(result.durationMs),
      httpStatus: result.httpStatus,
      outcome: result.outcome === "auth" ? "retryable" : result.outcome,
      error: result.error ?? null,
    });
    deps.log.info("guestly.attempt", {
      booking_id: booking.id,
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

export function now(deps: SyncDeps): number {
  return (deps.now ?? Date.now)();
}

/** When a request with an unknown outcome at `unknownAt` can no longer take effect (0 = none). */
export function settledAt(unknownAt: string | null | undefined, deps: SyncDeps): number {
  if (!unknownAt) return 0;
  return new Date(unknownAt).getTime() + deps.settings.settleMs;
}
