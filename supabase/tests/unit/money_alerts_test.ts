// The money alert emails (payment_unmatched, payment_for_cancelled_booking, duplicate_payment,
// payment_disputed, partial_refund, refund_unmatched, money_matched_late) as renderAlertEmail produces them from what
// guestly.alert_email_context returns: each names what the admin needs, escapes what it shows,
// and is the same bytes on every render (Resend's idempotency key).
import assert from "node:assert/strict";
import {
  type AlertContext,
  renderAlertEmail,
} from "../../functions/_shared/notifications/admin-alerts.ts";
import {
  dashboardUrl,
  MONEY_ALERT_KINDS,
} from "../../functions/_shared/notifications/money-alerts.ts";

const BOOKING = "5eed0000-0000-4000-8000-0000000000b1";

function context(
  kind: string,
  details: Record<string, unknown>,
  withBooking = true,
  status = "confirmed",
): AlertContext {
  return {
    alert: {
      id: "a1e70000-0000-4000-8000-0000000000c1",
      kind,
      booking_id: withBooking ? BOOKING : null,
      details: {
        event_id: "evt_money_1",
        event_type: "payment_intent.succeeded",
        event_created: "2026-12-02T10:00:00+00:00",
        livemode: false,
        payment_intent_id: "pi_money_2",
        amount: 45000,
        currency: "usd",
        ...details,
      },
      created_at: "2026-12-02T10:11:00.123+00:00",
    },
    booking: withBooking
      ? {
        id: BOOKING,
        status,
        guest_first_name: "Grace",
        guest_last_name: "Hopper",
        guest_email: "grace@example.com",
        check_in: "2027-03-01",
        check_out: "2027-03-04",
        guests_count: 2,
        amount_total: 45000,
        currency: "usd",
        stripe_payment_intent_id: "pi_money_1",
        property_name: "Pine Cabin",
      }
      : null,
    attempts_total: 0,
    attempts: [],
  };
}

function assertBoth(email: { text: string; html: string }, fields: string[]) {
  for (const field of fields) {
    assert.ok(email.text.includes(field), `text lacks ${field}`);
    assert.ok(email.html.includes(field), `html lacks ${field}`);
  }
}

Deno.test("payment_unmatched: amount, payment intent and the reference the event sent", () => {
  const email = renderAlertEmail(
    context("payment_unmatched", {
      booking_ref: `<img src=x onerror=alert(1)>BK-77`,
      reason: "the event names no booking",
    }, false),
    null,
  );
  assert.equal(email.subject, "Payment not matched to any booking: $450.00 USD (pi_money_2)");
  assertBoth(email, [
    "pi_money_2",
    "evt_money_1",
    "$450.00 USD",
    "https://dashboard.stripe.com/test/payments/pi_money_2",
    "grace window",
    "2026-12-02 10:00:00 UTC",
  ]);
  assert.ok(email.text.includes(`<img src=x onerror=alert(1)>BK-77`), "text shows it as sent");
  assert.ok(!email.html.includes("<img"), "html escapes what the event sent");
  assert.ok(email.html.includes("&lt;img src=x onerror=alert(1)&gt;BK-77"));
  assert.ok(!email.text.includes("Booking id:"), "no booking rows for a booking we do not have");
  assert.ok(!email.text.includes("npm run sync:retry"), "nothing to retry");
});

Deno.test("payment_unmatched: a free Checkout says so", () => {
  const email = renderAlertEmail(
    context("payment_unmatched", { event_type: "checkout.session.completed", amount: 0 }, false),
    null,
  );
  assert.match(email.text, /a completed Checkout that owed nothing \(100 % discount\)/);
});

Deno.test("payment_for_cancelled_booking: booking, status and what to do", () => {
  const email = renderAlertEmail(
    context("payment_for_cancelled_booking", { booking_status: "cancelled" }, true, "cancelled"),
    null,
  );
  assert.equal(
    email.subject,
    "Payment for a cancelled booking: booking 5eed0000… — Grace Hopper at Pine Cabin ($450.00 USD)",
  );
  assertBoth(email, [BOOKING, "grace@example.com", "pi_money_2", "NOT applied", "Refund this"]);
});

