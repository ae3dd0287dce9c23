// The `double_booking` alert email: Guestly refused a paid booking's reservation because the
// nights are taken (an OTA reservation landed between the guest choosing dates and paying). The
// urgent kind: it names what blocks the dates, who paid how much, and the three ways out. Pure:
// everything comes from the alert's details (written by guestly.record_failure with the
// conflict the sync core read from Guestly's refusal) and the booking.
import {
  type AlertContext,
  bookingRows,
  formatAmount,
  formatTime,
  guestName,
  retryCommands,
  type Row,
  type Section,
} from "./admin-alerts.ts";
import { dashboardUrl } from "./money-alerts.ts";
import type { BlockingReservation } from "../guestly/retry-policy.ts";

/** What record_failure stored of each blocking reservation (fields may be missing). */
type Blocking = Partial<BlockingReservation>;

function blocking(ctx: AlertContext): Blocking[] {
  const conflict = ctx.alert.details?.conflict as { reservations?: unknown } | null | undefined;
  const list = Array.isArray(conflict?.reservations) ? conflict.reservations : [];
  return list.filter((r): r is Blocking => typeof r === "object" && r !== null);
}

/** The commands that force the booking into Guestly despite the conflict. */
export function forceCommands(bookingId: string): { cli: string; sql: string } {
  const { cli } = retryCommands(bookingId); // validates the id
  return {
    cli: `${cli} --ignore-calendar`,
    sql: `select guestly_retry_sync('${bookingId}', ignore_calendar => true);`,
  };
}

export function doubleBookingSubject(ctx: AlertContext): string {
  const b = ctx.booking;
  const where = b?.property_name ?? "(unknown property)";
  const dates = b ? `${b.check_in} → ${b.check_out}` : "(unknown dates)";
  return `URGENT — Double booking: ${where}, ${dates} — paid by ${guestName(b)}`;
}

export function doubleBookingSections(ctx: AlertContext): Section[] {
  const b = ctx.booking;
  const d = ctx.alert.details ?? {};
  const conflict = (d.conflict ?? {}) as { blocked_dates?: unknown };
  const blockers = blocking(ctx);
  const blockerLines = blockers.length
    ? blockers.map((r, i) =>
      `${i + 1}. ${r.confirmation_code ?? "(no confirmation code)"} — channel ${
        r.source ?? "(unknown)"
      } — ${r.check_in ?? "?"} → ${r.check_out ?? "?"} — ${r.status ?? "status unknown"}` +
      ` — guest ${r.guest_name ?? "(not given)"}` +
      (r.reservation_id ? ` (Guestly reservation ${r.reservation_id})` : "")
    )
    : [
      "Guestly did not name the reservation that holds the dates: look at the listing's " +
      "calendar in Guestly for these nights.",
    ];
  const nights = Array.isArray(conflict.blocked_dates) && conflict.blocked_dates.length
    ? [`Nights taken: ${conflict.blocked_dates.join(", ")}`]
    : [];
  const paid = b ? formatAmount(b.amount_total, b.currency) : "(unknown)";
  const payment = b?.stripe_payment_intent_id ?? null;
  const ways: Section = { title: "Three ways out (pick one)", lines: [], rows: [] };
  // A create refused (or a hold that ran out, no longer the booking's) leaves nothing of the
  // booking in Guestly; a change of dates or listing refused leaves its reservation as it was.
  const created = d.operation === undefined || d.operation === "create";
  ways.lines = [
    `1. Refund the guest in Stripe (${paid}) and tell them the dates are gone. ` +
    (created
      ? "Cancelling or refunding the booking then needs nothing more in Guestly: no " +
        "reservation holds the booking there."
      : "Cancelling or refunding the booking also cancels its reservation in Guestly, which " +
        "keeps the nights it had before the change."),
    "2. Move the guest: change the booking's property or dates (another free listing, other " +
    "nights), agreed with the guest. The change follows to Guestly by itself (a new sync " +
    "starts); npm run sync:status shows how it went.",
    "3. Force it into Guestly anyway (both reservations then hold the nights, e.g. when the " +
    "channel reservation is being cancelled): run one of the commands below.",
  ];
  const rows: Row[] = [];
  if (payment) {
    rows.push(["Stripe payment", dashboardUrl({ ...d, payment_intent_id: payment }, "payments")]);
  } else rows.push(["Stripe payment", "(no payment intent recorded on the booking)"]);
  const bookingId = b?.id ?? ctx.alert.booking_id;
  if (bookingId) {
    const force = forceCommands(bookingId);
    rows.push(["CLI (force)", force.cli], ["SQL (Studio, force)", force.sql]);
  }
  ways.rows = rows;
  return [
    {
      title: "What happened",
      lines: [
        "Guestly refused the reservation for this PAID booking: the nights are already taken " +
        "in its calendar (a channel booking arrived between the guest choosing the dates and " +
        "paying). The booking stays confirmed — the guest paid — but Guestly has no " +
        "reservation for it. Nothing will be retried automatically.",
        `Alert written ${formatTime(ctx.alert.created_at)}.`,
      ],
    },
    { title: "Blocking reservation(s) in Guestly", lines: [...blockerLines, ...nights] },
    { title: "Our booking (paid)", rows: bookingRows(ctx) },
    ways,
  ];
}
