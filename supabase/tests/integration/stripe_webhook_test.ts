// stripe-webhook through the functions gateway against the real database, the booking trigger,
// pg_net, guestly-sync and the Guestly sandbox. Each test makes its own bookings and events and
// asserts only on them: other people run tests against the same stack at the same time.
import assert from "node:assert/strict";
import postgres from "postgres";
import {
  booking,
  connect,
  insertBooking,
  mail,
  type NewBooking,
  nextStay,
  sandbox,
  stack,
  waitFor,
} from "./harness.ts";
import { signatureFor, stripeEvent, stripeRequest, uniqueId } from "../fixtures/stripe/events.ts";
import { createStripeWebhookHandler } from "../../functions/_shared/stripe/webhook-handler.ts";
import { postgresRecorder } from "../../functions/_shared/stripe/recorder.ts";
import { memoryLogger } from "../../functions/_shared/log.ts";

const URL_ = `${stack.functionsUrl}/stripe-webhook`;
const SECRET = stack.stripeWebhookSecret;
const opts = { sanitizeResources: false, sanitizeOps: false };

/** A test with its own connection (as `postgres`, like the functions), closed afterwards. */
function dbTest(name: string, fn: (sql: postgres.Sql) => Promise<void>) {
  Deno.test(name, opts, async () => {
    const sql = connect();
    try {
      await fn(sql);
    } finally {
      await sql.end();
    }
  });
}

async function deliver(
  event: Record<string, unknown> | string,
  options: { secret?: string; timestamp?: number; signature?: string | null } = {},
) {
  const request = await stripeRequest(URL_, event, options.secret ?? SECRET, options);
  const response = await fetch(request);
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text);
  } catch { /* keep {} */ }
  return { status: response.status, body, text };
}

async function ledger(sql: postgres.Sql, eventId: string) {
  return await sql`select * from payments.stripe_events where id = ${eventId}`;
}

/** Unique dates per booking, so no two test bookings compete for the same nights. */
function newBooking(overrides: NewBooking = {}): NewBooking {
  return {
    ...nextStay(3),
    amount: 45000,
    currency: "usd",
    ...overrides,
  };
}

/** Epoch seconds, `n` minutes ago: event.created of an event Stripe redelivers after a while. */
function minutesAgo(n: number): number {
  return Math.floor(Date.now() / 1000) - n * 60;
}

function paid(bookingId: string, overrides: Parameters<typeof stripeEvent>[1] = {}) {
  return stripeEvent("payment_intent.succeeded", {
    bookingId,
    amount: 45000,
    currency: "usd",
    paymentIntentId: uniqueId("pi"),
    ...overrides,
  });
}

dbTest(
  "payment_intent.succeeded confirms the booking, and exactly one Guestly reservation follows",
  async (sql) => {
    const id = await insertBooking(sql, newBooking());
    const event = paid(id);
    const answer = await deliver(event);
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.body, { received: true, outcome: "confirmed", duplicate: false });

    const row = await booking(sql, id);
    assert.equal(row.status, "confirmed");
    assert.equal(row.stripe_payment_intent_id, event.data.object.id);

    const [entry] = await ledger(sql, event.id);
    assert.equal(entry.outcome, "confirmed");
    assert.equal(entry.booking_id, id);
    assert.equal(entry.type, "payment_intent.succeeded");
    assert.equal(entry.payment_intent_id, event.data.object.id);
    assert.equal(Number(entry.amount), 45000);
    assert.equal(entry.currency, "usd");
    assert.equal(entry.created.getTime(), event.created * 1000);
    assert.equal(entry.livemode, false);
    assert.equal(entry.payload.id, event.id, "the event is stored as jsonb");
    assert.ok(entry.processed_at instanceof Date);
    assert.equal(entry.error, null);

    // End to end: the status change fired the trigger, pg_net called guestly-sync.
    const reservations = await waitFor(
      "the Guestly reservation",
      async () => {
        const found = await sandbox.reservationsFor(id);
        return found.length > 0 ? found : null;
      },
      10_000,
      200,
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal((await sandbox.reservationsFor(id)).length, 1, "exactly one reservation");
    assert.equal(reservations[0].status, "confirmed");
  },
);

