// One step of a sync round: decide what Guestly needs next for this booking and send that one
// request (a lookup, a create, or status changes). The rules for unknown outcomes live here:
// a create is never sent again before a lookup that could see the first one's effect.
import {
  type BookingRow,
  type GuestlyReservation,
  GuestlyReservationCreate,
  type GuestlyStatus,
} from "./schemas.ts";
import { mapBookingToGuestlyReservation, mapStatusToGuestly } from "./mapping.ts";
import { describeDuplicates, judgeLookup } from "./lookup.ts";
import type { CallOptions, HttpAttempt } from "./client.ts";
import type { SyncDeps } from "./sync.ts";

export type Step =
  | { kind: "done"; reservationId: string | null }
  | { kind: "retry"; error: string; retryAfterMs?: number }
  /** A create whose effect we cannot know yet: end the round, look up after the settle delay. */
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

export type Operation = "create" | "update_status" | "lookup";

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
  };
}

export async function performStep(ctx: RoundContext): Promise<Step> {
  const { booking, state, deps } = ctx;
  const target = mapStatusToGuestly(booking.status);
  if (target === null) return { kind: "done", reservationId: booking.guestly_reservation_id };
  const known = booking.guestly_reservation_id;
  // A cancel of a booking whose create was ever unknown must also find a phantom reservation.
  const everUnknown = booking.guestly_sync_unknown_at != null;
  const mustLookUp = state.found === null &&
    (known ? target === "canceled" && everUnknown : state.lookupNeeded);

  if (mustLookUp) {
    const settledAt = settleTime(booking, deps);
    if (settledAt > now(deps)) {
      return {
        kind: "deferred",
        until: new Date(settledAt),
        reason: "an earlier create's outcome is unknown: looking up once it has settled",
      };
    }
    const looked = await lookUp(ctx, target);
    if (looked) return looked;
  }

  if (target === "canceled") return await cancelAll(ctx);

  let reservationId = known;
  if (!reservationId && state.found?.length) {
    const [only] = state.found;
    if (only.status === target) return { kind: "done", reservationId: only.id };
    reservationId = only.id;
  }
  if (!reservationId) return await create(ctx);
  return await setStatus(ctx, reservationId, target);
}

/** Runs the lookup; returns a step when the round cannot go on from here. */
async function lookUp(ctx: RoundContext, target: GuestlyStatus): Promise<Step | null> {
  const { booking, state, deps } = ctx;
  const fieldId = deps.settings.bookingRefFieldId;
  const result = await attempt(
    ctx,
    "lookup",
    (options) => deps.guestly.findByBookingRef(fieldId, booking.id, options),
  );
  if (result.outcome !== "success") return toStep(ctx, "lookup", result);
  const verdict = judgeLookup(result.data ?? { results: [] }, fieldId, booking.id);
  if (verdict.kind === "unreadable") return { kind: "permanent", error: verdict.error };
  if (verdict.kind !== "duplicates" && verdict.ignored > 0) {
    // The search matched reservations that do not carry our id in our field: never ours.
    deps.log.warn("guestly.lookup.foreign_hits", {
      booking_id: booking.id,
      ignored: verdict.ignored,
    });
  }
  // Cancelling: every live reservation of ours goes, however many there are.
  if (verdict.kind === "duplicates" && target !== "canceled") {
    const error = describeDuplicates(verdict.reservations);
    return {
      kind: "permanent",
      error,
      alertDetails: {
        duplicate_reservations: verdict.reservations.map((r) => ({
          id: r.id,
          confirmation_code: r.confirmationCode ?? null,
          status: r.status ?? null,
          source: r.source ?? null,
        })),
      },
    };
  }
  state.lookupNeeded = false;
  state.found = verdict.kind === "duplicates"
    ? verdict.reservations
    : verdict.kind === "one"
    ? [verdict.reservation]
    : [];
  return null;
}

