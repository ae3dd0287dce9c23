// Money cases of the Stripe webhook (issue 11, part 4) through the gateway against the real
// database and the mail catcher: each → one alert, its email, nothing doubled when Stripe
// delivers the same event again.
import assert from "node:assert/strict";
import { booking, connect, insertBooking, mail, sandbox, waitFor } from "./harness.ts";
import { stripeEvent, uniqueId } from "../fixtures/stripe/events.ts";
import { dbTest, deliver, ledger, minutesAgo, newBooking, paid } from "./stripe_helpers.ts";

type Email = { id: string; subject: string; text: string; html: string; idempotencyKey: string };

/** Every alert written for this Stripe event (money alerts carry the event id). */
async function alertsForEvent(eventId: string) {
  const admin = connect(true);
  try {
    return await admin`
      select id, kind, booking_id, details from guestly.admin_alerts
       where details ->> 'event_id' = ${eventId} order by created_at`;
  } finally {
    await admin.end();
  }
}

async function emailsFor(alertId: string): Promise<Email[]> {
  return (await mail.messages() as unknown as Email[]).filter((m) => m.idempotencyKey === alertId);
}

/** The one alert of `kind` for this event, and its one email (waits for notify-admin). */
async function oneAlertEmailed(eventId: string, kind: string) {
  const alerts = await alertsForEvent(eventId);
  assert.deepEqual(alerts.map((a) => a.kind), [kind], `one ${kind} alert for ${eventId}`);
  const [email] = await waitFor(`the ${kind} email`, async () => {
    const found = await emailsFor(alerts[0].id);
    return found.length ? found : null;
  });
  return { alert: alerts[0], email };
}

/** Stripe delivers `payload` again: a duplicate, and still one alert and one email. */
async function redeliverChangesNothing(payload: string, eventId: string, alertId: string) {
  const again = await deliver(payload, { timestamp: Math.floor(Date.now() / 1000) + 5 });
  assert.equal(again.status, 200, again.text);
  assert.equal(again.body.duplicate, true);
  const sql = connect();
  try {
    await sql`select guestly.wake_notify_admin()`;
  } finally {
    await sql.end();
  }
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal((await alertsForEvent(eventId)).length, 1, "no second alert");
  assert.equal((await emailsFor(alertId)).length, 1, "no second email");
}

function assertMentions(email: Email, fields: string[]) {
  for (const field of fields) {
    assert.ok(email.text.includes(field), `text lacks ${field}`);
    assert.ok(email.html.includes(field), `html lacks ${field}`);
  }
}

dbTest(
  "unmatched payment inside the grace window → 503, nothing recorded; the redelivery after the booking committed confirms it",
  async (sql) => {
    // The website's booking row is not committed yet when Stripe's first delivery arrives.
    const id = crypto.randomUUID();
    const event = paid(id);
    const payload = JSON.stringify(event);
    const early = await deliver(payload);
    assert.equal(early.status, 503, early.text);
    assert.equal(early.body.outcome, "deferred");
    assert.match(String(early.body.error), /no booking matches this payment yet/);
    assert.equal((await ledger(sql, event.id)).length, 0, "nothing recorded");
    assert.equal((await alertsForEvent(event.id)).length, 0, "nobody alerted yet");

    const b = newBooking();
    await sql`
      insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
        check_in, check_out, guests_count, amount_total, currency)
      values (${id}, '0b0e7f3a-0000-4000-8000-000000000001', 'Late', 'Commit',
        'late-commit@example.com', ${b.checkIn!}, ${b.checkOut!}, 2, 45000, 'usd')`;
    const retry = await deliver(payload, { timestamp: Math.floor(Date.now() / 1000) + 5 });
    assert.equal(retry.status, 200, retry.text);
    assert.deepEqual(retry.body, { received: true, outcome: "confirmed", duplicate: false });
    assert.equal((await booking(sql, id)).status, "confirmed");
    assert.equal((await alertsForEvent(event.id)).length, 0, "no alert for a payment applied");
  },
);

dbTest(
  "unmatched payment after the grace window → payment_unmatched alert and email, once",
  async (sql) => {
    const event = paid(crypto.randomUUID(), { bookingId: "BK-not-ours", created: minutesAgo(11) });
    const payload = JSON.stringify(event);
    const answer = await deliver(payload);
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.outcome, "unmatched");
    const { alert, email } = await oneAlertEmailed(event.id, "payment_unmatched");
    assert.equal(alert.booking_id, null);
    assert.match(email.subject, /^Payment not matched to any booking: \$450\.00 USD \(pi_test_/);
    assertMentions(email, [
      event.id,
      event.data.object.id,
      "$450.00",
      "BK-not-ours",
      `https://dashboard.stripe.com/test/payments/${event.data.object.id}`,
    ]);
    await redeliverChangesNothing(payload, event.id, alert.id);
    assert.equal((await ledger(sql, event.id)).length, 1);
  },
);

