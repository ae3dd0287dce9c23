// The reconciliation's judgement, without I/O: given the bookings that should be in Guestly and
// the reservations Guestly holds with our source, what disagrees, and whether it is safe to heal.
// Safe means the usual path can do it without risk of doubling anything: a sync episode that
// looks up before it creates (a reservation deleted in Guestly), a status or content re-sent (both
// are set, not added, in Guestly), or a change made in Guestly applied as its webhook would have
// been. Everything else (duplicates, reservations nobody here holds) is for an operator.
import { z } from "zod";

/**
 * Guestly statuses after which a reservation no longer holds the stay: the same list as
 * guestly_events.ends_stay, which applies a missed change. (With `closed` here but not there, a
 * closed reservation was drift whose apply changed nothing: reported again every day.)
 */
const ENDED = new Set(["canceled", "declined", "expired"]);
/** The reason of a cancelled booking whose reservation the host made live again in Guestly. */
export const REINSTATED_IN_GUESTLY = "reinstated_in_guestly";
/** A live reservation without our reference on the stay of a booking that holds none. */
export const ON_STAY_OF_UNBOUND_BOOKING = "unreferenced_on_stay_of_unbound_booking";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const BookingStatus = z.enum(["pending_payment", "confirmed", "cancelled", "refunded"]);

const Content = z.object({
  listing_id: z.string().nullish(),
  check_in: z.string().nullish(),
  check_out: z.string().nullish(),
  guests_count: z.number().int().nullish(),
}).passthrough();
export type Content = z.infer<typeof Content>;

/** One row of guestly_reconcile.bookings_to_check(). */
export const BookingSnapshot = z.object({
  id: z.string().uuid(),
  status: BookingStatus,
  reservation_id: z.string().nullable(),
  desired: Content.nullable(),
  synced: Content.nullable(),
  /** The stays creates sent while no reservation was recorded (bookings.guestly_create_keys). */
  create_keys: z.array(Content).optional(),
  synced_status: z.string().nullable(),
  sync_status: z.string().nullable(),
  in_flight: z.boolean(),
  updated_at: z.string(),
});
export type BookingSnapshot = z.infer<typeof BookingSnapshot>;

/** A reservation as the search lists it, reduced to what the comparison reads. */
export interface ListedReservation {
  id: string;
  status: string | null;
  source: string | null;
  listingId: string | null;
  checkIn: string | null;
  checkOut: string | null;
  guestsCount: number | null;
  canceledBy: string | null;
  /** Our booking id from the custom field, when it has one (any string: checked here). */
  bookingRef: string | null;
  lastUpdatedAt: string | null;
}

export type DriftKind =
  | "missing_in_guestly"
  | "not_ours"
  | "status_differs"
  | "content_differs"
  | "duplicate"
  | "missed_webhook";

/** How a drift is healed: `resync` (lookup, then create), `resend` (status or content), `apply`. */
export type Heal =
  | { kind: "resync" }
  | { kind: "resend"; status: boolean }
  | { kind: "apply"; stay: ApplyStay }
  | null;

/** What guestly_events.apply_guestly_change is told (snake_case: it goes into SQL as is). */
export interface ApplyStay {
  status: string | null;
  check_in: string | null;
  check_out: string | null;
  guests_count: number | null;
  canceled_by: string | null;
}

export interface DriftItem {
  kind: DriftKind;
  bookingId: string | null;
  reservationId: string | null;
  /** What was compared: statuses, dates, reasons. Never guest contact data. */
  details: Record<string, unknown>;
  heal: Heal;
  /** For apply: when Guestly last changed the reservation (ordering against other events). */
  guestlyUpdatedAt?: string | null;
}

export interface ClassifyOptions {
  /** Changes younger than this are left alone: their webhook or sync may still be on its way. */
  settleMs: number;
  now: number;
}

const TARGET: Record<BookingStatus, string | null> = {
  pending_payment: null,
  confirmed: "confirmed",
  cancelled: "canceled",
  refunded: "canceled",
};
type BookingStatus = z.infer<typeof BookingStatus>;

export function isLive(status: string | null): boolean {
  return !ENDED.has(status ?? "");
}

/** A stay as one key (listing, check-in, check-out), or null when a part is unknown. */
function stayKey(c: Content | null | undefined): string | null {
  if (!c?.listing_id || !c.check_in || !c.check_out) return null;
  return `${c.listing_id}|${c.check_in.slice(0, 10)}|${c.check_out.slice(0, 10)}`;
}

