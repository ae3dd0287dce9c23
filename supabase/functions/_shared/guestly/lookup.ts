// What a lookup by our booking reference found, decided without I/O. Guestly's search matches
// loosely (and another integration may use the same custom field for something else), so a hit
// only counts when it really carries our booking id in our field.
import { GuestlyReservation } from "./schemas.ts";

/** Statuses after which a reservation no longer holds the stay (Guesty's terminal states). */
const ENDED_STATUSES = new Set(["canceled", "declined", "expired", "closed"]);

export function isLive(reservation: Pick<GuestlyReservation, "status">): boolean {
  return !ENDED_STATUSES.has(reservation.status ?? "");
}

/**
 * Whether a raw search hit carries our booking id in our field — read from the raw object, so a
 * foreign reservation whose fields have other shapes (a number in a custom field) can never stop
 * the lookup.
 */
export function carriesBookingRef(raw: unknown, fieldId: string, bookingId: string): boolean {
  const fields = (raw as { customFields?: unknown })?.customFields;
  return Array.isArray(fields) &&
    fields.some((field) =>
      (field as { fieldId?: unknown })?.fieldId === fieldId &&
      (field as { value?: unknown })?.value === bookingId
    );
}

export type LookupVerdict =
  | { kind: "none"; ignored: number }
  | { kind: "one"; reservation: GuestlyReservation; ignored: number }
  | { kind: "duplicates"; reservations: GuestlyReservation[] }
  /** Ours, but we cannot tell which or how many: an operator must look. */
  | { kind: "unreadable"; error: string };

/** The live reservations among one page of hits that carry our reference: none, one, too many. */
export function judgeLookup(
  page: { results: unknown[]; count?: number },
  fieldId: string,
  bookingId: string,
): LookupVerdict {
  if (page.count !== undefined && page.count > page.results.length) {
    return {
      kind: "unreadable",
      error: `the lookup by our booking reference matched ${page.count} reservations, more than ` +
        `one page (${page.results.length}): check Guestly for reservations carrying ${bookingId}`,
    };
  }
  const raw = page.results.filter((r) => carriesBookingRef(r, fieldId, bookingId));
  const ours: GuestlyReservation[] = [];
  for (const hit of raw) {
    const parsed = GuestlyReservation.safeParse(hit);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return {
        kind: "unreadable",
        error: `a Guestly reservation carrying this booking's reference could not be read ` +
          `(${issue.path.join(".") || "reservation"}: ${issue.message}): check it in Guestly`,
      };
    }
    ours.push(parsed.data);
  }
  const live = ours.filter(isLive);
  const ignored = page.results.length - raw.length;
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