dbTest(
  "an unmatched PaymentIntent event is not listed once its Checkout session confirmed the booking",
  async (sql) => {
    const id = await insertBooking(sql, newBooking());
    const pi = uniqueId("pi");
    const intent = paid(id, { bookingId: null, paymentIntentId: pi, created: minutesAgo(30) });
    assert.equal((await deliver(intent)).body.outcome, "unmatched");
    const listed = () =>
      sql`select 1 from public.stripe_events_needing_attention where event_id = ${intent.id}`;
    assert.equal((await listed()).length, 1, "listed while nobody has the payment");

    const session = stripeEvent("checkout.session.completed", {
      bookingId: id,
      amount: 45000,
      currency: "usd",
      paymentIntentId: pi,
      created: minutesAgo(30),
    });
    assert.equal((await deliver(session)).body.outcome, "confirmed");
    assert.equal((await listed()).length, 0, "not listed once the payment confirmed the booking");
  },
);

dbTest("a payment for a cancelled booking → one alert and email; stays cancelled", async (sql) => {
  const id = await insertBooking(sql, newBooking({ lastName: "Cancelled" }));
  await sql`update public.bookings set status = 'cancelled' where id = ${id}`;
  const pi = uniqueId("pi");
  const event = paid(id, { paymentIntentId: pi });
  const payload = JSON.stringify(event);
  const answer = await deliver(payload);
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.body.outcome, "payment_for_cancelled_booking");
  assert.equal((await booking(sql, id)).status, "cancelled");

  const { alert, email } = await oneAlertEmailed(event.id, "payment_for_cancelled_booking");
  assert.equal(alert.booking_id, id);
  assert.match(email.subject, /^Payment for a cancelled booking: booking /);
  assertMentions(email, [id, pi, "$450.00", "Cancelled", "Refund this payment"]);
  await redeliverChangesNothing(payload, event.id, alert.id);

  // The Checkout event of the same payment: same outcome, no second alert.
  const session = stripeEvent("checkout.session.completed", {
    bookingId: id,
    amount: 45000,
    currency: "usd",
    paymentIntentId: pi,
  });
  assert.equal((await deliver(session)).body.outcome, "payment_for_cancelled_booking");
  assert.equal((await alertsForEvent(session.id)).length, 0);
});

dbTest(
  "a second, different payment for a paid booking → one duplicate_payment alert",
  async (sql) => {
    const id = await insertBooking(sql, newBooking());
    const first = uniqueId("pi");
    assert.equal((await deliver(paid(id, { paymentIntentId: first }))).body.outcome, "confirmed");
    const second = paid(id, { paymentIntentId: uniqueId("pi") });
    const payload = JSON.stringify(second);
    const answer = await deliver(payload);
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.outcome, "duplicate_payment");
    const row = await booking(sql, id);
    assert.equal(row.status, "confirmed");
    assert.equal(row.stripe_payment_intent_id, first, "the booking keeps its first payment");

    const { alert, email } = await oneAlertEmailed(second.id, "duplicate_payment");
    assert.match(email.subject, /^Second payment for booking /);
    assertMentions(email, [id, first, second.data.object.id, "refund the second one"]);
    await redeliverChangesNothing(payload, second.id, alert.id);
  },
);

dbTest(
  "charge.dispute.created → payment_disputed alert with amount and reason; booking unchanged",
  async (sql) => {
    const id = await insertBooking(sql, newBooking());
    const pi = uniqueId("pi");
    await deliver(paid(id, { paymentIntentId: pi }));
    const dispute = stripeEvent("charge.dispute.created", {
      paymentIntentId: pi,
      amount: 45000,
      reason: "product_not_received",
    });
    const payload = JSON.stringify(dispute);
    const answer = await deliver(payload);
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.body, { received: true, outcome: "disputed", duplicate: false });
    assert.equal((await booking(sql, id)).status, "confirmed");
    const [entry] = await ledger(sql, dispute.id);
    assert.equal(entry.booking_id, id, "found by its PaymentIntent");

    const { alert, email } = await oneAlertEmailed(dispute.id, "payment_disputed");
    assert.equal(alert.details.dispute_reason, "product_not_received");
    assert.equal(alert.details.amount, 45000);
    assert.match(
      email.subject,
      /^Payment disputed: booking .*\(\$450\.00 USD, reason: product_not_received\)$/,
    );
    assertMentions(email, [
      id,
      dispute.data.object.id,
      "product_not_received",
      "$450.00",
      "2025-12-06 23:59:59 UTC",
      `https://dashboard.stripe.com/test/disputes/${dispute.data.object.id}`,
    ]);
    await redeliverChangesNothing(payload, dispute.id, alert.id);
  },
);

