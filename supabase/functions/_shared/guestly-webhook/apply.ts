// Applying one recorded Guestly event: decide what we need to know, read the reservation from
// Guestly only when the payload and our own records do not tell (a reservation we have not bound
// yet: is it ours?), then one SQL call applies it (guestly_events.apply_guestly_change, which
// owns every rule about the booking). Pure but for the injected store and reader.
import type { HttpAttempt } from "../guestly/client.ts";
import type { ReservationDetails } from "../guestly/schemas.ts";
import { BOOKING_REF_SOURCE } from "../guestly/mapping.ts";
import { majorToMinor } from "../currency.ts";
import type { Logger } from "../log.ts";
import { type Stay, stayFromPayload } from "./event.ts";

export interface RecordedEvent {
  found: boolean;
  outcome: string | null;
  eventType?: string;
  reservationId?: string | null;
  payload?: Record<string, unknown>;
  /** The booking the sync already bound to this reservation id. */
  boundBookingId?: string | null;
}

/** What guestly_events.apply_guestly_change is told (snake_case: it goes into SQL as is). */
export interface SqlStay {
  status: string | null;
  check_in: string | null;
  check_out: string | null;
  guests_count: number | null;
  canceled_by?: string | null;
  /** Guestly's price of the stay in minor units, when we read it. */
  total_minor?: number | null;
}

export interface ApplyInput {
  bookingRef?: string | null;
  stay?: SqlStay;
  ignoreReason?: string | null;
}

export interface ApplyResult {
  outcome: "applied" | "no_change" | "stale" | "ignored" | null;
  reason?: string | null;
  bookingId?: string | null;
  changes?: Record<string, unknown> | null;
  duplicate?: boolean;
  deferred?: boolean;
}

export interface ApplyStore {
  load(messageId: string): Promise<RecordedEvent>;
  apply(messageId: string, input: ApplyInput): Promise<ApplyResult>;
  fail(messageId: string, error: string): Promise<void>;
  /**
   * The one booking whose sync is finding out whether its create happened on this stay (an
   * unknown outcome being looked up): a reservation of ours without a reference yet is its.
   */
  bookingAwaitingStay?(
    stay: { listingId: string; checkIn: string; checkOut: string },
  ): Promise<string | null>;
}

export interface ApplyDeps {
  store: ApplyStore;
  /** GET /reservations-v3/{id} through the shared token cache and rate limiter. */
  readReservation: (reservationId: string) => Promise<HttpAttempt<ReservationDetails>>;
  bookingRefFieldId: string;
  log: Logger;
}

export type ApplyOutcome =
  | ApplyResult
  | { outcome: "retry_later"; error: string }
  | { outcome: "missing" };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function sqlStay(s: Stay): SqlStay {
  return {
    status: s.status ?? null,
    check_in: s.checkInDateLocalized ?? null,
    check_out: s.checkOutDateLocalized ?? null,
    guests_count: s.guestsCount ?? null,
    canceled_by: s.canceledBy ?? null,
  };
}

function stayFromDetails(r: ReservationDetails): SqlStay {
  const fare = r.money?.fareAccommodation;
  const currency = r.money?.currency;
  return {
    status: r.status ?? null,
    check_in: r.checkInDateLocalized?.slice(0, 10) ?? null,
    check_out: r.checkOutDateLocalized?.slice(0, 10) ?? null,
    guests_count: r.guestsCount ?? null,
    canceled_by: r.canceledBy ?? null,
    total_minor: typeof fare === "number" && currency ? majorToMinor(fare, currency) : null,
  };
}

export async function applyEvent(messageId: string, deps: ApplyDeps): Promise<ApplyOutcome> {
  const { store, log } = deps;
  const row = await store.load(messageId);
  if (!row.found) return { outcome: "missing" };
  if (row.outcome) return { outcome: row.outcome as ApplyResult["outcome"], duplicate: true };
  const reservationId = row.reservationId!;
  const fromPayload = stayFromPayload(row.payload ?? {});
  if (row.boundBookingId && fromPayload) {
    return await store.apply(messageId, { stay: sqlStay(fromPayload) });
  }
  // We create every reservation with our source: a channel's (Airbnb, Booking.com) is not ours,
  // and is never looked up (Guestly's rate limit is for our own work).
  const source = fromPayload?.source ?? (row.payload?.reservation as Stay | undefined)?.source;
  if (!row.boundBookingId && source && source !== BOOKING_REF_SOURCE) {
    return await store.apply(messageId, { ignoreReason: "not_ours" });
  }
  const read = await deps.readReservation(reservationId);
  if (read.outcome !== "success" || !read.data) {
    if (read.httpStatus === 404) {
      return await store.apply(messageId, { ignoreReason: "reservation_not_found" });
    }
    const error = `reading reservation ${reservationId} from Guestly: ${
      read.error ?? read.outcome
    }`;
    log.warn("guestly.webhook.lookup_failed", {
      message_id: messageId,
      reservation_id: reservationId,
      http_status: read.httpStatus,
      outcome: read.outcome,
    });
    await store.fail(messageId, error);
    return { outcome: "retry_later", error };
  }
  const details = read.data;
  const ref = details.customFields?.find((f) => f.fieldId === deps.bookingRefFieldId)?.value;
  let bookingRef = ref && UUID.test(ref) ? ref : null;
  if (!row.boundBookingId && !bookingRef && !ref) {
    // Our reference is set only after the create (which cannot carry it), and the booking
    // records the reservation id before that: one neither recorded nor referenced is a create
    // whose answer we lost. Its booking, found by the stay, waits for its lookup to bind it.
    bookingRef = await awaitingBookingOf(details, store);
  }
  // No reference and no booking waiting on the stay: still the SQL's call, never "not ours" from
  // here. It finds the booking by the reservation id under its lock, and the sync may have
  // recorded that id since `load` (our own create's echo racing its record_success).
  return await store.apply(messageId, { bookingRef, stay: stayFromDetails(details) });
}

async function awaitingBookingOf(
  details: ReservationDetails,
  store: ApplyStore,
): Promise<string | null> {
  const checkIn = details.checkInDateLocalized?.slice(0, 10);
  const checkOut = details.checkOutDateLocalized?.slice(0, 10);
  if (
    details.source !== BOOKING_REF_SOURCE || !details.listingId || !checkIn || !checkOut ||
    !store.bookingAwaitingStay
  ) return null;
  return await store.bookingAwaitingStay({ listingId: details.listingId, checkIn, checkOut });
}
