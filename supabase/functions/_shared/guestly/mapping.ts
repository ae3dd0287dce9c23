// Booking → Guestly mapping, and which of Guestly's payments are ours. Pure: no I/O, no clock.
import { z } from "zod";
import {
  type BookingRow,
  type BookingStatus,
  type GuestlyCustomFieldsUpdate,
  type GuestlyNotesUpdate,
  type GuestlyPaymentRecord,
  type GuestlyReservationCreate,
  type GuestlyStatus,
  type GuestlyStatusChange,
  type MoneyRow,
  type PendingPayment,
} from "./schemas.ts";
import { normalisePhone } from "./phone.ts";
import { type HoldStatus, reservedUntilHours } from "./hold.ts";
import { majorToMinor, minorToMajor } from "../currency.ts";

/**
 * The one status table (docs/status-mapping.md shows the same):
 * a booking waiting for payment is never sent; paid → confirmed; cancelled or refunded → canceled.
 */
export const STATUS_MAP: Readonly<Record<BookingStatus, GuestlyStatus | null>> = {
  pending_payment: null,
  confirmed: "confirmed",
  cancelled: "canceled",
  refunded: "canceled",
};

export function mapStatusToGuestly(status: BookingStatus): GuestlyStatus | null {
  return STATUS_MAP[status];
}

/**
 * What Guestly should hold for the booking, its hold included: a booking waiting for payment is
 * sent only while its hold is being placed or is held (`reserved`: it blocks the nights), or is
 * being released (`canceled`).
 */
export function guestlyTarget(
  booking: { status: BookingStatus; guestly_hold_status?: HoldStatus | null },
): GuestlyStatus | null {
  if (booking.status === "pending_payment") {
    if (booking.guestly_hold_status === "placing" || booking.guestly_hold_status === "held") {
      return "reserved";
    }
    if (booking.guestly_hold_status === "releasing") return "canceled";
  }
  return mapStatusToGuestly(booking.status);
}

/** What the last acknowledged booking status stands for in Guestly (`pending_payment`: a hold). */
export function syncedTarget(syncedStatus: BookingStatus | null | undefined): GuestlyStatus | null {
  if (!syncedStatus) return null;
  return syncedStatus === "pending_payment" ? "reserved" : mapStatusToGuestly(syncedStatus);
}

/**
 * The booking status Guestly's reservation stands for once a round's work is done
 * (record_success's synced_status): a released hold is a cancelled reservation.
 */
export function syncedStatusAfter(
  booking: { status: BookingStatus; guestly_hold_status?: HoldStatus | null },
): BookingStatus {
  return booking.status === "pending_payment" && guestlyTarget(booking) === "canceled"
    ? "cancelled"
    : booking.status;
}

/**
 * Who cancels, in Guesty's enum (OWNER, GUEST, TEAM_MEMBER; HOST since 2026-05-12): a refund is
 * the guest's cancellation, and so is a hold let go (the guest did not pay); an operator's
 * cancel is a team member's (Guesty's own default when none is named) — the operator works in
 * the account, and OWNER is the property's owner, whose statements it would change.
 */
export function statusChange(
  booking: { status: BookingStatus },
  target: GuestlyStatus,
): GuestlyStatusChange {
  if (target !== "canceled") return { status: target };
  return {
    status: target,
    canceledBy: booking.status === "cancelled" ? "TEAM_MEMBER" : "GUEST",
    cancellationReason: `booking ${booking.status}`,
  };
}

/**
 * The source of every reservation we create: with the listing, the stay's dates and the guest's
 * email, the key by which a lookup finds our reservation before its reference is set.
 */
export const BOOKING_REF_SOURCE = "website";

/**
 * The create, with only what Guesty's definition declares for it: our booking reference and the
 * notes are set on the reservation once it exists (bookingReference, bookingNotes), since a
 * create's `customFields` and `notes` are not declared and Guesty drops them.
 */