dbTest(
  "checkout.session.completed (paid) confirms the booking named by client_reference_id",
  async (sql) => {
    const id = await insertBooking(sql, newBooking({ amount: 12345, currency: "eur" }));
    const event = stripeEvent("checkout.session.completed", {
      bookingId: id,
      amount: 12345,
      currency: "eur",
      paymentIntentId: uniqueId("pi"),
    });
    event.data.object.metadata = {};
    const answer = await deliver(event);
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.outcome, "confirmed");
    const row = await booking(sql, id);
    assert.equal(row.status, "confirmed");
    assert.equal(row.stripe_payment_intent_id, event.data.object.payment_intent);
  },
);

Deno.test(
  "a duplicate delivery answers 200 and changes nothing; one ledger row",
  opts,
  async () => {
    const sql = connect();
    const admin = connect(true);
    try {
      const id = await insertBooking(sql, newBooking());
      const event = paid(id);
      const payload = JSON.stringify(event);
      assert.equal((await deliver(payload)).body.duplicate, false);
      const before = await booking(sql, id);
      const [entryBefore] = await ledger(sql, event.id);

      // Stripe's retry: the same body, signed again a little later.
      const again = await deliver(payload, { timestamp: Math.floor(Date.now() / 1000) + 5 });
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(again.body, { received: true, outcome: "confirmed", duplicate: true });

      const after = await booking(sql, id);
      assert.equal(after.status, before.status);
      assert.equal(after.stripe_payment_intent_id, before.stripe_payment_intent_id);
      const entries = await ledger(sql, event.id);
      assert.equal(entries.length, 1);
      assert.equal(entries[0].processed_at.getTime(), entryBefore.processed_at.getTime());

      // A duplicate of an event with side effects repeats none of them: still one alert.
      const other = await insertBooking(sql, newBooking());
      const mismatch = JSON.stringify(paid(other, { amount: 1 }));
      assert.equal((await deliver(mismatch)).body.outcome, "amount_mismatch");
      const repeat = await deliver(mismatch);
      assert.deepEqual(repeat.body, {
        received: true,
        outcome: "amount_mismatch",
        duplicate: true,
      });
      const [{ count }] = await admin`
      select count(*)::int from guestly.admin_alerts where booking_id = ${other}`;
      assert.equal(count, 1);
    } finally {
      await sql.end();
      await admin.end();
    }
  },
);

dbTest(
  "out of order: a refund before the older success leaves the booking refunded",
  async (sql) => {
    const id = await insertBooking(sql, newBooking());
    const pi = uniqueId("pi");
    const now = Math.floor(Date.now() / 1000);
    const success = paid(id, { paymentIntentId: pi, created: now - 120 });
    const refund = stripeEvent("charge.refunded", {
      bookingId: id,
      amount: 45000,
      currency: "usd",
      paymentIntentId: pi,
      created: now - 60,
    });

    const first = await deliver(refund);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.outcome, "refunded");
    const late = await deliver(success);
    assert.equal(late.status, 200, late.text);
    assert.equal(late.body.outcome, "stale");

    assert.equal((await booking(sql, id)).status, "refunded");
    const [entry] = await ledger(sql, success.id);
    assert.equal(entry.outcome, "stale");
    assert.equal(entry.booking_id, id);
    assert.match(entry.error, /refunded/);
    // Refunded before it ever reached Guestly: nothing is created there just to cancel it.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal((await sandbox.reservationsFor(id)).length, 0);
  },
);

