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
] as const;
export const HoldStatus = z.enum(HOLD_STATUSES);
export type HoldStatus = z.infer<typeof HoldStatus>;

/** Work on a booking that is not paid yet: its hold. It waits behind paid bookings. */
export function isHoldWork(booking: { status: BookingStatus }): boolean {
  return booking.status === "pending_payment";
}

/** Guesty's reservedUntil is in hours (0.17 ≈ 10 minutes); four decimals keep it to the second. */
export function reservedUntilHours(minutes: number): number {
  return Number((minutes / 60).toFixed(4));
}

/** GUESTLY_HOLD_MINUTES: 0 (off) or whole minutes up to a day. */
export const HoldMinutes = z.string().optional().transform((v, ctx) => {
  if (v === undefined || v.trim() === "") return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 1440) {
    ctx.addIssue({ code: "custom", message: "must be a whole number of minutes from 0 to 1440" });
    return z.NEVER;
  }
  return n;
});
