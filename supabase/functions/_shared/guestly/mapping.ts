// Booking → Guestly mapping. Pure: no I/O, no clock.
import {
  type BookingRow,
  type BookingStatus,
  type GuestlyReservationCreate,
  type GuestlyStatus,
} from "./schemas.ts";
import { normalisePhone } from "./phone.ts";

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

/** Where our booking id travels in Guestly (Guesty documents no externalId). */
export const BOOKING_REF_SOURCE = "website";

const ZERO_DECIMAL_CURRENCIES = new Set([
  "bif",
  "clp",
  "djf",
  "gnf",
  "jpy",
  "kmf",
  "krw",
  "mga",
  "pyg",
  "rwf",
  "ugx",
  "vnd",
  "vuv",
  "xaf",
  "xof",
  "xpf",
]);

/** Stripe's three-decimal currencies: minor units are thousandths (Stripe wants the last 0). */
const THREE_DECIMAL_CURRENCIES = new Set(["bhd", "jod", "kwd", "omr", "tnd"]);

/** Stripe amounts are in minor units; Guestly's money is in major units. */
export function minorToMajor(amount: number, currency: string): number {
  const code = currency.toLowerCase();
  if (ZERO_DECIMAL_CURRENCIES.has(code)) return amount;
  // Divide in integers first: 1234.5 / 100 in floating point can end in …0000001.
  const divisor = THREE_DECIMAL_CURRENCIES.has(code) ? 1000 : 100;
  return Number((amount / divisor).toFixed(divisor === 1000 ? 3 : 2));
}

export function mapBookingToGuestlyReservation(
  booking: BookingRow,
  bookingRefFieldId: string,
): GuestlyReservationCreate {
  const status = mapStatusToGuestly(booking.status);
  if (status !== "confirmed") {
    throw new Error(`booking ${booking.id} has status ${booking.status}: nothing to create`);
  }
  const phone = normalisePhone(booking.guest_phone, booking.guestly_property_country);
  const notes = [`Website booking ${booking.id}`];
  if (phone.kind === "unreadable") notes.push(`Guest phone (as entered): ${phone.raw}`);
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
      ...(phone.kind === "e164" ? { phones: [phone.phone] } : {}),
    },
    money: {
      fareAccommodation: minorToMajor(booking.amount_total, booking.currency),
      currency: booking.currency.toUpperCase(),
    },
    customFields: [{ fieldId: bookingRefFieldId, value: booking.id }],
    notes: { other: notes.join("\n") },
    // An operator forced this booking past a calendar conflict (sync:retry --ignore-calendar).
    ...(booking.guestly_ignore_calendar ? { ignoreCalendar: true as const } : {}),
  };
}