function contentOf(r: ListedReservation): Content {
  return {
    listing_id: r.listingId,
    check_in: r.checkIn?.slice(0, 10) ?? null,
    check_out: r.checkOut?.slice(0, 10) ?? null,
    guests_count: r.guestsCount,
  };
}

const FIELDS = ["listing_id", "check_in", "check_out", "guests_count"] as const;

function differing(a: Content, b: Content): string[] {
  return FIELDS.filter((f) => (a[f] ?? null) !== (b[f] ?? null));
}

function pick(c: Content, fields: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(fields.map((f) => [f, c[f as keyof Content] ?? null]));
}

function stayOf(r: ListedReservation): ApplyStay {
  return {
    status: r.status,
    check_in: r.checkIn?.slice(0, 10) ?? null,
    check_out: r.checkOut?.slice(0, 10) ?? null,
    guests_count: r.guestsCount,
    canceled_by: r.canceledBy,
  };
}

function recent(at: string | null | undefined, o: ClassifyOptions): boolean {
  if (!at) return false;
  const t = Date.parse(at);
  return Number.isFinite(t) && o.now - t < o.settleMs;
}

/**
 * One booking against the reservation it is bound to (`null`: Guestly answered 404 for it).
 * Returns the drift, or null when they agree (or the sync is still at work).
 */
export function compareBound(
  b: BookingSnapshot,
  r: ListedReservation | null,
  o: ClassifyOptions,
): DriftItem | null {
  // The sync is at it (or will be within minutes): what Guestly holds is about to change.
  if (b.in_flight || recent(b.updated_at, o)) return null;
  const target = TARGET[b.status];
  const base = { bookingId: b.id, reservationId: b.reservation_id };
  if (r === null) {
    // A cancelled booking whose reservation is gone holds nothing either: they agree.
    if (target !== "confirmed") return null;
    return {
      ...base,
      kind: "missing_in_guestly",
      details: { booking_status: b.status, guestly: "not found (404)" },
      heal: { kind: "resync" },
    };
  }
  if (recent(r.lastUpdatedAt, o)) return null;
  // Guestly holds only our hold (the payment, if any, has not confirmed it) and the host
  // cancelled it (or Guestly declined it), and its webhook never came: apply it as the webhook
  // would have — the booking lets go of the hold, the website stops hearing `held`, and a payment
  // makes a new reservation instead of confirming the cancelled one. (`expired` is the hold's
  // time running out: no drift.)
  if (
    b.synced_status === "pending_payment" && (target === null || target === "confirmed") &&
    (r.status === "canceled" || r.status === "declined")
  ) {
    return {
      ...base,
      kind: "missed_webhook",
      details: { booking_status: b.status, guestly_status: r.status, reason: "hold_cancelled" },
      heal: { kind: "apply", stay: stayOf(r) },
      guestlyUpdatedAt: r.lastUpdatedAt,
    };
  }
  if (target === null) {
    // A hold while the guest pays (GUESTLY_HOLD_MINUTES, docs/holds.md): Guestly holds it
    // `reserved` until its end, as it should.
    if (
      b.status === "pending_payment" && b.synced_status === "pending_payment" &&
      r.status === "reserved"
    ) return null;
    // A booking not paid (yet, or any more) whose reservation Guestly still holds live.
    return isLive(r.status)
      ? {
        ...base,
        kind: "not_ours",
        details: { reason: "booking_not_paid", booking_status: b.status, guestly_status: r.status },
        heal: null,
      }
      : null;
  }
  const knownStatus = b.synced_status ? TARGET[b.synced_status as BookingStatus] ?? null : null;
  const statusDetails = {
    booking_status: b.status,
    guestly_status: r.status,
    known_guestly_status: knownStatus,
  };
  if (target === "canceled") {
    if (!isLive(r.status)) return null;
    // We knew Guestly had it cancelled, and it is live again: someone in Guestly (the host)
    // reinstated it. Cancelling it again would overwrite their decision: the admin decides.
    if (knownStatus === "canceled") {
      return {
        ...base,
        kind: "status_differs",
        details: { ...statusDetails, reason: REINSTATED_IN_GUESTLY },
        heal: null,
      };
    }
    // Guestly still holds a stay the website no longer sells (our cancellation never reached
    // it): cancelling again is idempotent.
    return {
      ...base,
      kind: "status_differs",
      details: statusDetails,
      heal: { kind: "resend", status: true },
    };
  }
  // target confirmed
  if (!isLive(r.status)) {
    // We knew Guestly held it confirmed, so Guestly changed it and the webhook never came: apply
    // it as the webhook would have (the booking is cancelled, a paid one alerts the admin).
    if (knownStatus === "confirmed") {
      return {
        ...base,
        kind: "missed_webhook",
        details: statusDetails,
        heal: { kind: "apply", stay: stayOf(r) },
        guestlyUpdatedAt: r.lastUpdatedAt,
      };
    }
    return { ...base, kind: "status_differs", details: statusDetails, heal: null };
  }
  if (r.status !== "confirmed") {
    // Live but not confirmed (a hold, an inquiry): the confirmation did not arrive.
    return {
      ...base,
      kind: "status_differs",
      details: statusDetails,
      heal: { kind: "resend", status: true },
    };
  }
  const guestly = contentOf(r);
  const desired = b.desired ?? {};
  const diff = differing(guestly, desired);
  if (diff.length === 0) return null;
  // Which fields Guestly changed (it differs from what the sync last left there) and which are
  // ours still to send (Guestly holds what we knew, the booking has moved on). Without a record
  // of what Guestly held, the booking is what we sent.
  const known = b.synced ?? desired;
  const changedInGuestly = differing(guestly, known);
  const details = {
    differs: diff,
    booking: pick(desired, diff),
    guestly: pick(guestly, diff),
    changed_in_guestly: changedInGuestly,
  };
  if (changedInGuestly.length > 0) {
    // Another listing is a move we never follow on our own (it changes what was sold).
    if (changedInGuestly.includes("listing_id")) {
      return { ...base, kind: "content_differs", details, heal: null };
    }
    return {
      ...base,
      kind: "missed_webhook",
      details,
      heal: { kind: "apply", stay: stayOf(r) },
      guestlyUpdatedAt: r.lastUpdatedAt,
    };
  }
  return { ...base, kind: "content_differs", details, heal: { kind: "resend", status: false } };
}

