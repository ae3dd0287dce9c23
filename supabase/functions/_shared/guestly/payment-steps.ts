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
import type { GuestlyStatus, PendingPayment } from "./schemas.ts";
import { attempt, now, type RoundContext, settledAt, type Step, toStep } from "./round.ts";

export function pendingPayments(ctx: RoundContext): PendingPayment[] {
  const all = ctx.booking.guestly_pending_payments ?? [];
  return all.filter((payment) => !ctx.state.recordedPayments.has(payment.id));
}

/** Records every pending payment and refund of the booking, oldest first. */
export async function recordPayments(
  ctx: RoundContext,
  reservationId: string,
  sending: GuestlyStatus,
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
  return { kind: "done", reservationId };
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
  return await send(
    ctx,
    payment,
    (options) => deps.guestly.recordPayment(reservationId, record, options),
    sending,
    (data) => findRecordedPayment(Array.isArray(data) ? data : [], payment.reference),
  );
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
  return await send(
    ctx,
    refund,
    (options) =>
      deps.guestly.recordRefund(reservationId, paymentId, mapRefundToGuestly(refund), options),
    sending,
    () => paymentId,
  );
}

/**
 * Sends one payment or refund record. Written ahead as `sending`, so an invocation that dies
 * before it learns the answer leaves the next one a lookup, never a second record. A 404 is
 * Guesty's race between a new reservation and its payment, which may lose the record or keep
 * it: an unknown outcome too.
 */
async function send(
  ctx: RoundContext,
  payment: PendingPayment,
  call: Parameters<typeof attempt<unknown>>[2],
  sending: GuestlyStatus,
  guestlyId: (data: unknown) => string | null,
): Promise<Step | null> {
  const ahead = await settle(ctx, payment, "sending", null);
  if (ahead) return ahead;
  const result = await attempt(ctx, "record_payment", call, sending);
  if (result.outcome === "success") {
    return await settle(ctx, payment, "recorded", guestlyId(result.data), "recorded");
  }
  if (
    result.outcome === "unknown" || (result.outcome === "permanent" && result.httpStatus === 404)
  ) {
    return await settle(ctx, payment, "unknown", null) ??
      { kind: "unknown", error: result.error ?? `Guestly HTTP ${result.httpStatus}` };
  }
  // Definite: nothing reached Guestly (refused, rate limited, not sent at all).
  return await settle(ctx, payment, "not_sent", null) ?? toStep(ctx, "record_payment", result);
}

/** The reservation's payments as Guestly shows them, or the step that ends the round. */
async function readPayments(ctx: RoundContext, reservationId: string): Promise<unknown[] | Step> {
  const read = await attempt(
    ctx,
    "get_reservation",
    (options) => ctx.deps.guestly.getReservation(reservationId, options),
  );
  if (read.outcome !== "success") return toStep(ctx, "get_reservation", read);
  const payments = read.data?.money?.payments;
  // Absent is not "none": a Guestly that does not show payments here cannot tell us whether
  // an earlier record landed, and sending it again could record it twice.
  if (!Array.isArray(payments)) {
    return {
      kind: "permanent",
      error: `Guestly reservation ${reservationId} shows no payments list: cannot tell whether ` +
        "a payment or refund was already recorded; check it in Guestly, record it by hand if " +
        "missing, then retry",
    };
  }
  return payments;
}

/**
 * Writes a payment row's outcome. `recorded` → null (go on); `unknown` → null too, the caller
 * ends the round; a lost lease → its step.
 */
async function settle(
  ctx: RoundContext,
  payment: PendingPayment,
  outcome: "sending" | "recorded" | "unknown" | "not_sent",
  guestlyPaymentId: string | null,
  event?: "recorded" | "found_after_unknown",
): Promise<Step | null> {
  const { booking, deps, leaseId } = ctx;
  // The round records money only on the booking's reservation as claimed (recordPayments gets
  // it): if that was replaced meanwhile, the outcome is refused and the row stays due.
  const held = await deps.store.recordPaymentOutcome(
    booking.id,
    leaseId,
    payment.id,
    outcome,
    guestlyPaymentId,
    booking.guestly_reservation_id,
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