Deno.test("duplicate_payment: names the first and the second payment", () => {
  const email = renderAlertEmail(
    context("duplicate_payment", { booking_payment_intent_id: "pi_money_1" }),
    null,
  );
  assert.equal(
    email.subject,
    "Second payment for booking 5eed0000… — Grace Hopper at Pine Cabin ($450.00 USD)",
  );
  assertBoth(email, ["already paid by pi_money_1", "pi_money_2", "refund the second one"]);
});

Deno.test("duplicate_payment for a booking with no payment intent never just says to refund it", () => {
  const email = renderAlertEmail(context("duplicate_payment", {}), null);
  assert.ok(!email.text.includes("refund the second one"), "it may be the stay's only payment");
  assertBoth(email, ["no Stripe payment of its own", "Check whether the guest paid twice"]);
});

Deno.test("payment_disputed: amount, reason, deadline and the dispute's Dashboard page", () => {
  const email = renderAlertEmail(
    context("payment_disputed", {
      event_type: "charge.dispute.created",
      dispute_id: "dp_money_1",
      dispute_reason: "fraudulent",
      dispute_status: "needs_response",
      evidence_due_by: "2026-12-12T23:59:59.000Z",
      charge_id: "ch_money_1",
      livemode: true,
    }),
    null,
  );
  assert.equal(
    email.subject,
    "Payment disputed: booking 5eed0000… — Grace Hopper at Pine Cabin ($450.00 USD, reason: fraudulent)",
  );
  assertBoth(email, [
    "fraudulent",
    "needs_response",
    "2026-12-12 23:59:59 UTC",
    "dp_money_1",
    "ch_money_1",
    "https://dashboard.stripe.com/disputes/dp_money_1",
    "live",
  ]);
});

Deno.test("payment_disputed without a booking says no booking matches", () => {
  const email = renderAlertEmail(
    context("payment_disputed", { dispute_reason: "general", dispute_id: "dp_x" }, false),
    null,
  );
  assert.equal(
    email.subject,
    "Payment disputed: no matching booking ($450.00 USD, reason: general)",
  );
  assert.match(email.text, /names no booking we have/);
});

Deno.test("partial_refund: refunded so far of the charge; the booking stays", () => {
  const email = renderAlertEmail(
    context("partial_refund", {
      event_type: "charge.refunded",
      amount: 15000,
      charge_amount: 45000,
      charge_id: "ch_money_1",
      booking_status: "confirmed",
    }),
    null,
  );
  assert.equal(
    email.subject,
    "Partial refund: booking 5eed0000… — Grace Hopper at Pine Cabin ($150.00 USD of $450.00 USD refunded)",
  );
  assertBoth(email, ["Refunded so far", "$150.00 USD", "$450.00 USD", "ch_money_1", "by hand"]);
  assert.match(email.text, /The booking stays confirmed/);
});

Deno.test("partial_refund of a booking still waiting for payment: recorded with the payment", () => {
  const email = renderAlertEmail(
    context(
      "partial_refund",
      {
        event_type: "charge.refunded",
        amount: 5000,
        charge_amount: 45000,
        booking_status: "pending_payment",
      },
      true,
      "pending_payment",
    ),
    null,
  );
  assert.match(
    email.text,
    /Guestly records this refund with the payment, once the payment arrives/,
  );
});

Deno.test("refund_unmatched: the refund, its charge, and that it is applied if matched later", () => {
  const email = renderAlertEmail(
    context("refund_unmatched", {
      event_type: "charge.refunded",
      amount: 45000,
      charge_amount: 45000,
      charge_id: "ch_money_9",
      booking_ref: "BK-9",
      reason: "the event names no booking",
    }, false),
    null,
  );
  assert.equal(email.subject, "Refund not matched to any booking: $450.00 USD (pi_money_2)");
  assertBoth(email, [
    "Refunded so far",
    "ch_money_9",
    "BK-9",
    "https://dashboard.stripe.com/test/payments/pi_money_2",
    "stripe_events_needing_attention",
    "stripe_payment_intent_id",
  ]);
  assert.match(email.text, /Nothing was changed on any booking/);
});