async function create(ctx: RoundContext): Promise<Step> {
  const { booking, state, deps } = ctx;
  // Past the attempt limit a round only looks up (a phantom from an unknown create may exist);
  // it never sends another create.
  const total = state.attempts || (booking.guestly_sync_attempts ?? 0);
  if (total - (booking.guestly_sync_episode_base ?? 0) >= deps.settings.maxAttempts) {
    return {
      kind: "permanent",
      error: "attempts used up: the last create's outcome was unknown and the lookup found no " +
        "reservation in Guestly; retry by hand once Guestly answers again",
    };
  }
  const mapped = mapBookingToGuestlyReservation(booking, deps.settings.bookingRefFieldId);
  // What Guestly would refuse is caught here, naming the field, without spending a request.
  const checked = GuestlyReservationCreate.safeParse(mapped);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    return {
      kind: "permanent",
      error: `Guestly would refuse the reservation: ${issue.path.join(".")}: ${issue.message}`,
    };
  }
  const payload = checked.data;
  const created = await attempt(
    ctx,
    "create",
    (options) => deps.guestly.createReservation(payload, options),
    "confirmed",
  );
  if (created.outcome === "success") return { kind: "done", reservationId: created.data!.id };
  if (created.outcome === "conflict" && booking.guestly_sync_unknown_at != null) {
    // What holds the nights may be our own earlier create, whose outcome was unknown and which
    // committed after the lookup (a very slow backend): look again before calling it a double
    // booking. Found → bound; nothing of ours → the conflict stands.
    state.found = null;
    const looked = await lookUp(ctx, "confirmed");
    if (looked) return looked;
    const found: GuestlyReservation[] | null = ctx.state.found; // set by lookUp
    const [only] = found ?? [];
    if (only) {
      deps.log.warn("guestly.sync.conflict_was_ours", {
        booking_id: booking.id,
        reservation_id: only.id,
      });
      return only.status === "confirmed"
        ? { kind: "done", reservationId: only.id }
        : await setStatus(ctx, only.id, "confirmed");
    }
  }
  return toStep(ctx, "create", created);
}

/** Cancels the known reservation and every live one carrying our reference. */
async function cancelAll(ctx: RoundContext): Promise<Step> {
  const { booking, state } = ctx;
  const known = booking.guestly_reservation_id;
  const ids = [...new Set([known, ...(state.found ?? []).map((r) => r.id)])]
    .filter((id): id is string => id !== null && !state.settled.has(id));
  for (const id of ids) {
    const step = await setStatus(ctx, id, "canceled");
    if (step.kind !== "done") return step;
    state.settled.add(id);
  }
  // Never created, and nothing in Guestly carries our reference: nothing to cancel there.
  return { kind: "done", reservationId: known ?? state.found?.[0]?.id ?? null };
}

async function setStatus(
  ctx: RoundContext,
  reservationId: string,
  target: GuestlyStatus,
): Promise<Step> {
  const { booking, deps } = ctx;
  const change = target === "canceled"
    ? { status: target, canceledBy: "website", cancellationReason: `booking ${booking.status}` }
    : { status: target };
  const updated = await attempt(
    ctx,
    "update_status",
    (options) => deps.guestly.updateReservationStatus(reservationId, change, options),
    target,
  );
  if (updated.outcome === "success") return { kind: "done", reservationId };
  return toStep(ctx, "update_status", updated);
}

function toStep(ctx: RoundContext, operation: Operation, result: HttpAttempt<unknown>): Step {
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
      if (operation === "create") return { kind: "unknown", error: result.error ?? "" };
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
async function attempt<T>(
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
      if (lease.status && mapStatusToGuestly(lease.status) !== sending) return STATUS_CHANGED;
      return null;
    }
    : undefined;
  const recorded = async (): Promise<HttpAttempt<T>> => {
    const result = await call({ deadline: ctx.deadline, beforeSend });
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

/** When an earlier unknown create can no longer appear in Guestly (0 = nothing unknown). */
function settleTime(booking: BookingRow, deps: SyncDeps): number {
  if (!booking.guestly_sync_unknown_at) return 0;
  return new Date(booking.guestly_sync_unknown_at).getTime() + deps.settings.settleMs;
}