export function mapBookingToGuestlyReservation(booking: BookingRow): GuestlyReservationCreate {
  const status = guestlyTarget(booking);
  if (status !== "confirmed" && status !== "reserved") {
    throw new Error(`booking ${booking.id} has status ${booking.status}: nothing to create`);
  }
  const phone = normalisePhone(booking.guest_phone, booking.guestly_property_country);
  return {
    listingId: booking.guestly_listing_id,
    checkInDateLocalized: booking.check_in,
    checkOutDateLocalized: booking.check_out,
    status,
    source: BOOKING_REF_SOURCE,
    guestsCount: booking.guests_count,
    guest: {
      firstName: booking.guest_first_name,
      lastName: booking.guest_last_name,
      email: booking.guest_email,
      // The definition requires `phones` on a new guest; with no usable number it is empty
      // (the number as entered goes to the notes). docs/guestly-api.md, "Create".
      phones: phone.kind === "e164" ? [phone.phone] : [],
    },
    money: {
      fareAccommodation: minorToMajor(booking.amount_total, booking.currency),
      currency: booking.currency.toUpperCase(),
    },
    // An operator forced this booking past a calendar conflict (sync:retry --ignore-calendar).
    ...(booking.guestly_ignore_calendar ? { ignoreCalendar: true as const } : {}),
    // A hold blocks the nights for its minutes while the guest pays, then stops blocking.
    ...(status === "reserved"
      ? { reservedUntil: reservedUntilHours(booking.guestly_hold_minutes ?? 0) }
      : {}),
  };
}

/** Our booking id in our custom field (`PUT /reservations-v3/{id}/custom-fields`). */
export function bookingReference(
  booking: Pick<BookingRow, "id">,
  bookingRefFieldId: string,
): GuestlyCustomFieldsUpdate {
  return { customFields: [{ fieldId: bookingRefFieldId, value: booking.id }] };
}

/**
 * The notes the host reads (`PUT /reservations-v3/{id}/notes`), only when there is something the
 * host would otherwise miss: a phone we could not read (null: no notes to send).
 */
export function bookingNotes(booking: BookingRow): GuestlyNotesUpdate | null {
  const phone = normalisePhone(booking.guest_phone, booking.guestly_property_country);
  // Only what the host would otherwise miss: the reference is in its custom field already, and
  // every request counts against Guestly's rate limit (a PUT per reservation, for nothing new).
  if (phone.kind !== "unreadable") return null;
  const notes = [`Website booking ${booking.id}`, `Guest phone (as entered): ${phone.raw}`];
  return { notes: { other: notes.join("\n") } };
}

/**
 * How a payment we record travels in Guestly (see docs/guestly-api.md): a recorded, not a
 * charged, payment. Never CASH: Guesty removed it from recorded methods.
 */
export const PAYMENT_METHOD = "OTHER";

/** Stripe's payment as Guestly records it: major units of the booking's currency. */
export function mapPaymentToGuestly(payment: PendingPayment, paidAt: Date): GuestlyPaymentRecord {
  return {
    paymentMethod: { method: PAYMENT_METHOD },
    amount: minorToMajor(payment.amount, payment.currency),
    paidAt: paidAt.toISOString(),
    note: paymentNote(payment.reference),
  };
}

/** A refund as Guestly records it, on the payment it gives money back from. */
export function mapRefundToGuestly(refund: PendingPayment): { amount: number; note: string } {
  return {
    amount: minorToMajor(refund.amount, refund.currency),
    note: paymentNote(refund.reference),
  };
}

/** The note a payment or refund carries for people in Guestly (never read back: see below). */
export function paymentNote(reference: string): string {
  return `Stripe ${reference}`;
}

/** The Stripe PaymentIntent a refund's reference belongs to (`pi_…#refund-<cumulative>`). */
export function refundedPaymentReference(reference: string): string {
  return reference.split("#")[0];
}

/**
 * A reservation's payment as Guesty's definition declares `money.payments[]` of
 * `GET /reservations/{id}`: `_id`, `amount`, `createdAt`, `refunds` (an array whose items it
 * does not declare), among others. No `note`, no `paymentMethod`, no `paidAt`: nothing we set
 * but the amount comes back, so nothing else is read.
 */
const ListedPayment = z.object({
  _id: z.string().min(1),
  amount: z.number(),
  createdAt: z.string().nullish(),
  refunds: z.array(z.unknown()).nullish(),
});
type ListedPayment = z.infer<typeof ListedPayment>;

