// The money step of a round: payments and refunds Stripe reported (guestly.payments) are
// recorded on the reservation, each exactly once. Recording is not idempotent in Guestly, so a
// request with an unknown outcome is looked up by its note, after the settle delay, before it
// is ever sent again. A refund is always recorded on the payment it gives money back from, which
// the reservation is read for first (so its lookup comes for free).
import {
  findRecordedPayment,
  mapPaymentToGuestly,
  mapRefundToGuestly,
  refundedPaymentReference,
  refundRecorded,
} from "./mapping.ts";
import type { BookingStatus, GuestlyStatus, PendingPayment } from "./schemas.ts";
import { attempt, now, type RoundContext, settledAt, type Step, toStep } from "./round.ts";

export function pendingPayments(ctx: RoundContext): PendingPayment[] {
  const all = ctx.booking.guestly_pending_payments ?? [];
  return all.filter((payment) => !ctx.state.recordedPayments.has(payment.id));
}

/**
 * Records every pending payment and refund of the booking, oldest first. `syncedStatus`: the
 * status Guestly holds when it is not the booking's yet (money recorded before a cancellation).
 */
export async function recordPayments(
  ctx: RoundContext,
  reservationId: string,
  sending: GuestlyStatus,
  syncedStatus?: BookingStatus,
): Promise<Step> {
  const pause = await pauseAfterCreate(ctx);
  if (pause) return pause;
  for (const payment of pendingPayments(ctx)) {
    const settled = settledAt(payment.unknown_at, ctx.deps);
    if (settled > now(ctx.deps)) {
      return {
        kind: "deferred",
        until: new Date(settled),
        reason: "an earlier payment record's outcome is unknown: looking up once it has settled",
      };
    }
    const step = payment.kind === "payment"
      ? await recordPayment(ctx, reservationId, payment, sending)
      : await recordRefund(ctx, reservationId, payment, sending);
    if (step) return step;
    ctx.state.recordedPayments.add(payment.id);
  }
  return { kind: "done", reservationId, ...(syncedStatus ? { syncedStatus } : {}) };
}

/**
 * Guesty asks for a pause between a reservation's create and its payment: the pass after the
 * create waits out the rest of GUESTLY_PAYMENT_DELAY_MS (or, if that does not fit the
 * invocation's budget, comes back then).
 */
async function pauseAfterCreate(ctx: RoundContext): Promise<Step | null> {
  const { booking, deps } = ctx;
  const delay = deps.settings.paymentDelayMs ?? 0;
  if (!delay || !booking.guestly_synced_at) return null;
  const readyAt = Date.parse(booking.guestly_synced_at) + delay;
  const wait = readyAt - now(deps);
  if (wait <= 0) return null;
  if (now(deps) + wait + deps.guestly.deps.timeoutMs > ctx.deadline) {
    return { kind: "deferred", until: new Date(readyAt), reason: "pause after the create" };
  }
  await deps.sleep(wait);
  return null;
}

/**
 * A 404 right after a create is Guesty's race between a new reservation and its payment, not a
 * missing reservation: retried (with backoff, up to the attempt limit) instead of final.
 */
function paymentStep(ctx: RoundContext, result: Parameters<typeof toStep>[2]): Step {
  if (result.outcome === "permanent" && result.httpStatus === 404) {
    return { kind: "retry", error: result.error ?? "Guestly HTTP 404" };
  }
  return toStep(ctx, "record_payment", result);
}

/** null when recorded (now or before); otherwise the step that ends the round. */
async function recordPayment(
  ctx: RoundContext,
  reservationId: string,
  payment: PendingPayment,
  sending: GuestlyStatus,
): Promise<Step | null> {
  const { deps } = ctx;
  if (payment.unknown_at) {
    const read = await readPayments(ctx, reservationId);
    if (!Array.isArray(read)) return read;
    const found = findRecordedPayment(read, payment.reference);
    if (found) return await settle(ctx, payment, "recorded", found, "found_after_unknown");
  }
  const record = mapPaymentToGuestly(payment, new Date(now(deps)));
  const result = await attempt(
    ctx,
    "record_payment",
    (options) => deps.guestly.recordPayment(reservationId, record, options),
    sending,
  );
  if (result.outcome === "success") {
    const id = findRecordedPayment(result.data ?? [], payment.reference);
    return await settle(ctx, payment, "recorded", id, "recorded");
  }
  if (result.outcome === "unknown") {
    return await settle(ctx, payment, "unknown", null) ?? toStep(ctx, "record_payment", result);
  }
  return paymentStep(ctx, result);
}

async function recordRefund(
  ctx: RoundContext,
  reservationId: string,
  refund: PendingPayment,
  sending: GuestlyStatus,
): Promise<Step | null> {
  const { deps } = ctx;
  const read = await readPayments(ctx, reservationId);
  if (!Array.isArray(read)) return read;
  const paymentId = findRecordedPayment(read, refundedPaymentReference(refund.reference));
  if (!paymentId) {
    return {
      kind: "permanent",
      error: `a refund of ${refundedPaymentReference(refund.reference)} cannot be recorded: ` +
        "Guestly shows no payment of it on the reservation",
    };
  }
  if (refundRecorded(read, paymentId, refund.reference)) {
    return await settle(ctx, refund, "recorded", paymentId, "found_after_unknown");
  }
  const result = await attempt(
    ctx,
    "record_payment",
    (options) =>
      deps.guestly.recordRefund(reservationId, paymentId, mapRefundToGuestly(refund), options),
    sending,
  );
  if (result.outcome === "success") {
    return await settle(ctx, refund, "recorded", paymentId, "recorded");
  }
  if (result.outcome === "unknown") {
    return await settle(ctx, refund, "unknown", null) ?? toStep(ctx, "record_payment", result);
  }
  return paymentStep(ctx, result);
}

/** The reservation's payments as Guestly shows them, or the step that ends the round. */
async function readPayments(ctx: RoundContext, reservationId: string): Promise<unknown[] | Step> {
  const read = await attempt(
    ctx,
    "get_reservation",
    (options) => ctx.deps.guestly.getReservation(reservationId, options),
  );
  if (read.outcome !== "success") return toStep(ctx, "get_reservation", read);
  return read.data?.money?.payments ?? [];
}

/**
 * Writes a payment row's outcome. `recorded` → null (go on); `unknown` → null too, the caller
 * ends the round; a lost lease → its step.
 */
async function settle(
  ctx: RoundContext,
  payment: PendingPayment,
  outcome: "recorded" | "unknown",
  guestlyPaymentId: string | null,
  event?: "recorded" | "found_after_unknown",
): Promise<Step | null> {
  const { booking, deps, leaseId } = ctx;
  const held = await deps.store.recordPaymentOutcome(
    booking.id,
    leaseId,
    payment.id,
    outcome,
    guestlyPaymentId,
  );
  if (!held) return { kind: "lease_lost" };
  if (event) {
    deps.log[event === "recorded" ? "info" : "warn"](`guestly.payment.${event}`, {
      booking_id: booking.id,
      payment_id: payment.id,
      kind: payment.kind,
    });
  }
  return null;
}
