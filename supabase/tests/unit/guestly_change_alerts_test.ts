// The emails about changes made in Guestly: a paid booking cancelled there (decide on the
// refund, with the payment's Stripe link) and new dates whose price would differ.
import assert from "node:assert/strict";
import {
  type AlertContext,
  renderAlertEmail,
} from "../../functions/_shared/notifications/admin-alerts.ts";

const BOOKING = "5eed0000-0000-4000-8000-0000000000c1";

function context(kind: string, details: Record<string, unknown>): AlertContext {
  return {
    alert: {
      id: "a1e70000-0000-4000-8000-0000000000c1",
      kind,
      booking_id: BOOKING,
      created_at: "2026-12-02T10:16:00.000Z",
      details: {
        message_id: "msg_2abc",
        event_type: "reservation.updated.v2",
        reservation_id: "64f1a2b3c4d5e6f7a8b9c0aa",
        published_at: "2026-12-02T10:15:59.000Z",
        payment_intent_id: "pi_3QxYz",
        livemode: false,
        amount: 64000,
        currency: "eur",
        ...details,
      },
    },
    booking: {
      id: BOOKING,
      status: "cancelled",
      guest_first_name: "Ada",
      guest_last_name: "Lovelace",
      guest_email: "ada@example.com",
      check_in: "2027-02-01",
      check_out: "2027-02-05",
      guests_count: 2,
      amount_total: 64000,
      currency: "eur",
      stripe_payment_intent_id: "pi_3QxYz",
      property_name: "Ocean View <Loft>",
    },
    attempts_total: 0,
    attempts: [],
  };
}

Deno.test("cancelled in Guestly: the subject says decide on the refund; the Stripe link is there", () => {
  const email = renderAlertEmail(
    context("cancelled_in_guestly", {
      changes: { status: ["confirmed", "cancelled"] },
      canceled_by: "host",
    }),
    null,
  );
  assert.match(email.subject, /^Cancelled in Guestly — decide on the refund: booking 5eed0000…/);
  assert.match(email.text, /PAID booking was cancelled in Guestly \(by host\)/);
  assert.match(email.text, /https:\/\/dashboard\.stripe\.com\/test\/payments\/pi_3QxYz/);
  assert.match(email.text, /€640\.00/);
  assert.match(email.text, /Status: confirmed → cancelled/);
  assert.match(email.html, /Ocean View &lt;Loft&gt;/, "escaped");
  assert.deepEqual(
    email,
    renderAlertEmail(
      context("cancelled_in_guestly", {
        changes: { status: ["confirmed", "cancelled"] },
        canceled_by: "host",
      }),
      null,
    ),
    "same alert, same email (Resend's idempotency key)",
  );
});

Deno.test("dates changed with another price: both amounts, never a money change", () => {
  const email = renderAlertEmail(
    context("guestly_change_price_differs", {
      changes: { check_out: ["2027-02-05", "2027-02-07"] },
      old_nights: 4,
      new_nights: 6,
      estimated_total_minor: 96000,
      guestly_total_minor: null,
    }),
    null,
  );
  assert.match(email.subject, /^Changed in Guestly, price differs/);
  assert.match(
    email.text,
    /at the booked nightly rate \(4 → 6 nights\): €960\.00 EUR; the guest paid €640\.00 EUR/,
  );
  assert.match(email.text, /Check-out: 2027-02-05 → 2027-02-07/);
  assert.match(email.text, /we never change money on our own/);
});

Deno.test("a host's change the website's overrides: both values, and that the website's is sent", () => {
  const email = renderAlertEmail(
    context("guestly_change_overridden", {
      overridden: { check_in: ["2027-01-20", "2027-02-10"] },
    }),
    null,
  );
  assert.match(email.subject, /^Changed in Guestly while the website's change was on its way/);
  assert.match(
    email.text,
    /Check-in: Guestly shows 2027-01-20 \(changed by the host\), while the website changed it to 2027-02-10/,
  );
  assert.match(email.text, /website's value is being sent to Guestly/);
});

Deno.test("a hold the host cancelled, then paid: the email says nothing was revived and what to do", () => {
  const email = renderAlertEmail(
    context("hold_cancelled_in_guestly", {
      hold_reservation_id: "res-hold-77",
      hold_error: "cancelled in Guestly by host",
      paid_after_cancellation: true,
    }),
    null,
  );
  assert.match(email.subject, /^Hold cancelled in Guestly, the guest paid: booking 5eed0000…/);
  assert.match(email.text, /reservation res-hold-77\) was cancelled in Guestly \(cancelled in/);
  assert.match(email.text, /after that \(the website was told/);
  assert.match(email.text, /NOT confirmed again\. The sync creates a new reservation/);
  assert.match(email.text, /refund the guest in Stripe/);
  assert.match(email.text, /https:\/\/dashboard\.stripe\.com\/test\/payments\/pi_3QxYz/);
  assert.doesNotMatch(email.subject, /Guestly sync failed/);
});
