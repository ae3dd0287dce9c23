// Holds while the guest pays (GUESTLY_HOLD_MINUTES). Pure: the hold states and the numbers
// Guestly's hold takes; which Guestly status a hold asks for is in the status table
// (mapping.ts). The states themselves are decided in SQL (migration …001_booking_schema lists them).
import { z } from "zod";
import type { BookingStatus } from "./schemas.ts";

export const HOLD_STATUSES = [
  "placing",
  "held",
  "unavailable",
  "failed",
  "releasing",
  "released",
  "expired",
  "confirmed",
  "cancelled",
] as const;
export const HoldStatus = z.enum(HOLD_STATUSES);
export type HoldStatus = z.infer<typeof HoldStatus>;

/** Work on a booking that is not paid yet: its hold. It waits behind paid bookings. */
export function isHoldWork(booking: { status: BookingStatus }): boolean {
  return booking.status === "pending_payment";
}

/**
 * The hold lengths Guesty's `reservedUntil` takes (in hours: 0.17 is its 10 minutes), by the
 * minutes GUESTLY_HOLD_MINUTES names. Any other value Guesty refuses, so no other is accepted.
 */
const RESERVED_UNTIL_BY_MINUTES: Readonly<Record<number, number>> = {
  10: 0.17,
  15: 0.25,
  30: 0.5,
  720: 12,
  1440: 24,
  2160: 36,
  2880: 48,
  4320: 72,
};

export function reservedUntilHours(minutes: number): number {
  const hours = RESERVED_UNTIL_BY_MINUTES[minutes];
  if (hours === undefined) throw new Error(`no reservedUntil for a ${minutes}-minute hold`);
  return hours;
}

const ALLOWED_MINUTES = Object.keys(RESERVED_UNTIL_BY_MINUTES).join(", ");

/** GUESTLY_HOLD_MINUTES: 0 (off) or one of the hold lengths Guesty's reservedUntil allows. */
export const HoldMinutes = z.string().optional().transform((v, ctx) => {
  if (v === undefined || v.trim() === "") return 0;
  const n = Number(v);
  if (n !== 0 && !(n in RESERVED_UNTIL_BY_MINUTES)) {
    ctx.addIssue({
      code: "custom",
      message: `must be 0 (off) or one of Guesty's hold lengths in minutes: ${ALLOWED_MINUTES}`,
    });
    return z.NEVER;
  }
  return n;
});
