// Booking → Guestly mapping. Pure: no I/O, no clock.
import {
  type BookingRow,
  type BookingStatus,
  type GuestlyCustomFieldsUpdate,
  type GuestlyNotesUpdate,
  type GuestlyPaymentRecord,
  type GuestlyReservationCreate,
  type GuestlyStatus,
  type GuestlyStatusChange,
  type PendingPayment,
} from "./schemas.ts";
import { normalisePhone } from "./phone.ts";
import { type HoldStatus, reservedUntilHours } from "./hold.ts";
import { minorToMajor } from "../currency.ts";

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

/** The notes the host reads (`PUT /reservations-v3/{id}/notes`): a phone we could not read too. */
export function bookingNotes(booking: BookingRow): GuestlyNotesUpdate {
  const phone = normalisePhone(booking.guest_phone, booking.guestly_property_country);
  const notes = [`Website booking ${booking.id}`];
  if (phone.kind === "unreadable") notes.push(`Guest phone (as entered): ${phone.raw}`);
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

/** The note that names our reference in Guestly: how a payment or refund is found again. */
export function paymentNote(reference: string): string {
  return `Stripe ${reference}`;
}

/** The Stripe PaymentIntent a refund's reference belongs to (`pi_…#refund-<cumulative>`). */
export function refundedPaymentReference(reference: string): string {
  return reference.split("#")[0];
}

interface RecordedPayment {
  _id?: unknown;
  id?: unknown;
  note?: unknown;
  refunds?: unknown;
}

/** Guestly's id of the payment whose note carries `reference`, among a reservation's payments. */
export function findRecordedPayment(payments: unknown[], reference: string): string | null {
  const note = paymentNote(reference);
  const found = (payments as RecordedPayment[]).findLast((payment) => payment?.note === note);
  return found ? String(found._id ?? found.id ?? "") || null : null;
}

/** Whether a refund whose note carries `reference` is among the payment's refunds. */
export function refundRecorded(payments: unknown[], paymentId: string, reference: string): boolean {
  const note = paymentNote(reference);
  const payment = (payments as RecordedPayment[]).find((p) =>
    String(p?._id ?? p?.id) === paymentId
  );
  const refunds = Array.isArray(payment?.refunds) ? payment.refunds as RecordedPayment[] : [];
  return refunds.some((refund) => refund?.note === note);
}