dbTest(
  "partial refund → partial_refund alert; booking stays confirmed and its reservation live",
  async (sql) => {
    const id = await insertBooking(sql, newBooking());
    const pi = uniqueId("pi");
    await deliver(paid(id, { paymentIntentId: pi }));
    await waitFor(
      "the Guestly reservation",
      async () => {
        const row = await booking(sql, id);
        return row.guestly_sync_status === "synced" && row.guestly_reservation_id;
      },
      10_000,
      200,
    );

    const refund = stripeEvent("charge.refunded", {
      bookingId: id,
      amount: 45000,
      amountRefunded: 15000,
      currency: "usd",
      paymentIntentId: pi,
    });
    const payload = JSON.stringify(refund);
    assert.equal((await deliver(payload)).body.outcome, "partial_refund");
    const { alert, email } = await oneAlertEmailed(refund.id, "partial_refund");
    assert.equal(alert.booking_id, id);
    assert.match(email.subject, /\(\$150\.00 USD of \$450\.00 USD refunded\)$/);
    assertMentions(email, [id, pi, "$150.00", "$450.00", refund.data.object.id]);
    await redeliverChangesNothing(payload, refund.id, alert.id);

    const row = await booking(sql, id);
    assert.equal(row.status, "confirmed");
    // Guestly is told the refund (its balance), and nothing else: the stay goes on.
    const reservation = await waitFor(
      "the refund in Guestly",
      async () => {
        const [found] = await sandbox.reservationsFor(id) as Array<
          { status: string; money?: { totalPaid: number } }
        >;
        return found?.money?.totalPaid === 300 ? found : null;
      },
      15_000,
      200,
    );
    assert.equal(reservation.status, "confirmed", "the reservation is not cancelled");
    assert.equal((await booking(sql, id)).status, "confirmed");
  },
);

dbTest(
  "a Checkout session with payment_status no_payment_required (100 % coupon) confirms the booking",
  async (sql) => {
    const id = await insertBooking(sql, newBooking({ amount: 45000 }));
    const event = stripeEvent("checkout.session.completed", {
      bookingId: id,
      amount: 0,
      currency: "usd",
      paymentStatus: "no_payment_required",
    });
    event.data.object.payment_intent = null;
    // Stripe's totals of a 100 % coupon: the price before the discount, all of it forgiven.
    event.data.object.amount_subtotal = 45000;
    event.data.object.total_details = { amount_discount: 45000, amount_shipping: 0, amount_tax: 0 };
    const answer = await deliver(event);
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.body, { received: true, outcome: "confirmed", duplicate: false });
    const row = await booking(sql, id);
    assert.equal(row.status, "confirmed");
    assert.equal(row.stripe_payment_intent_id, null);
    assert.equal((await alertsForEvent(event.id)).length, 0);
    await waitFor(
      "the Guestly reservation",
      async () => {
        const found = await sandbox.reservationsFor(id);
        return found.length === 1 ? found : null;
      },
      10_000,
      200,
    );
  },
);

dbTest(
  "a Checkout that collected nothing but forgave nothing (setup mode) confirms nothing: an amount alert",
  async (sql) => {
    const id = await insertBooking(sql, newBooking({ amount: 200000 }));
    const event = stripeEvent("checkout.session.completed", {
      bookingId: id,
      amount: 0,
      currency: "usd",
      paymentStatus: "no_payment_required",
    });
    event.data.object.payment_intent = null;
    const answer = await deliver(event);
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.outcome, "amount_mismatch");
    assert.equal(
      (await booking(sql, id)).status,
      "pending_payment",
      "a €2,000 stay is not given away",
    );
    const { email } = await oneAlertEmailed(event.id, "payment_mismatch");
    assert.match(email.text, /2,000\.00/);
  },
);

dbTest("a live-mode event on this test-mode deployment → 400, nothing recorded", async (sql) => {
  const id = await insertBooking(sql, newBooking());
  const event = paid(id, { livemode: true });
  const answer = await deliver(event);
  assert.equal(answer.status, 400, answer.text);
  assert.match(
    String(answer.body.error),
    /livemode mismatch: event evt_\S+ is a live-mode event, but this endpoint runs in test mode/,
  );
  assert.equal((await ledger(sql, event.id)).length, 0);
  assert.equal((await booking(sql, id)).status, "pending_payment");
});
