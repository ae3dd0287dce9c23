// Money that arrives before its booking is known (issue 24, item 1), through the real
// stripe-webhook, the database, the sync and the Guestly sandbox: the PaymentIntent event names
// no booking (payment_unmatched), the admin refunds it (refund_unmatched), then Stripe's retry of
// the Checkout event names the booking. Guestly must end with the money Stripe holds, and the
// admin is told once what was applied.
import assert from "node:assert/strict";
import { booking, connect, insertBooking, mail, sandbox, waitFor } from "./harness.ts";
import { stripeEvent, uniqueId } from "../fixtures/stripe/events.ts";
import { dbTest, deliver, minutesAgo, newBooking, paid } from "./stripe_helpers.ts";

type Email = { subject: string; text: string; idempotencyKey: string };

async function alerts(where: { eventId?: string; bookingId?: string; kind: string }) {
  const admin = connect(true);
  try {
    return await admin`
      select id, kind, booking_id, details from guestly.admin_alerts
       where kind = ${where.kind}
         and (${where.eventId ?? null}::text is null or details ->> 'event_id' = ${
      where.eventId ?? null
    })
         and (${where.bookingId ?? null}::uuid is null or booking_id = ${where.bookingId ?? null})
       order by created_at`;
  } finally {
    await admin.end();
  }
}

async function emailOf(alertId: string): Promise<Email> {
  const [email] = await waitFor(`the email of alert ${alertId}`, async () => {
    const found = (await mail.messages() as unknown as Email[]).filter((m) =>
      m.idempotencyKey === alertId
    );
    return found.length ? found : null;
  });
  return email;
}

/** The payment and the refund, both unmatched (Stripe's Checkout event has not arrived yet). */
async function paidThenRefundedUnmatched(amountRefunded: number) {
  const pi = uniqueId("pi");
  const intent = paid(crypto.randomUUID(), {
    bookingId: null,
    paymentIntentId: pi,
    created: minutesAgo(40),
  });
  assert.equal((await deliver(intent)).body.outcome, "unmatched");
  const [unmatchedPayment] = await alerts({ eventId: intent.id, kind: "payment_unmatched" });
  assert.ok(unmatchedPayment, "the admin is told the payment matches no booking");

  const refund = stripeEvent("charge.refunded", {
    bookingId: null,
    amount: 45000,
    amountRefunded,
    currency: "usd",
    paymentIntentId: pi,
    created: minutesAgo(20),
  });
  const answer = await deliver(refund);
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.body.outcome, "unmatched");
  const [unmatchedRefund] = await alerts({ eventId: refund.id, kind: "refund_unmatched" });
  assert.ok(unmatchedRefund, "the unmatched refund alerts");
  assert.match((await emailOf(unmatchedRefund.id)).subject, /^Refund not matched to any booking: /);
  return { pi, refund };
}

function lateCheckout(bookingId: string, pi: string) {
  return stripeEvent("checkout.session.completed", {
    bookingId,
    amount: 45000,
    currency: "usd",
    paymentIntentId: pi,
    created: minutesAgo(60),
  });
}

dbTest(
  "a partial refund made before the payment was matched reaches Guestly with the payment",
  async (sql) => {
    const id = await insertBooking(sql, newBooking());
    const { pi, refund } = await paidThenRefundedUnmatched(10000);
    const listed = () =>
      sql`select outcome from public.stripe_events_needing_attention where event_id = ${refund.id}`;
    assert.deepEqual((await listed()).map((r) => r.outcome), ["unmatched"]);

    const answer = await deliver(lateCheckout(id, pi));
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.outcome, "confirmed");
    assert.equal((await booking(sql, id)).status, "confirmed");
    assert.deepEqual((await listed()).map((r) => r.outcome), ["partial_refund"]);

    // Guestly: the reservation, its payment of 450 and the refund of 100 — 350 paid.
    const reservation = await waitFor(
      "the payment and the refund in Guestly",
      async () => {
        const [found] = await sandbox.reservationsFor(id) as Array<
          { status: string; money?: { totalPaid: number } }
        >;
        return found?.money?.totalPaid === 350 ? found : null;
      },
      20_000,
      200,
    );
    assert.equal(reservation.status, "confirmed");

    const [late] = await alerts({ bookingId: id, kind: "money_matched_late" });
    assert.ok(late, "one money_matched_late alert");
    const email = await emailOf(late.id);
    assert.match(
      email.subject,
      /^Matched late, partly refunded: .*\(\$450\.00 USD paid, \$100\.00 USD refunded\)$/,
    );
    assert.equal((await alerts({ bookingId: id, kind: "money_matched_late" })).length, 1);
  },
);

