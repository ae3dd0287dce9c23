// Changing a reservation (reservations v3): `PUT /reservations-v3/{id}/dates`, `/guests` and
// `/relocate`. Each is a mutation, so the commit faults apply as to a create. Only live
// reservations can be changed (a canceled, declined, expired or closed one answers 422
// RESERVATION_NOT_MODIFIABLE). Dates and listing changes of a reservation that takes nights are
// checked against the calendar, excluding the reservation itself, unless `ignoreCalendar`.
// Money: new dates re-price the stay at its old nightly rate (our stand-in for Guesty's automatic
// recalculation); a guest-count change and a relocation keep the money as it was.
// Assumptions: docs/guestly-api.md, "Modifications and payments (sandbox model)".

import { type Ctx, errBody, json, parseJsonBody } from "./http.ts";
import type { Reservation } from "./state.ts";
import { blocksCalendar, checkAvailability, expireHolds } from "./calendar.ts";
import { refreshMoney, round2 } from "./payments.ts";
import { changedAnswer } from "./answers.ts";
import { asResult, type OpResult, RESERVATION_NOT_FOUND, type Route } from "./reservations.ts";
import { fail, isObject, nonEmptyString, optionalBoolean, realDate } from "./validate.ts";

/** Statuses that end a reservation: nothing about it can be changed any more. */
const FINISHED = ["canceled", "declined", "expired", "closed"];
export const NOT_MODIFIABLE_CODE = "RESERVATION_NOT_MODIFIABLE";

const DAY_MS = 86_400_000;
const nightsOf = (checkIn: string, checkOut: string) =>
  Math.round((Date.parse(checkOut) - Date.parse(checkIn)) / DAY_MS);

/** Guesty's override flags; accepted on every change, only ignoreCalendar has an effect here. */
function overrideFlags(body: Record<string, unknown>): boolean {
  optionalBoolean(body.ignoreTerms, "ignoreTerms");
  optionalBoolean(body.ignoreBlocks, "ignoreBlocks");
  return optionalBoolean(body.ignoreCalendar, "ignoreCalendar") ?? false;
}

function notModifiable(r: Reservation): OpResult {
  return {
    status: 422,
    body: errBody(
      NOT_MODIFIABLE_CODE,
      `status: reservation is ${r.status}; only live reservations can be changed`,
      { field: "status" },
    ),
  };
}

/** The reservation to change, or the answer that refuses the change. */
function liveReservation(ctx: Ctx, id: string): Reservation | OpResult {
  expireHolds(ctx.state);
  const r = ctx.state.reservations.get(id);
  if (!r) return { status: 404, body: RESERVATION_NOT_FOUND };
  if (FINISHED.includes(r.status)) return notModifiable(r);
  return r;
}

function changed(r: Reservation): OpResult {
  r.lastUpdatedAt = new Date().toISOString();
  return { status: 200, body: changedAnswer(r), reservationId: r._id };
}

export interface DatesChange {
  checkInDateLocalized: string;
  checkOutDateLocalized: string;
  ignoreCalendar: boolean;
}

/** Either date may be left out (it keeps its value); the result must still be a real stay. */
export function validateDatesChange(body: unknown, current: Reservation): DatesChange {
  if (!isObject(body)) fail("body", "must be a JSON object");
  const ignoreCalendar = overrideFlags(body);
  if (body.checkInDateLocalized === undefined && body.checkOutDateLocalized === undefined) {
    fail("checkInDateLocalized", "checkInDateLocalized or checkOutDateLocalized is required");
  }
  const pick = (field: "checkInDateLocalized" | "checkOutDateLocalized"): string => {
    if (body[field] === undefined) return current[field];
    realDate(body[field], field);
    return body[field] as string;
  };
  const checkIn = pick("checkInDateLocalized");
  const checkOut = pick("checkOutDateLocalized");
  if (checkOut <= checkIn) fail("checkOutDateLocalized", "must be after checkInDateLocalized");
  return { checkInDateLocalized: checkIn, checkOutDateLocalized: checkOut, ignoreCalendar };
}

