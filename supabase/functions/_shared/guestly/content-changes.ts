// Which of Guestly's v3 change endpoints a booking needs, decided without I/O from what Guestly
// holds (as far as we know) and what the booking now says. Each change is idempotent in Guestly
// (it sets values, it does not add to them), so a change repeated after a lost answer is harmless.
import type { ReservationContent } from "./schemas.ts";
import { normalisePhone } from "./phone.ts";

export type ContentChange =
  | { kind: "relocate"; listingId: string }
  | { kind: "dates"; checkIn: string; checkOut: string }
  | { kind: "guests"; guestsCount: number }
  | { kind: "guest"; firstName: string; lastName: string; email: string; phone: string | null };

export type ContentOperation = "relocate" | "update_dates" | "update_guests" | "update_guest";

export const CHANGE_OPERATION: Readonly<Record<ContentChange["kind"], ContentOperation>> = {
  relocate: "relocate",
  dates: "update_dates",
  guests: "update_guests",
  guest: "update_guest",
};

/**
 * In the order they are sent: another listing first (its calendar decides whether the stay fits
 * there), then the dates, the guest count, and the guest's details. Nothing known (a booking
 * never created): nothing to change — the create carries the content.
 */
export function planContentChanges(
  synced: ReservationContent | null | undefined,
  desired: ReservationContent | undefined,
): ContentChange[] {
  if (!synced || !desired) return [];
  const changes: ContentChange[] = [];
  if (synced.listing_id !== desired.listing_id) {
    changes.push({ kind: "relocate", listingId: desired.listing_id });
  }
  if (synced.check_in !== desired.check_in || synced.check_out !== desired.check_out) {
    changes.push({ kind: "dates", checkIn: desired.check_in, checkOut: desired.check_out });
  }
  if (synced.guests_count !== desired.guests_count) {
    changes.push({ kind: "guests", guestsCount: desired.guests_count });
  }
  const was = synced.guest;
  const now = desired.guest;
  if (
    was.first_name !== now.first_name || was.last_name !== now.last_name ||
    was.email !== now.email || (was.phone ?? null) !== (now.phone ?? null)
  ) {
    changes.push({
      kind: "guest",
      firstName: now.first_name,
      lastName: now.last_name,
      email: now.email,
      phone: now.phone ?? null,
    });
  }
  return changes;
}

/** What Guestly holds once `change` is applied on top of `content`. */
export function applyChange(
  content: ReservationContent,
  change: ContentChange,
): ReservationContent {
  switch (change.kind) {
    case "relocate":
      return { ...content, listing_id: change.listingId };
    case "dates":
      return { ...content, check_in: change.checkIn, check_out: change.checkOut };
    case "guests":
      return { ...content, guests_count: change.guestsCount };
    case "guest":
      return {
        ...content,
        guest: {
          first_name: change.firstName,
          last_name: change.lastName,
          email: change.email,
          phone: change.phone,
        },
      };
  }
}

/**
 * The guest as `PUT /guests-crud` takes it: the main phone in E.164 (an unreadable number is
 * left out), and the guest's tags as Guestly holds them (the PUT replaces them).
 */
export function guestPayload(
  change: Extract<ContentChange, { kind: "guest" }>,
  country: string | null | undefined,
  tags: string[],
): { firstName: string; lastName: string; email: string; phone?: string; tags: string[] } {
  const phone = normalisePhone(change.phone, country);
  return {
    firstName: change.firstName,
    lastName: change.lastName,
    email: change.email,
    ...(phone.kind === "e164" ? { phone: phone.phone } : {}),
    tags,
  };
}

/**
 * What a reservation found in Guestly holds (an earlier create made it, possibly with older
 * content), read from the search hit; a field the hit does not carry is taken as the booking's.
 * (A guest changed between a lost create and this lookup, on a Guestly whose search omits the
 * guest, is then not sent: rare, and the next change of the guest sends it.)
 */
export function contentOf(
  reservation: {
    listingId?: string | null;
    checkInDateLocalized?: string | null;
    checkOutDateLocalized?: string | null;
    guestsCount?: number | null;
    guest?: {
      firstName?: string | null;
      lastName?: string | null;
      email?: string | null;
      phones?: string[] | null;
    } | null;
  },
  desired: ReservationContent | undefined,
): ReservationContent | undefined {
  if (!desired) return undefined;
  const guest = reservation.guest;
  return {
    listing_id: reservation.listingId ?? desired.listing_id,
    check_in: reservation.checkInDateLocalized?.slice(0, 10) ?? desired.check_in,
    check_out: reservation.checkOutDateLocalized?.slice(0, 10) ?? desired.check_out,
    guests_count: reservation.guestsCount ?? desired.guests_count,
    guest: guest
      ? {
        first_name: guest.firstName ?? "",
        last_name: guest.lastName ?? "",
        email: guest.email ?? "",
        // Guestly holds the number as E.164; the booking's as typed: compared as the booking's
        // when Guestly holds the same number, so an unchanged phone is not sent again.
        phone: samePhone(guest.phones?.[0], desired.guest.phone)
          ? desired.guest.phone
          : guest.phones?.[0] ?? null,
      }
      : desired.guest,
  };
}

function samePhone(held: string | null | undefined, typed: string | null): boolean {
  if (!held || !typed) return !held && !typed;
  const normalised = normalisePhone(typed);
  return normalised.kind === "e164" && normalised.phone === held;
}