function matchedLate(details: Record<string, unknown>, status: string) {
  return renderAlertEmail(
    context(
      "money_matched_late",
      {
        event_id: undefined,
        event_type: undefined,
        booking_status_before: "confirmed",
        booking_status: status,
        matched_by: "evt_money_c",
        events: [
          {
            event_id: "evt_money_p",
            type: "payment_intent.succeeded",
            created: "2026-12-02T10:00:00+00:00",
            amount: 45000,
            outcome: "confirmed",
          },
          ...(details.refunded_amount
            ? [{
              event_id: "evt_money_r",
              type: "charge.refunded",
              created: "2026-12-02T11:00:00+00:00",
              amount: details.refunded_amount,
              outcome: details.refunded_in_full ? "refunded" : "partial_refund",
            }]
            : []),
        ],
        ...details,
      },
      true,
      status,
    ),
    null,
  );
}

Deno.test("money_matched_late, refunded in full: the booking is refunded; contact the guest", () => {
  const email = matchedLate({ refunded_amount: 45000, refunded_in_full: true }, "refunded");
  assert.equal(
    email.subject,
    "Refunded before it was matched: booking 5eed0000… — Grace Hopper at Pine Cabin is now " +
      "refunded ($450.00 USD paid, $450.00 USD refunded)",
  );
  assertBoth(email, [
    "confirmed → refunded",
    "evt_money_c",
    "evt_money_p",
    "evt_money_r",
    "2026-12-02 11:00:00 UTC",
    "Contact them",
    "make a new booking",
  ]);
  assert.match(email.text, /Nobody has paid for this stay any more/);
});

Deno.test("money_matched_late, partly refunded: the stay stays; Guestly shows what is due", () => {
  const email = matchedLate({ refunded_amount: 10000, refunded_in_full: false }, "confirmed");
  assert.equal(
    email.subject,
    "Matched late, partly refunded: booking 5eed0000… — Grace Hopper at Pine Cabin " +
      "($450.00 USD paid, $100.00 USD refunded)",
  );
  assertBoth(email, ["$100.00 USD", "balance shows what is still due", "collect the difference"]);
});

Deno.test("money_matched_late, the payment only: matched by hand; do not refund it", () => {
  const email = matchedLate({ matched_by: "booking_update" }, "confirmed");
  assert.equal(
    email.subject,
    "Unmatched payment now matched: booking 5eed0000… — Grace Hopper at Pine Cabin ($450.00 USD)",
  );
  assertBoth(email, ["confirmed by hand", "do not refund it", "Refunded"]);
  assert.match(email.text, /Refunded: +nothing/);
  assert.ok(!email.text.includes("Contact them"), "nothing for the admin to decide");
});

Deno.test("money_matched_late to a booking already refunded: not applied, never 'do not refund'", () => {
  const email = renderAlertEmail(
    context(
      "money_matched_late",
      {
        booking_status_before: "refunded",
        booking_status: "refunded",
        matched_by: "evt_money_refund",
        events: [{
          event_id: "evt_money_p",
          type: "payment_intent.succeeded",
          amount: 45000,
          outcome: "stale",
        }],
      },
      true,
      "refunded",
    ),
    null,
  );
  assertBoth(email, ["the payment was not applied", "refund the payment in Stripe"]);
  assert.ok(!email.text.includes("do not refund it"));
});

Deno.test("money emails are the same bytes on every render, for every kind", () => {
  for (const kind of MONEY_ALERT_KINDS) {
    const ctx = context(kind, { dispute_id: "dp_1" });
    assert.deepEqual(renderAlertEmail(ctx, null), renderAlertEmail(structuredClone(ctx), null));
    assert.ok(!renderAlertEmail(ctx, null).subject.startsWith("Guestly sync failed"), kind);
  }
});

Deno.test("the Dashboard link follows the event's mode and refuses odd ids", () => {
  assert.equal(
    dashboardUrl({ payment_intent_id: "pi_1", livemode: false }, "payments"),
    "https://dashboard.stripe.com/test/payments/pi_1",
  );
  assert.equal(
    dashboardUrl({ payment_intent_id: "pi_1", livemode: true }, "payments"),
    "https://dashboard.stripe.com/payments/pi_1",
  );
  assert.equal(
    dashboardUrl({ payment_intent_id: "pi_1/../../x" }, "payments"),
    "(no id in the event)",
  );
  assert.equal(dashboardUrl({}, "disputes"), "(no id in the event)");
});
