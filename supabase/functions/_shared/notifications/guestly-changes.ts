// The alerts guestly-webhook writes when Guestly changed one of our bookings
// (guestly_events.apply_guestly_change): a paid booking cancelled in Guestly (by the host, the
// guest or a channel: decide on the refund), and new dates or guests whose price would differ
// from what the guest paid (we never change money on our own). Pure: everything comes from the
// alert's details and the booking.
import {
  type AlertContext,
  bookingRows,
  formatAmount,
  formatTime,
  guestName,
  type Row,
  type Section,
  shortId,
  str,
} from "./admin-alerts.ts";
import { dashboardUrl } from "./money-alerts.ts";

export const GUESTLY_CHANGE_KINDS = [
  "cancelled_in_guestly",
  "guestly_change_price_differs",
  "hold_cancelled_in_guestly",
  "guestly_change_overridden",
];

type Change = [unknown, unknown];

function changes(ctx: AlertContext): Record<string, Change> {
  const c = ctx.alert.details?.changes;
  return typeof c === "object" && c !== null ? c as Record<string, Change> : {};
}

function changeLines(ctx: AlertContext): string[] {
  const labels: Record<string, string> = {
    status: "Status",
    check_in: "Check-in",
    check_out: "Check-out",
    guests_count: "Guests",
  };
  return Object.entries(changes(ctx)).map(([key, [from, to]]) =>
    `${labels[key] ?? key}: ${String(from)} → ${String(to)}`
  );
}

function paymentRows(ctx: AlertContext): Row[] {
  const d = ctx.alert.details ?? {};
  const payment = str(d.payment_intent_id) ?? ctx.booking?.stripe_payment_intent_id ?? null;
  return [
    ["Paid", formatAmount(ctx.booking?.amount_total ?? (d.amount as number), d.currency)],
    [
      "Stripe payment",
      payment
        ? dashboardUrl({ ...d, payment_intent_id: payment }, "payments")
        : "(no payment intent recorded on the booking)",
    ],
  ];
}

function eventRows(ctx: AlertContext): Row[] {
  const d = ctx.alert.details ?? {};
  return [
    ["Guestly reservation", str(d.reservation_id) ?? "(unknown)"],
    ["Changed in Guestly at", formatTime(str(d.published_at))],
    ["Guestly event", `${str(d.event_type) ?? "(unknown)"} (${str(d.message_id) ?? "no id"})`],
  ];
}

export function guestlyChangeSubject(ctx: AlertContext): string {
  const b = ctx.booking;
  const who = `${guestName(b)} at ${b?.property_name ?? "(unknown property)"}`;
  const booking = `booking ${shortId(b?.id ?? ctx.alert.booking_id)}`;
  if (ctx.alert.kind === "cancelled_in_guestly") {
    return `Cancelled in Guestly — decide on the refund: ${booking} — ${who}`;
  }
  if (ctx.alert.kind === "hold_cancelled_in_guestly") {
    return `Hold cancelled in Guestly, the guest paid: ${booking} — ${who}`;
  }
  if (ctx.alert.kind === "guestly_change_overridden") {
    return `Changed in Guestly while the website's change was on its way: ${booking} — ${who}`;
  }
  return `Changed in Guestly, price differs: ${booking} — ${who}`;
}

export function guestlyChangeSections(ctx: AlertContext): Section[] {
  const d = ctx.alert.details ?? {};
  if (ctx.alert.kind === "cancelled_in_guestly") {
    const by = str(d.canceled_by);
    return [
      {
        title: "What happened",
        lines: [
          `This PAID booking was cancelled in Guestly${by ? ` (by ${by})` : ""}. The booking ` +
          "is now cancelled here too; nothing was sent back to Guestly and no money was moved.",
          "Decide on the refund: refund the guest in Stripe (all, part or nothing, as your " +
          "cancellation policy says). A refund in Stripe then follows by itself.",
          `Alert written ${formatTime(ctx.alert.created_at)}.`,
        ],
      },
      { title: "Payment", rows: paymentRows(ctx) },
      { title: "Booking", rows: bookingRows(ctx) },
      { title: "In Guestly", rows: eventRows(ctx), lines: changeLines(ctx) },
    ];
  }
  if (ctx.alert.kind === "hold_cancelled_in_guestly") {
    const hold = str(d.hold_reservation_id) ?? "(unknown)";
    return [
      {
        title: "What happened",
        lines: [
          `The hold on this booking's nights (Guestly reservation ${hold}) was cancelled in ` +
          `Guestly (${str(d.hold_error) ?? "cancelled in Guestly"}) and the guest paid ` +
          (d.paid_after_cancellation
            ? "after that (the website was told the nights were no longer held)."
            : "before the cancellation reached us."),
          "The cancelled reservation was NOT confirmed again. The sync creates a new " +
          "reservation for the stay; if the nights are taken in Guestly you get a double-booking " +
          "email instead.",
          "If the host cancelled on purpose (the stay must not happen): cancel the new " +
          "reservation in Guestly (the booking here follows) and refund the guest in Stripe. " +
          "Otherwise nothing to do.",
          `Alert written ${formatTime(ctx.alert.created_at)}.`,
        ],
      },
      { title: "Payment", rows: paymentRows(ctx) },
      { title: "Booking", rows: bookingRows(ctx) },
    ];
  }
  if (ctx.alert.kind === "guestly_change_overridden") {
    const labels: Record<string, string> = {
      check_in: "Check-in",
      check_out: "Check-out",
      guests_count: "Guests",
    };
    const overridden = typeof d.overridden === "object" && d.overridden !== null
      ? d.overridden as Record<string, Change>
      : {};
    return [
      {
        title: "What happened",
        lines: [
          ...Object.entries(overridden).map(([key, [guestly, website]]) =>
            `${labels[key] ?? key}: Guestly shows ${String(guestly)} (changed by the host), ` +
            `while the website changed it to ${String(website)}.`
          ),
          "The website's value is being sent to Guestly and will replace the host's. If the " +
          "host's change must stand, change the booking here to match it.",
          `Alert written ${formatTime(ctx.alert.created_at)}.`,
        ],
      },
      { title: "Booking", rows: bookingRows(ctx) },
      { title: "In Guestly", rows: eventRows(ctx) },
    ];
  }
  const estimate = d.guestly_total_minor ?? d.estimated_total_minor;
  const basis = d.guestly_total_minor != null
    ? "Guestly's price for the stay now"
    : `at the booked nightly rate (${d.old_nights ?? "?"} → ${d.new_nights ?? "?"} nights)`;
  return [
    {
      title: "What happened",
      lines: [
        "The stay was changed in Guestly and the booking here now has the new dates/guests " +
        "(nothing was sent back). The price would differ from what the guest paid; we never " +
        "change money on our own.",
        `New price ${basis}: ${formatAmount(estimate as number, d.currency)}; the guest paid ` +
        `${formatAmount(ctx.booking?.amount_total ?? (d.amount as number), d.currency)}.`,
        "Charge the difference or refund it in Stripe, or agree with the guest to keep the " +
        "price.",
        `Alert written ${formatTime(ctx.alert.created_at)}.`,
      ],
    },
    { title: "What changed", lines: changeLines(ctx) },
    { title: "Payment", rows: paymentRows(ctx) },
    { title: "Booking", rows: bookingRows(ctx) },
    { title: "In Guestly", rows: eventRows(ctx) },
  ];
}
