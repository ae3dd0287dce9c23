// The money step of a round: payments and refunds Stripe reported (guestly.payments) are
// recorded on the reservation, each exactly once. Recording is not idempotent in Guestly, so a
// request with an unknown outcome is looked up, after the settle delay, before it is ever sent
// again — by what Guesty's definition declares of a reservation's payments (amount, time, their
// refunds and those refunds' amounts; mapping.ts matchPayments, refundLanded), never by the note
// we send. A refund is always
// recorded on the payment it gives money back from, which the reservation is read for first (so
// its lookup comes for free).
import {
  mapPaymentToGuestly,
  mapRefundToGuestly,
  matchPayments,
  refundedPaymentReference,
  refundLanded,
} from "./mapping.ts";
import type { GuestlyStatus, MoneyRow, PendingPayment } from "./schemas.ts";
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
    const found = matchPayments(read, [...recordedRows(ctx, "payment"), moneyRow(ctx, payment)])
      .get(payment.id);
    if (found) return await settle(ctx, payment, "recorded", found, "found_after_unknown");
  }
  const record = mapPaymentToGuestly(payment, new Date(now(deps)));
  return await send(
    ctx,
    payment,
    (options) => deps.guestly.recordPayment(reservationId, record, options),
    sending,
    // Guesty answers with the payment provider, not the payment: its id is matched when needed.
    () => null,
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
  const paymentReference = refundedPaymentReference(refund.reference);
  const refunded = recordedRows(ctx, "payment").find((row) => row.reference === paymentReference);
  const paymentId = refunded
    ? matchPayments(read, recordedRows(ctx, "payment")).get(refunded.id)
    : undefined;
  if (!paymentId) {
    return {
      kind: "permanent",
      error: `a refund of ${paymentReference} cannot be recorded: ` +
        "Guestly shows no payment of it on the reservation",
    };
  }
  const refundsRecorded = recordedRows(ctx, "refund")
    .filter((row) => refundedPaymentReference(row.reference) === paymentReference)
    .map((row) => row.amount);
  const landed = refund.unknown_at
    ? refundLanded(read, paymentId, refundsRecorded, refund.amount, refund.currency)
    : "not_landed";
  if (landed === "landed") {
    return await settle(ctx, refund, "recorded", paymentId, "found_after_unknown");
  }
  if (landed === "ambiguous") {
    // Sending again could refund twice in Guestly's books; not sending could miss ours.
    return {
      kind: "permanent",
      error: `cannot tell whether the refund ${refund.reference} (answer lost) landed: ` +
        `Guestly shows more refunds on payment ${paymentId} than we recorded, without their ` +
        "amounts: check the payment's refunds in Guestly (a host's own refund, or ours)",
    };
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
 * The booking's payments or refunds already in Guestly (recorded before this round or in it), in
 * the order they were recorded (guestly.money_rows).
 */
function recordedRows(ctx: RoundContext, kind: MoneyRow["kind"]): MoneyRow[] {
  return (ctx.booking.guestly_money ?? []).filter((row) =>
    row.kind === kind &&
    (row.status === "recorded" || ctx.state.recordedPayments.has(row.id))
  );
}

/**
 * The money row of a pending payment. A claim without guestly_money does not say when Stripe
 * reported it: then no payment counts as too old to be it.
 */
function moneyRow(ctx: RoundContext, payment: PendingPayment): MoneyRow {
  const { unknown_at: _, ...rest } = payment;
  return (ctx.booking.guestly_money ?? []).find((row) => row.id === payment.id) ??
    { ...rest, status: "pending", guestly_payment_id: null, created_at: new Date(0).toISOString() };
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
