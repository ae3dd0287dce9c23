// Which of the reservations a lookup found is ours, decided without I/O. The lookup searches by
// what Guesty declares and returns: the stay (listing, check-in, check-out) with our source. A
// live confirmed or reserved reservation holds its nights, so on one listing those name at most
// one live reservation; with our source and the guest's email it is a key Guesty already has.
// Our booking reference is set on the reservation only after the create (reference-step.ts), so
// a create that committed behind a lost answer carries none yet: a hit on the key with no
// reference is ours, one with our reference is ours wherever it is, and one carrying another
// booking's reference is never ours.
import { GuestlyReservation } from "./schemas.ts";

/** Statuses after which a reservation no longer holds the stay (Guesty's terminal states). */
const ENDED_STATUSES = new Set(["canceled", "declined", "expired", "closed"]);

export function isLive(reservation: Pick<GuestlyReservation, "status">): boolean {
  return !ENDED_STATUSES.has(reservation.status ?? "");
}

/** What names our reservation: our reference, or the stay with our source and the guest. */
export interface LookupKey {
  bookingId: string;
  /** Our custom field (GUESTLY_BOOKING_REF_FIELD_ID). */
  fieldId: string;
  listingId: string;
  checkIn: string;
  checkOut: string;
  source: string;
  email: string;
}

/**
 * The value of our field on a raw hit: undefined when the hit has none (or no readable one) —
 * read from the raw object, so a foreign reservation whose fields have other shapes (a number
 * in a custom field) can never stop the lookup.
 */
export function referenceOf(raw: unknown, fieldId: string): string | undefined {
  const fields = (raw as { customFields?: unknown })?.customFields;
  if (!Array.isArray(fields)) return undefined;
  const ours = fields.find((field) => (field as { fieldId?: unknown })?.fieldId === fieldId) as
    | { value?: unknown }
    | undefined;
  const value = ours?.value;
  return typeof value === "string" && value !== "" ? value : undefined;
}

export function carriesBookingRef(raw: unknown, fieldId: string, bookingId: string): boolean {
  return referenceOf(raw, fieldId) === bookingId;
}

/** Guest emails read from the guests' profiles, by guest id (for hits that show no guest). */
export type GuestEmails = ReadonlyMap<string, string | null>;

function guestIdOf(raw: unknown): string | undefined {
  const r = raw as { guestId?: unknown; bookerId?: unknown } | null;
  const id = r?.guestId ?? r?.bookerId;
  return typeof id === "string" && id !== "" ? id : undefined;
}

/** The email a hit shows for its guest, or its guest's profile does (lower case). */
export function guestEmailOf(raw: unknown, emails: GuestEmails = new Map()): string | undefined {
  const shown = (raw as { guest?: { email?: unknown } })?.guest?.email;
  const guestId = guestIdOf(raw);
  const email = typeof shown === "string" && shown !== ""
    ? shown
    : guestId
    ? emails.get(guestId)
    : undefined;
  return typeof email === "string" && email !== "" ? email.trim().toLowerCase() : undefined;
}

const day = (value: unknown) => typeof value === "string" ? value.slice(0, 10) : undefined;

/** Whether a raw hit is on our stay's key: listing, both dates and source, as Guestly returns. */
export function onStayKey(raw: unknown, key: LookupKey): boolean {
  const r = raw as Record<string, unknown> | null;
  return r?.listingId === key.listingId && day(r?.checkInDateLocalized) === key.checkIn &&
    day(r?.checkOutDateLocalized) === key.checkOut && r?.source === key.source;
}

/**
 * A hit on the key with no reference and no guest email: the lookup must read the guest's email
 * (GET /guests-crud/{id}) before it can judge, since the search may not return the guest.
 */
export function needsGuestEmail(raw: unknown, key: LookupKey): string | null {
  if (!onStayKey(raw, key) || referenceOf(raw, key.fieldId) !== undefined) return null;
  if (guestEmailOf(raw) !== undefined) return null;
  if (ENDED_STATUSES.has(String((raw as { status?: unknown }).status ?? ""))) return null;
  return guestIdOf(raw) ?? null;
}

export type LookupVerdict =
  | { kind: "none"; ignored: number }
  | { kind: "one"; reservation: GuestlyReservation; ignored: number }
  | { kind: "duplicates"; reservations: GuestlyReservation[] }
  /** Ours, but we cannot tell which or how many: an operator must look. */
  | { kind: "unreadable"; error: string };

/** Why a raw hit is ours, or null when it is not: on any of the keys (the stays creates sent). */
function oursBy(
  raw: unknown,
  keys: readonly LookupKey[],
  emails: GuestEmails,
): "reference" | "key" | null {
  const [{ fieldId, bookingId }] = keys;
  const reference = referenceOf(raw, fieldId);
  if (reference === bookingId) return "reference";
  // Another booking's reference: that booking's reservation, even on our stay's key.
  if (reference !== undefined) return null;
  const email = guestEmailOf(raw, emails);
  return keys.some((key) => onStayKey(raw, key) && email === key.email.trim().toLowerCase())
    ? "key"
    : null;
}

/**
 * The live reservations of ours among one page of hits: none, one, too many. `emails`: the
 * guests' emails read for hits that show no guest (needsGuestEmail).
 */
export function judgeLookup(
  page: { results: unknown[]; count?: number },
  keyOrKeys: LookupKey | readonly LookupKey[],
  emails: GuestEmails = new Map(),
  /** Reservations other bookings record (or held): theirs, even on our stay with our guest. */
  recordedElsewhere: ReadonlySet<string> = new Set(),
): LookupVerdict {
  const keys: readonly LookupKey[] = Array.isArray(keyOrKeys) ? keyOrKeys : [keyOrKeys];
  const key = keys[0];
  if (page.count !== undefined && page.count > page.results.length) {
    return {
      kind: "unreadable",
      error: `the lookup of this booking's stay matched ${page.count} reservations, more than ` +
        `one page (${page.results.length}): check Guestly for reservations of booking ` +
        key.bookingId,
    };
  }
  const raw = page.results.filter((r) =>
    !recordedElsewhere.has(String((r as { _id?: unknown })?._id)) &&
    oursBy(r, keys, emails) !== null
  );
  const ours: GuestlyReservation[] = [];
  for (const hit of raw) {
    const parsed = GuestlyReservation.safeParse(hit);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return {
        kind: "unreadable",
        error: `a Guestly reservation that is this booking's could not be read ` +
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

/** The operator-facing text naming every live reservation that is this booking's. */
export function describeDuplicates(reservations: GuestlyReservation[]): string {
  const list = reservations.map((r) =>
    `${r.id}${r.confirmationCode ? ` (${r.confirmationCode})` : ""}${
      r.status ? ` ${r.status}` : ""
    }`
  ).join(", ");
  return `${reservations.length} live Guestly reservations are this booking's (its reference, ` +
    `or its stay and guest with none set): ${list}. Cancel all but one in Guestly, then retry: ` +
    "the retry binds the booking to the one left.";
}