Deno.test(
  "amount mismatch: not confirmed, ledger amount_mismatch, one payment_mismatch alert",
  opts,
  async () => {
    const sql = connect();
    const admin = connect(true);
    try {
      const id = await insertBooking(sql, newBooking({ amount: 45000, currency: "usd" }));
      const event = paid(id, { amount: 4500 });
      const answer = await deliver(event);
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.body.outcome, "amount_mismatch");

      const row = await booking(sql, id);
      assert.equal(row.status, "pending_payment");
      assert.equal(row.stripe_payment_intent_id, null);
      const [entry] = await ledger(sql, event.id);
      assert.equal(entry.outcome, "amount_mismatch");
      assert.equal(entry.booking_id, id);

      const alerts = await admin`
      select kind, details from guestly.admin_alerts where booking_id = ${id}`;
      assert.equal(alerts.length, 1);
      assert.equal(alerts[0].kind, "payment_mismatch");
      assert.deepEqual(
        {
          event_id: alerts[0].details.event_id,
          expected_amount: alerts[0].details.expected_amount,
          expected_currency: alerts[0].details.expected_currency,
          received_amount: alerts[0].details.received_amount,
          received_currency: alerts[0].details.received_currency,
          payment_intent_id: alerts[0].details.payment_intent_id,
        },
        {
          event_id: event.id,
          expected_amount: 45000,
          expected_currency: "usd",
          received_amount: 4500,
          received_currency: "usd",
          payment_intent_id: event.data.object.id,
        },
      );
    } finally {
      await sql.end();
      await admin.end();
    }
  },
);

Deno.test("a right amount in the wrong currency is a mismatch too", opts, async () => {
  const sql = connect();
  try {
    const id = await insertBooking(sql, newBooking({ amount: 45000, currency: "usd" }));
    const answer = await deliver(paid(id, { currency: "eur" }));
    assert.equal(answer.body.outcome, "amount_mismatch");
    assert.equal((await booking(sql, id)).status, "pending_payment");
  } finally {
    await sql.end();
  }
});

dbTest(
  "a full refund marks the booking refunded and the Guestly reservation canceled",
  async (sql) => {
    const id = await insertBooking(sql, newBooking());
    const pi = uniqueId("pi");
    assert.equal((await deliver(paid(id, { paymentIntentId: pi }))).body.outcome, "confirmed");
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
      currency: "usd",
      paymentIntentId: pi,
    });
    const answer = await deliver(refund);
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.outcome, "refunded");
    assert.equal((await booking(sql, id)).status, "refunded");

    const [reservation] = await waitFor(
      "the reservation to be canceled",
      async () => {
        const found = await sandbox.reservationsFor(id);
        return found.length === 1 && found[0].status === "canceled" ? found : null;
      },
      10_000,
      200,
    );
    assert.equal(reservation.status, "canceled");
  },
);

dbTest(
  "a partial refund is recorded as partial_refund; the booking stays confirmed",
  async (sql) => {
    const id = await insertBooking(sql, newBooking());
    const pi = uniqueId("pi");
    await deliver(paid(id, { paymentIntentId: pi }));
    const refund = stripeEvent("charge.refunded", {
      bookingId: id,
      amount: 45000,
      amountRefunded: 15000,
      currency: "usd",
      paymentIntentId: pi,
    });
    const answer = await deliver(refund);
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.outcome, "partial_refund");
    assert.equal((await booking(sql, id)).status, "confirmed");
    const [entry] = await ledger(sql, refund.id);
    assert.equal(entry.outcome, "partial_refund");
    assert.equal(Number(entry.amount), 15000);
    assert.match(entry.error, /partial refund/);
  },
);

dbTest("a payment failure is recorded; the booking keeps waiting for payment", async (sql) => {
  const id = await insertBooking(sql, newBooking());
  const event = stripeEvent("payment_intent.payment_failed", { bookingId: id });
  const answer = await deliver(event);
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.body.outcome, "payment_failed");
  const row = await booking(sql, id);
  assert.equal(row.status, "pending_payment");
  assert.equal(row.stripe_payment_intent_id, null);
  const [entry] = await ledger(sql, event.id);
  assert.equal(entry.outcome, "payment_failed");
  assert.equal(entry.booking_id, id);
});

Deno.test("an event type we do not act on is recorded as ignored", opts, async () => {
  const sql = connect();
  try {
    const event = stripeEvent("customer.created");
    const answer = await deliver(event);
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.body, { received: true, outcome: "ignored", duplicate: false });
    const [entry] = await ledger(sql, event.id);
    assert.equal(entry.outcome, "ignored");
    assert.equal(entry.booking_id, null);
  } finally {
    await sql.end();
  }
});

