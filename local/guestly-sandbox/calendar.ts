// Calendars: which nights of a listing are taken, the availability check every create (and a
// status change that makes a reservation live again) goes through, holds that expire, OTA
// reservations injected through the admin API, and Guesty's calendar endpoint
// `GET /v1/availability-pricing/api/calendar/listings/{id}?startDate&endDate`.
//
// A night is taken by a `confirmed` reservation, or a `reserved` one whose `reservedUntil` has
// not passed. Check-out day is free for the next check-in (nights are [checkIn, checkOut)).
// An expired hold becomes `expired` (Guesty's own status for a lapsed reservation request) the
// first time anything looks at the calendar after its time.

import { BadRequest, type Ctx, errBody, json } from "./http.ts";
import type { Reservation, SandboxState } from "./state.ts";
import type { OpResult, Route } from "./reservations.ts";

const DAY_MS = 86_400_000;
/** The longest calendar range one request may ask for (Guesty pages long ranges too). */
const MAX_RANGE_DAYS = 731;
export const CALENDAR_BLOCKED_CODE = "LISTING_CALENDAR_BLOCKED";

/** When a hold placed now with `reservedUntil` hours runs out; null = never (-1). */
export function holdExpiry(reservedUntil: number | undefined, nowMs: number): string | null {
  if (reservedUntil === undefined || reservedUntil === -1) return null;
  return new Date(nowMs + reservedUntil * 3_600_000).toISOString();
}

/** Lapsed holds become `expired` (no longer blocking). */
export function expireHolds(state: SandboxState, nowMs = Date.now()): void {
  for (const r of state.reservations.values()) {
    if (r.status === "reserved" && r.reservedUntilAt && Date.parse(r.reservedUntilAt) <= nowMs) {
      r.status = "expired";
      r.lastUpdatedAt = new Date(nowMs).toISOString();
    }
  }
}

export function blocksCalendar(r: Reservation, nowMs = Date.now()): boolean {
  if (r.status === "confirmed") return true;
  return r.status === "reserved" && (!r.reservedUntilAt || Date.parse(r.reservedUntilAt) > nowMs);
}

/** Live reservations of the listing sharing at least one night with [checkIn, checkOut). */
export function overlapping(
  state: SandboxState,
  listingId: string,
  checkIn: string,
  checkOut: string,
  exceptId?: string,
): Reservation[] {
  expireHolds(state);
  return [...state.reservations.values()].filter((r) =>
    r._id !== exceptId && r.listingId === listingId && blocksCalendar(r) &&
    r.checkInDateLocalized < checkOut && checkIn < r.checkOutDateLocalized
  ).sort((a, b) => a.checkInDateLocalized.localeCompare(b.checkInDateLocalized));
}

function guestName(r: Reservation): string | null {
  const name = `${r.guest?.firstName ?? ""} ${r.guest?.lastName ?? ""}`.trim();
  return name || null;
}

function nights(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t < Date.parse(`${to}T00:00:00Z`); t += DAY_MS) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

/**
 * The refusal for unavailable dates. Guesty's Open API does not document this body; we model
 * it on the Booking Engine API's `LISTING_CALENDAR_BLOCKED` (docs/guestly-api.md).
 */
export function calendarBlocked(
  listingId: string,
  checkIn: string,
  checkOut: string,
  blocking: Reservation[],
): OpResult {
  const blockedDates = nights(checkIn, checkOut).filter((d) =>
    blocking.some((r) => r.checkInDateLocalized <= d && d < r.checkOutDateLocalized)
  );
  return {
    status: 409,
    body: errBody(
      CALENDAR_BLOCKED_CODE,
      `Listing ${listingId} is not available from ${checkIn} to ${checkOut}: ` +
        `${blockedDates.length} night(s) blocked`,
      {
        data: {
          listingId,
          checkInDateLocalized: checkIn,
          checkOutDateLocalized: checkOut,
          blockedDates,
          conflicts: blocking.map((r) => ({
            reservationId: r._id,
            confirmationCode: r.confirmationCode,
            status: r.status,
            source: r.source,
            checkInDateLocalized: r.checkInDateLocalized,
            checkOutDateLocalized: r.checkOutDateLocalized,
            guestName: guestName(r),
          })),
        },
      },
    ),
  };
}