export interface ClassifyInput {
  bookings: BookingSnapshot[];
  /** Every reservation the search returned (our source). */
  listed: ListedReservation[];
  /**
   * Bound reservations the search did not return, read one by one: the reservation, or null
   * when Guestly answered 404. A bound id missing from this map was not read (not classified).
   */
  readById: Map<string, ListedReservation | null>;
}

/** Every drift between the bookings and Guestly. */
export function classify(input: ClassifyInput, o: ClassifyOptions): DriftItem[] {
  const items: DriftItem[] = [];
  const byId = new Map(input.listed.map((r) => [r.id, r]));
  const bookings = new Map(input.bookings.map((b) => [b.id, b]));
  const bound = new Set(input.bookings.map((b) => b.reservation_id).filter((x) => x !== null));
  // Live reservations carrying each booking's reference.
  const liveByRef = new Map<string, ListedReservation[]>();
  for (const r of input.listed) {
    if (!r.bookingRef || !isLive(r.status)) continue;
    liveByRef.set(r.bookingRef, [...(liveByRef.get(r.bookingRef) ?? []), r]);
  }
  // Our reference is set after the create (Guesty's create cannot carry it): a live reservation
  // of ours without one yet is known by its stay — a live one holds its nights, so on a listing
  // the stay names at most one. The bookings by the stay they ask for, or a create of theirs sent
  // before the stay changed:
  const staysOf = (b: BookingSnapshot) =>
    new Set([b.desired, ...(b.create_keys ?? [])].map(stayKey).filter((k) => k !== null));
  const byStay = new Map<string, BookingSnapshot[]>();
  for (const b of input.bookings) {
    for (const key of staysOf(b)) byStay.set(key, [...(byStay.get(key) ?? []), b]);
  }
  // Bookings reported below as missing their reservation, with the unbound ones on their stay.
  const reportedUnbound = new Set<string>();
  const unreferencedOnStay = (b: BookingSnapshot) =>
    input.listed.filter((r) =>
      !r.bookingRef && isLive(r.status) && !bound.has(r.id) &&
      staysOf(b).has(stayKey(contentOf(r)) ?? "")
    );

  for (const b of input.bookings) {
    if (b.reservation_id) {
      const r = byId.get(b.reservation_id) ?? input.readById.get(b.reservation_id);
      if (r === undefined) continue;
      const item = compareBound(b, r, o);
      // A sync that failed (still retrying, or for good with its own alert) is reported, never
      // healed behind its back: a heal restarts its episode, and a failure that stands (taken
      // nights) would fail and alert again every day.
      if (item && b.sync_status === "failed") items.push({ ...item, heal: null });
      else if (item) items.push(item);
      continue;
    }
    // Confirmed without a reservation: the sync is at it, or failed for good (its own alert
    // said why). One that believes it is done has lost its reservation: sync it again (the
    // lookup binds one of ours if Guestly has it).
    if (b.status !== "confirmed" || b.in_flight || b.sync_status === "failed") continue;
    if (recent(b.updated_at, o)) continue;
    const found = liveByRef.get(b.id) ?? [];
    // Not referenced yet, on the booking's stay: the resync's lookup decides (it checks the
    // guest), binding it rather than creating a second one.
    const onStay = unreferencedOnStay(b);
    reportedUnbound.add(b.id);
    items.push({
      kind: "missing_in_guestly",
      bookingId: b.id,
      reservationId: null,
      details: {
        booking_status: b.status,
        guestly: found.length
          ? "unbound reservations carry our reference"
          : onStay.length
          ? "unbound reservations without a reference are on its stay"
          : "no reservation",
        unbound_reservations: [...found, ...onStay].map((r) => r.id),
      },
      heal: { kind: "resync" },
    });
  }

  for (const r of input.listed) {
    if (bound.has(r.id) || !isLive(r.status) || recent(r.lastUpdatedAt, o)) continue;
    const ref = r.bookingRef && UUID.test(r.bookingRef) ? r.bookingRef.toLowerCase() : null;
    const b = ref ? bookings.get(ref) : undefined;
    const details = { guestly_status: r.status, booking_ref: r.bookingRef };
    // No reference (yet): a booking's by its stay, when one asks for exactly that stay.
    const onItsStay = r.bookingRef ? [] : byStay.get(stayKey(contentOf(r)) ?? "") ?? [];
    const unbound = onItsStay.find((x) => x.reservation_id === null);
    const boundElsewhere = onItsStay.find((x) => x.reservation_id !== null);
    if (
      !ref && unbound &&
      (unbound.in_flight || reportedUnbound.has(unbound.id) || recent(unbound.updated_at, o))
    ) {
      // Reported with the booking above (its resync's lookup binds it), or its sync is at it.
      continue;
    } else if (!ref && unbound) {
      // Its booking is not reported above (its sync failed, or it is not confirmed): this one
      // must not go unseen — perhaps a create of ours that committed unseen, perhaps a host's.
      items.push({
        kind: "duplicate",
        bookingId: unbound.id,
        reservationId: r.id,
        details: {
          ...details,
          reason: ON_STAY_OF_UNBOUND_BOOKING,
          booking_status: unbound.status,
          booking_sync_status: unbound.sync_status,
        },
        heal: null,
      });
    } else if (!ref && boundElsewhere) {
      // The booking holds another reservation on the very same stay: a second one of ours whose
      // reference was never set (a create that committed unseen).
      items.push({
        kind: "duplicate",
        bookingId: boundElsewhere.id,
        reservationId: r.id,
        details: {
          ...details,
          reason: "same_stay_without_reference",
          booking_reservation_id: boundElsewhere.reservation_id,
          booking_status: boundElsewhere.status,
        },
        heal: null,
      });
    } else if (!ref) {
      items.push({
        kind: "not_ours",
        bookingId: null,
        reservationId: r.id,
        details: { ...details, reason: "no_booking_reference" },
        heal: null,
      });
    } else if (!b) {
      items.push({
        kind: "not_ours",
        bookingId: null,
        reservationId: r.id,
        details: { ...details, reason: "no_booking_holds_it" },
        heal: null,
      });
    } else if (b.reservation_id === null) {
      // Reported with the booking above (its resync binds it), unless the sync is at it.
      continue;
    } else {
      items.push({
        kind: "duplicate",
        bookingId: b.id,
        reservationId: r.id,
        details: { ...details, booking_reservation_id: b.reservation_id, booking_status: b.status },
        heal: null,
      });
    }
  }
  return items;
}
