// stripe-webhook through the functions gateway against the real database, the booking trigger,
// pg_net, guestly-sync and the Guestly sandbox. Each test makes its own bookings and events and
// asserts only on them: other people run tests against the same stack at the same time.
import assert from "node:assert/strict";
import postgres from "postgres";
import { booking, connect, insertBooking, sandbox, waitFor } from "./harness.ts";
import { signatureFor, stripeEvent, stripeRequest, uniqueId } from "../fixtures/stripe/events.ts";
import { createStripeWebhookHandler } from "../../functions/_shared/stripe/webhook-handler.ts";
import { postgresRecorder } from "../../functions/_shared/stripe/recorder.ts";
import { memoryLogger } from "../../functions/_shared/log.ts";
import {
  dbTest,
  deliver,
  ledger,
  minutesAgo,
  newBooking,
  opts,
  paid,
  SECRET,
  URL_,
} from "./stripe_helpers.ts";

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