/**
 * How far Guestly's clock (a payment's `createdAt`) may be behind ours (a row's `created_at`)
 * before a payment counts as older than the money it would stand for.
 */
export const PAYMENT_CLOCK_SKEW_MS = 10 * 60_000;

function listedPayments(payments: unknown[]): ListedPayment[] {
  const listed = payments.flatMap((p) => {
    const parsed = ListedPayment.safeParse(p);
    return parsed.success ? [parsed.data] : [];
  });
  // Oldest first (a stable sort: Guestly's own order where it shows no time).
  const time = (p: ListedPayment) => p.createdAt ? Date.parse(p.createdAt) : NaN;
  return listed.sort((a, b) => {
    const ta = time(a), tb = time(b);
    return Number.isNaN(ta) || Number.isNaN(tb) ? 0 : ta - tb;
  });
}

/**
 * Whether a listed payment can be the row's: the amount we sent (in the row's currency's units;
 * the listed `currency` is the reservation's, the same on every payment of it, so it tells none
 * apart and is not compared — a mismatch would only make us miss ours and record it twice).
 */
function standsFor(listed: ListedPayment, row: MoneyRow): boolean {
  if (majorToMinor(listed.amount, row.currency) !== row.amount) return false;
  // Money Stripe reported at created_at is recorded after it: an older payment is someone else's.
  const created = listed.createdAt ? Date.parse(listed.createdAt) : NaN;
  return Number.isNaN(created) ||
    created >= Date.parse(row.created_at) - PAYMENT_CLOCK_SKEW_MS;
}

/**
 * Which of the reservation's payments in Guestly is each of ours, by declared fields only
 * (docs/guestly-api.md, "Payments and refunds"). `ours`: our payment rows in the order they were
 * recorded — those recorded, then the one whose outcome is unknown, last. A row whose Guestly id
 * we know keeps that payment; the others take, in order, the oldest payment left of the same
 * amount created after the money was (less PAYMENT_CLOCK_SKEW_MS). So two payments of one amount
 * are told apart by count: the one looked up is found only if Guestly shows one more such
 * payment than we had recorded. Returns our row id → Guestly's payment id.
 */
export function matchPayments(payments: unknown[], ours: MoneyRow[]): Map<string, string> {
  const listed = listedPayments(payments);
  const taken = new Set<string>();
  const matched = new Map<string, string>();
  for (const row of ours) {
    if (row.guestly_payment_id && listed.some((p) => p._id === row.guestly_payment_id)) {
      matched.set(row.id, row.guestly_payment_id);
      taken.add(row.guestly_payment_id);
    }
  }
  for (const row of ours) {
    if (matched.has(row.id)) continue;
    const found = listed.find((p) => !taken.has(p._id) && standsFor(p, row));
    if (found) {
      matched.set(row.id, found._id);
      taken.add(found._id);
    }
  }
  return matched;
}

/**
 * Whether a refund whose answer was lost landed on the payment: the payment shows more refunds
 * than we had recorded on it, and more of the refund's amount. Guesty declares a payment's
 * `refunds` as an array and nothing of its items; what Guestly answers shows each one's `amount`
 * (the sandbox as the legacy read). A new refund of another amount is someone else's (a host's
 * own refund): ours did not land. New refunds that show no amount cannot tell: `ambiguous`.
 * Amounts in minor units of `currency`; `recorded`: our refunds already on that payment.
 */
export function refundLanded(
  payments: unknown[],
  paymentId: string,
  recorded: number[],
  amount: number,
  currency: string,
): "landed" | "not_landed" | "ambiguous" {
  const payment = listedPayments(payments).find((p) => p._id === paymentId);
  const refunds = payment?.refunds ?? [];
  if (refunds.length <= recorded.length) return "not_landed";
  const amounts = refunds.map((item) => {
    const shown = z.object({ amount: z.number() }).safeParse(item);
    return shown.success ? majorToMinor(shown.data.amount, currency) : null;
  });
  if (amounts.some((shown) => shown === null)) return "ambiguous";
  const ofOurAmount = (list: (number | null)[]) => list.filter((a) => a === amount).length;
  return ofOurAmount(amounts) > ofOurAmount(recorded) ? "landed" : "not_landed";
}