dbTest(
  "a payment refunded in full before it was matched never becomes a paid stay in Guestly",
  async (sql) => {
    const id = await insertBooking(sql, newBooking());
    const { pi } = await paidThenRefundedUnmatched(45000);

    const answer = await deliver(lateCheckout(id, pi));
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.outcome, "confirmed");
    const row = await booking(sql, id);
    assert.equal(row.status, "refunded", "the refund made before the match is applied");

    const [late] = await alerts({ bookingId: id, kind: "money_matched_late" });
    assert.ok(late, "the admin is told");
    const email = await emailOf(late.id);
    assert.match(email.subject, /^Refunded before it was matched: .* is now refunded /);
    assert.match(email.text, /Contact them/);

    // Let the sync run: nothing live in Guestly for this booking, and no money on a live stay.
    await waitFor(
      "the sync to finish",
      async () => {
        const b = await booking(sql, id);
        return b.guestly_sync_status === "synced" ? b : null;
      },
      20_000,
      200,
    );
    const reservations = await sandbox.reservationsFor(id) as Array<{ status: string }>;
    assert.ok(
      reservations.every((r) => r.status === "canceled"),
      `no live reservation: ${JSON.stringify(reservations.map((r) => r.status))}`,
    );
  },
);

dbTest(
  "confirmed by hand after payment_unmatched: the payment and its partial refund reach Guestly",
  async (sql) => {
    const id = await insertBooking(sql, newBooking());
    const { pi } = await paidThenRefundedUnmatched(5000);
    // The admin, told the payment matches no booking, finds its booking and confirms it by hand.
    await sql`update public.bookings set status = 'confirmed', stripe_payment_intent_id = ${pi}
               where id = ${id}`;
    const reservation = await waitFor(
      "the payment less the refund in Guestly",
      async () => {
        const [found] = await sandbox.reservationsFor(id) as Array<
          { status: string; money?: { totalPaid: number } }
        >;
        return found?.money?.totalPaid === 400 ? found : null;
      },
      20_000,
      200,
    );
    assert.equal(reservation.status, "confirmed");
    const [late] = await alerts({ bookingId: id, kind: "money_matched_late" });
    assert.equal(late?.details.matched_by, "booking_update");

    // Stripe's late Checkout event is the booking's own payment: no duplicate alert, no second
    // payment in Guestly.
    const answer = await deliver(lateCheckout(id, pi));
    assert.equal(answer.body.outcome, "confirmed");
    assert.equal((await alerts({ bookingId: id, kind: "duplicate_payment" })).length, 0);
    const [after] = await sandbox.reservationsFor(id) as Array<{ money?: { totalPaid: number } }>;
    assert.equal(after?.money?.totalPaid, 400);
  },
);

dbTest(
  "confirmed by hand without the payment intent: the late Checkout payment is its payment, in Guestly",
  async (sql) => {
    const id = await insertBooking(sql, newBooking());
    await sql`update public.bookings set status = 'confirmed' where id = ${id}`;
    const pi = uniqueId("pi");
    const answer = await deliver(lateCheckout(id, pi));
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.outcome, "confirmed", "not a duplicate_payment");
    assert.equal((await alerts({ bookingId: id, kind: "duplicate_payment" })).length, 0);
    assert.equal((await booking(sql, id)).stripe_payment_intent_id, pi);
    await waitFor(
      "the payment in Guestly",
      async () => {
        const [found] = await sandbox.reservationsFor(id) as Array<
          { money?: { totalPaid: number } }
        >;
        return found?.money?.totalPaid === 450 ? found : null;
      },
      20_000,
      200,
    );
  },
);