function changeDates(ctx: Ctx, id: string): OpResult {
  const found = liveReservation(ctx, id);
  if (!("_id" in found)) return found;
  const r = found;
  const change = validateDatesChange(parseJsonBody(ctx), r);
  if (blocksCalendar(r) && !change.ignoreCalendar) {
    const refused = checkAvailability(ctx.state, { listingId: r.listingId, ...change }, r._id);
    if (refused) return refused;
  }
  const oldNights = nightsOf(r.checkInDateLocalized, r.checkOutDateLocalized);
  const newNights = nightsOf(change.checkInDateLocalized, change.checkOutDateLocalized);
  r.money.fareAccommodation = round2(r.money.fareAccommodation / oldNights * newNights);
  r.checkInDateLocalized = change.checkInDateLocalized;
  r.checkOutDateLocalized = change.checkOutDateLocalized;
  refreshMoney(r);
  return changed(r);
}

export interface GuestsChange {
  guestsCount: number;
  numberOfGuests?: Record<string, number>;
}

export function validateGuestsChange(body: unknown): GuestsChange {
  if (!isObject(body)) fail("body", "must be a JSON object");
  overrideFlags(body);
  const g = body.guestsCount;
  if (g === undefined || g === null) fail("guestsCount", "is required");
  if (typeof g !== "number" || !Number.isInteger(g) || g < 1) {
    fail("guestsCount", "must be an integer >= 1");
  }
  const out: GuestsChange = { guestsCount: g };
  const breakdown = body.numberOfGuests;
  if (breakdown !== undefined && breakdown !== null) {
    if (!isObject(breakdown)) fail("numberOfGuests", "must be an object");
    for (const [k, v] of Object.entries(breakdown)) {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
        fail(`numberOfGuests.${k}`, "must be an integer >= 0");
      }
    }
    out.numberOfGuests = { ...breakdown } as Record<string, number>;
  }
  return out;
}

function changeGuests(ctx: Ctx, id: string): OpResult {
  const found = liveReservation(ctx, id);
  if (!("_id" in found)) return found;
  const change = validateGuestsChange(parseJsonBody(ctx));
  found.guestsCount = change.guestsCount;
  if (change.numberOfGuests) found.numberOfGuests = change.numberOfGuests;
  return changed(found);
}

function relocate(ctx: Ctx, id: string): OpResult {
  const found = liveReservation(ctx, id);
  if (!("_id" in found)) return found;
  const r = found;
  const body = parseJsonBody(ctx);
  if (!isObject(body)) fail("body", "must be a JSON object");
  const ignoreCalendar = overrideFlags(body);
  const listingId = nonEmptyString(body.listingId, "listingId");
  if (!ctx.state.listings.has(listingId)) fail("listingId", `unknown listing ${listingId}`);
  if (blocksCalendar(r) && !ignoreCalendar) {
    const refused = checkAvailability(ctx.state, { ...r, listingId }, r._id);
    if (refused) return refused;
  }
  r.listingId = listingId;
  return changed(r);
}

const CHANGES: Record<string, (ctx: Ctx, id: string) => OpResult> = {
  dates: changeDates,
  guests: changeGuests,
  relocate,
};

/** The route for `…/reservations-v3/{id}/{dates|guests|relocate}`, or null for other actions. */
export function routeModification(method: string, id: string, action: string): Route | null {
  const change = Object.hasOwn(CHANGES, action) ? CHANGES[action] : undefined;
  if (!change) return null;
  if (method !== "PUT") {
    return {
      kind: "read",
      handle: (ctx) => json(ctx, 405, errBody("METHOD_NOT_ALLOWED", `${method} not allowed`)),
    };
  }
  return { kind: "mutation", name: action, perform: (ctx) => asResult(() => change(ctx, id)) };
}
