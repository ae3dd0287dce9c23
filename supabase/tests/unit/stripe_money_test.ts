// The stripe-webhook handler with fakes, money cases: the event's mode, the grace-window
// answer, and what each event type carries.
import assert from "node:assert/strict";
import { parseStripeWebhookEnv } from "../../functions/_shared/stripe/config.ts";
import { stripeEvent, stripeRequest } from "../fixtures/stripe/events.ts";
import { BOOKING, SECRET, send, setup, URL_ } from "./stripe_handler_fakes.ts";

Deno.test("livemode: an event of the other mode → 400 naming both modes, nothing recorded", async () => {
  for (const deployment of [false, true]) {
    const { handler, recorded, log } = setup({ livemode: deployment });
    const wrong = stripeEvent("payment_intent.succeeded", {
      bookingId: BOOKING,
      livemode: !deployment,
    });
    const answer = await send(handler, await stripeRequest(URL_, wrong, SECRET));
    assert.equal(answer.status, 400);
    const [eventMode, deploymentMode] = deployment ? ["test", "live"] : ["live", "test"];
    assert.equal(
      answer.body.error,
      `livemode mismatch: event ${wrong.id} is a ${eventMode}-mode event, but this endpoint runs ` +
        `in ${deploymentMode} mode (STRIPE_LIVEMODE=${deployment}); nothing was recorded. Send ` +
        `${eventMode}-mode events to the ${eventMode} deployment.`,
    );
    assert.equal(recorded.length, 0);
    assert.ok(log.entries.some((e) => e.event === "stripe.webhook.rejected" && e.status === 400));

    const right = stripeEvent("payment_intent.succeeded", {
      bookingId: BOOKING,
      livemode: deployment,
    });
    assert.equal((await send(handler, await stripeRequest(URL_, right, SECRET))).status, 200);
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0].livemode, deployment);
  }
});

Deno.test("deferred (no booking yet, inside the grace window) → 503 so Stripe redelivers", async () => {
  const { handler, log } = setup({ outcome: "deferred", retryUntil: "2026-12-02T10:10:00+00:00" });
  const event = stripeEvent("payment_intent.succeeded", { bookingId: BOOKING });
  const answer = await send(handler, await stripeRequest(URL_, event, SECRET));
  assert.equal(answer.status, 503);
  assert.equal(answer.body.outcome, "deferred");
  assert.match(answer.body.error, /no booking matches this payment yet/);
  assert.match(answer.body.error, /after 2026-12-02T10:10:00\+00:00 it is recorded as unmatched/);
  const line = log.entries.find((e) => e.event === "stripe.webhook.deferred")!;
  assert.equal(line.level, "warn");
  assert.equal(line.event_id, event.id);
  assert.equal(line.retry_until, "2026-12-02T10:10:00+00:00");
});

Deno.test("money outcomes are logged at error level, a partial refund at warn", async () => {
  for (
    const [outcome, level] of [
      ["duplicate_payment", "error"],
      ["payment_for_cancelled_booking", "error"],
      ["disputed", "error"],
      ["unmatched", "error"],
      ["partial_refund", "warn"],
    ] as const
  ) {
    const { handler, log } = setup({ outcome });
    const answer = await send(
      handler,
      await stripeRequest(URL_, stripeEvent("payment_intent.succeeded"), SECRET),
    );
    assert.equal(answer.status, 200, outcome);
    const line = log.entries.find((e) => e.event === "stripe.webhook.event")!;
    assert.equal(line.level, level, outcome);
  }
});

Deno.test("Checkout no_payment_required (100 % coupon) → action no_payment_required", async () => {
  const { handler, recorded } = setup();
  const event = stripeEvent("checkout.session.completed", {
    bookingId: BOOKING,
    amount: 0,
    paymentStatus: "no_payment_required",
  });
  event.data.object.payment_intent = null;
  event.data.object.amount_subtotal = 45000;
  event.data.object.total_details = { amount_discount: 45000, amount_shipping: 0, amount_tax: 0 };
  await send(handler, await stripeRequest(URL_, event, SECRET));
  assert.equal(recorded[0].action, "no_payment_required");
  assert.equal(recorded[0].bookingId, BOOKING);
  assert.equal(recorded[0].paymentIntentId, null);
  assert.equal(recorded[0].amount, 0);
  // What the Checkout forgave travels with it: the ledger confirms only a whole-amount discount.
  assert.deepEqual(recorded[0].details, {
    checkout_session_id: event.data.object.id,
    checkout_amount_subtotal: 45000,
    checkout_amount_discount: 45000,
  });
});

