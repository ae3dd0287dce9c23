// What a lookup by our booking reference found, decided without I/O. Guestly's search matches
// loosely (and another integration may use the same custom field for something else), so a hit
// only counts when it really carries our booking id in our field.
import type { GuestlyReservation } from "./schemas.ts";

/** Statuses after which a reservation no longer holds the stay (Guesty's terminal states). */
const ENDED_STATUSES = new Set(["canceled", "declined", "expired", "closed"]);

export function isLive(reservation: Pick<GuestlyReservation, "status">): boolean {
  return !ENDED_STATUSES.has(reservation.status ?? "");
}

export function carriesBookingRef(
  reservation: Pick<GuestlyReservation, "customFields">,
  fieldId: string,
  bookingId: string,
): boolean {
  return (reservation.customFields ?? []).some((field) =>
    field.fieldId === fieldId && field.value === bookingId
  );
}

export type LookupVerdict =
  | { kind: "none"; ignored: number }
  | { kind: "one"; reservation: GuestlyReservation; ignored: number }
  | { kind: "duplicates"; reservations: GuestlyReservation[] };

/** The live reservations among `results` that carry our reference: none, one, or too many. */
export function judgeLookup(
  results: GuestlyReservation[],
  fieldId: string,
  bookingId: string,
): LookupVerdict {
  const ours = results.filter((r) => carriesBookingRef(r, fieldId, bookingId));
  const live = ours.filter(isLive);
  const ignored = results.length - ours.length;
  if (live.length === 0) return { kind: "none", ignored };
  if (live.length === 1) return { kind: "one", reservation: live[0], ignored };
  return { kind: "duplicates", reservations: live };
}

/** The operator-facing text naming every live reservation carrying our reference. */
export function describeDuplicates(reservations: GuestlyReservation[]): string {
  const list = reservations.map((r) =>
    `${r.id}${r.confirmationCode ? ` (${r.confirmationCode})` : ""}${
      r.status ? ` ${r.status}` : ""
    }`
  ).join(", ");
  return `${reservations.length} live Guestly reservations carry this booking's reference: ${list}. ` +
    "Cancel all but one in Guestly, then retry: the retry binds the booking to the one left.";
}