/** The availability check of a create or re-activation; null = the dates are free. */
export function checkAvailability(
  state: SandboxState,
  r: Pick<Reservation, "listingId" | "checkInDateLocalized" | "checkOutDateLocalized">,
  exceptId?: string,
): OpResult | null {
  const blocking = overlapping(
    state,
    r.listingId,
    r.checkInDateLocalized,
    r.checkOutDateLocalized,
    exceptId,
  );
  return blocking.length
    ? calendarBlocked(r.listingId, r.checkInDateLocalized, r.checkOutDateLocalized, blocking)
    : null;
}

function isoDay(value: string | null, name: string): string {
  if (!value || !/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(value))) {
    throw new BadRequest(`${name} must be a date in YYYY-MM-DD format`);
  }
  return value;
}

/** One day of a listing's calendar, in Guesty's shape (availability-pricing API). */
export function calendarDays(state: SandboxState, listingId: string, from: string, to: string) {
  expireHolds(state);
  const live = [...state.reservations.values()].filter((r) =>
    r.listingId === listingId && blocksCalendar(r)
  );
  const last = new Date(Date.parse(`${to}T00:00:00Z`) + DAY_MS).toISOString().slice(0, 10);
  return nights(from, last).map((date) => {
    const r = live.find((x) => x.checkInDateLocalized <= date && date < x.checkOutDateLocalized);
    const booked = r?.status === "confirmed";
    const reserved = r?.status === "reserved";
    return {
      date,
      listingId,
      currency: "USD",
      price: 100,
      minNights: 1,
      status: booked ? "booked" : reserved ? "reserved" : "available",
      blocks: { m: false, r: reserved, b: booked, bd: false, sr: false, abl: false, a: false },
      ...(r
        ? {
          reservationId: r._id,
          reservation: {
            _id: r._id,
            confirmationCode: r.confirmationCode,
            status: r.status,
            source: r.source,
            checkIn: r.checkInDateLocalized,
            checkOut: r.checkOutDateLocalized,
            guestName: guestName(r),
          },
        }
        : {}),
    };
  });
}

function getCalendar(ctx: Ctx, listingId: string) {
  const { state, url } = ctx;
  if (!state.listings.has(listingId)) {
    return json(ctx, 404, errBody("NOT_FOUND", `unknown listing ${listingId}`));
  }
  const from = isoDay(url.searchParams.get("startDate"), "startDate");
  const to = isoDay(url.searchParams.get("endDate"), "endDate");
  if (to < from) throw new BadRequest("endDate must not be before startDate");
  if ((Date.parse(to) - Date.parse(from)) / DAY_MS > MAX_RANGE_DAYS) {
    throw new BadRequest(`the range may span at most ${MAX_RANGE_DAYS} days`);
  }
  json(ctx, 200, { status: 200, data: { days: calendarDays(state, listingId, from, to) } });
}

const CALENDAR_PREFIX = "/v1/availability-pricing/api/calendar/listings/";

/** `GET /v1/availability-pricing/api/calendar/listings/{id}`; null when the path is not ours. */
export function routeCalendar(method: string, path: string): Route | null {
  if (!path.startsWith(CALENDAR_PREFIX)) return null;
  const id = decodeURIComponent(path.slice(CALENDAR_PREFIX.length));
  if (method !== "GET" || id === "" || id.includes("/")) {
    return {
      kind: "read",
      handle: (ctx) =>
        json(ctx, 404, errBody("NOT_FOUND", `no route for ${method} ${ctx.url.pathname}`)),
    };
  }
  return { kind: "read", handle: (ctx) => getCalendar(ctx, id) };
}

/** The live reservations of each listing, for the inspector (sorted by check-in). */
export function liveByListing(state: SandboxState): Map<string, Reservation[]> {
  expireHolds(state);
  const out = new Map<string, Reservation[]>([...state.listings].map((l) => [l, []]));
  for (const r of state.reservations.values()) {
    if (blocksCalendar(r)) out.get(r.listingId)?.push(r);
  }
  for (const list of out.values()) {
    list.sort((a, b) => a.checkInDateLocalized.localeCompare(b.checkInDateLocalized));
  }
  return out;
}