Deno.test(
  "a payment for a booking we do not know is recorded as unmatched after the grace window",
  opts,
  async () => {
    const sql = connect();
    try {
      for (const bookingId of [crypto.randomUUID(), "BK-not-a-uuid", null]) {
        const event = paid(crypto.randomUUID(), { bookingId, created: minutesAgo(11) });
        const answer = await deliver(event);
        assert.equal(answer.status, 200, answer.text);
        assert.equal(answer.body.outcome, "unmatched", `booking id ${bookingId}`);
        const [entry] = await ledger(sql, event.id);
        assert.equal(entry.outcome, "unmatched");
        assert.equal(entry.booking_id, null);
        assert.ok(entry.error, "the ledger says why");
        const visible = await sql`select outcome from public.stripe_events_needing_attention
                                 where event_id = ${event.id}`;
        assert.deepEqual(visible.map((r) => r.outcome), ["unmatched"], "visible to the operator");
      }
    } finally {
      await sql.end();
    }
  },
);

Deno.test("bad signatures are refused with 400 and leave no ledger row", opts, async () => {
  const sql = connect();
  try {
    const id = await insertBooking(sql, newBooking());
    const cases: Array<
      [string, () => Promise<{ status: number; body: Record<string, unknown> }>, string]
    > = [];
    const noSignature = paid(id);
    cases.push([noSignature.id, () => deliver(noSignature, { signature: null }), "no signature"]);
    const forged = paid(id);
    cases.push([forged.id, () => deliver(forged, { secret: "whsec_someone_else" }), "forged"]);
    const altered = paid(id, { amount: 45000 });
    const original = JSON.stringify(altered);
    const signature = await signatureFor(original, SECRET);
    cases.push([
      altered.id,
      () => deliver(original.replace('"amount":45000', '"amount":45001'), { signature }),
      "altered body",
    ]);
    const old = paid(id);
    cases.push([
      old.id,
      () => deliver(old, { timestamp: Math.floor(Date.now() / 1000) - 600 }),
      "10 minutes old",
    ]);
    for (const [eventId, send, label] of cases) {
      const answer = await send();
      assert.equal(answer.status, 400, label);
      assert.equal(typeof answer.body.error, "string", label);
      assert.equal((await ledger(sql, eventId)).length, 0, `${label}: nothing recorded`);
    }
    assert.equal((await booking(sql, id)).status, "pending_payment");
  } finally {
    await sql.end();
  }
});

Deno.test("GET → 405", opts, async () => {
  const response = await fetch(URL_);
  assert.equal(response.status, 405);
  await response.body?.cancel();
});

Deno.test("a body over 1 MB → 413", opts, async () => {
  const big = JSON.stringify({ ...stripeEvent("customer.created"), pad: "x".repeat(1024 * 1024) });
  const answer = await deliver(big);
  assert.equal(answer.status, 413, answer.text);
});

Deno.test("the database unreachable → 500, so Stripe delivers the event again", opts, async () => {
  const sql = connect();
  const unreachable = postgres("postgresql://postgres:postgres@127.0.0.1:1/postgres", {
    max: 1,
    connect_timeout: 2,
    onnotice: () => {},
  });
  try {
    const id = await insertBooking(sql, newBooking());
    const log = memoryLogger();
    const handler = createStripeWebhookHandler({
      secret: SECRET,
      livemode: false,
      record: postgresRecorder(unreachable),
      log,
      now: Date.now,
    });
    const event = paid(id);
    const response = await handler(await stripeRequest(URL_, event, SECRET));
    assert.equal(response.status, 500);
    await response.body?.cancel();
    assert.ok(log.entries.some((e) => e.event === "stripe.webhook.record_failed"));
    assert.equal((await ledger(sql, event.id)).length, 0);
    assert.equal((await booking(sql, id)).status, "pending_payment");

    // Stripe's retry, once the database is back, is processed normally.
    const retry = await deliver(event);
    assert.equal(retry.body.outcome, "confirmed");
  } finally {
    await unreachable.end({ timeout: 0 });
    await sql.end();
  }
});

// ---------------------------------------------------------------------------------------------
// Money cases (issue 11, part 4): each → one alert, its email in the mail catcher, nothing doubled
// when Stripe delivers the same event again.

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
    assert.equal(row.guestly_sync_status, "synced", "nothing to tell Guestly");
    const [reservation] = await sandbox.reservationsFor(id);
    assert.equal(reservation.status, "confirmed", "the reservation is not cancelled");
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