Deno.test("charge.dispute.created → action dispute with amount, reason, deadline, charge", async () => {
  const { handler, recorded } = setup();
  const event = stripeEvent("charge.dispute.created", {
    paymentIntentId: "pi_disputed",
    amount: 12000,
    currency: "EUR",
    reason: "product_unacceptable",
  });
  const answer = await send(handler, await stripeRequest(URL_, event, SECRET));
  assert.equal(answer.status, 200);
  const e = recorded[0];
  assert.deepEqual(
    [e.action, e.bookingId, e.paymentIntentId, e.amount, e.currency, e.refundedInFull],
    ["dispute", null, "pi_disputed", 12000, "eur", false],
  );
  assert.deepEqual(e.details, {
    dispute_id: event.data.object.id,
    dispute_reason: "product_unacceptable",
    dispute_status: "needs_response",
    charge_id: "ch_3QeRmC2eZvKYlo2C1aVb8NmP",
    evidence_due_by: "2025-12-06T23:59:59.000Z",
  });
});

Deno.test("a dispute without an id is a malformed event → 400", async () => {
  const { handler, recorded } = setup();
  const event = stripeEvent("charge.dispute.created");
  delete event.data.object.id;
  const answer = await send(handler, await stripeRequest(URL_, event, SECRET));
  assert.equal(answer.status, 400);
  assert.match(answer.body.error, /unexpected charge\.dispute\.created object: id/);
  assert.equal(recorded.length, 0);
});

Deno.test("charge.refunded carries the charge amount; a reference that is not a UUID is kept", async () => {
  const { handler, recorded } = setup();
  const event = stripeEvent("charge.refunded", {
    bookingId: "BK-42",
    amount: 45000,
    amountRefunded: 5000,
  });
  await send(handler, await stripeRequest(URL_, event, SECRET));
  assert.deepEqual(recorded[0].details, {
    booking_ref: "BK-42",
    charge_id: event.data.object.id,
    charge_amount: 45000,
  });
  assert.equal(recorded[0].amount, 5000, "cumulative amount_refunded");
  assert.equal(recorded[0].refundedInFull, false);
});

Deno.test("configuration: the Stripe mode comes from STRIPE_LIVEMODE or the key's prefix", () => {
  const base = { STRIPE_WEBHOOK_SECRET: "whsec_x", SUPABASE_DB_URL: "postgres://x" };
  const mode = (env: Record<string, string>) => parseStripeWebhookEnv({ ...base, ...env }).livemode;
  assert.equal(mode({ STRIPE_LIVEMODE: "true" }), true);
  assert.equal(mode({ STRIPE_LIVEMODE: "false" }), false);
  assert.equal(mode({ STRIPE_LIVEMODE: " TRUE " }), true);
  assert.equal(mode({ STRIPE_SECRET_KEY: "sk_live_abc" }), true);
  assert.equal(mode({ STRIPE_SECRET_KEY: "rk_live_abc" }), true);
  assert.equal(mode({ STRIPE_SECRET_KEY: "sk_test_abc" }), false);
  assert.equal(mode({ STRIPE_SECRET_KEY: "rk_test_abc" }), false);
  assert.equal(mode({ STRIPE_SECRET_KEY: "sk_live_abc", STRIPE_LIVEMODE: "true" }), true);
  assert.throws(() => mode({}), /STRIPE_LIVEMODE: is required/);
  assert.throws(() => mode({ STRIPE_LIVEMODE: "" }), /STRIPE_LIVEMODE: is required/);
  assert.throws(() => mode({ STRIPE_LIVEMODE: "yes" }), /STRIPE_LIVEMODE: must be "true"/);
  assert.throws(
    () => mode({ STRIPE_SECRET_KEY: "sk_live_abc", STRIPE_LIVEMODE: "false" }),
    /STRIPE_LIVEMODE: is false, but STRIPE_SECRET_KEY is a live-mode key/,
  );
  assert.throws(() => mode({ STRIPE_SECRET_KEY: "pk_live_abc" }), /does not start with sk_live_/);
});

Deno.test("configuration: STRIPE_UNMATCHED_GRACE_MINUTES (default 10) in seconds", () => {
  const base = {
    STRIPE_WEBHOOK_SECRET: "whsec_x",
    SUPABASE_DB_URL: "postgres://x",
    STRIPE_LIVEMODE: "false",
  };
  const grace = (value?: string) =>
    parseStripeWebhookEnv({ ...base, STRIPE_UNMATCHED_GRACE_MINUTES: value })
      .unmatchedGraceSeconds;
  assert.equal(grace(), 600);
  assert.equal(grace(""), 600);
  assert.equal(grace("0"), 0);
  assert.equal(grace("30"), 1800);
  assert.throws(() => grace("-1"), /STRIPE_UNMATCHED_GRACE_MINUTES: must be 0 or more/);
  assert.throws(() => grace("1.5"), /STRIPE_UNMATCHED_GRACE_MINUTES: must be a whole number/);
  assert.throws(() => grace("ten"), /STRIPE_UNMATCHED_GRACE_MINUTES/);
  assert.throws(() => grace("100000"), /at most 1440/);
});
