// Reservations v3: create, status change, get, search (+ the legacy API's 410); the other
// changes (dates, guests, relocate) are in modifications.ts, payments in payments.ts.
// Reads answer directly; mutations are returned as an operation that the fault layer
// (faults.ts) performs and answers, so a lying gateway can commit and answer differently.

import {
  type CreateReservationInput,
  declaredCreateBody,
  type ReservationStatus,
  validateCreate,
  validateStatusUpdate,
  ValidationError,
} from "./validate.ts";
import { BadRequest, type Ctx, errBody, json, parseJsonBody } from "./http.ts";
import { newId, type Reservation, type SandboxState } from "./state.ts";
import { blocksCalendar, checkAvailability, holdExpiry } from "./calendar.ts";
import { createGuest, refuseRejectedEmail } from "./guests.ts";
import { routeModification } from "./modifications.ts";
import { routeAnnotation } from "./annotations.ts";
import { newMoney } from "./payments.ts";
import { changedAnswer, createdAnswer, legacyReservation, v3Reservation } from "./answers.ts";

/** What the backend would answer for a mutation. 2xx = the operation took effect. */
export interface OpResult {
  status: number;
  body: unknown;
  reservationId?: string;
}

export type Route =
  | { kind: "read"; handle(ctx: Ctx): void }
  | { kind: "mutation"; name: string; perform(ctx: Ctx): OpResult };

export const RESERVATION_NOT_FOUND = "Reservation not found";

const ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
function randomCode(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return "GY-" + Array.from(b, (x) => ALNUM[x % ALNUM.length]).join("");
}

/** Turns the validation errors of an operation into the answer Guestly would give. */
export function asResult(fn: () => OpResult): OpResult {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ValidationError) {
      return { status: 422, body: errBody("VALIDATION_ERROR", e.message, { field: e.field }) };
    }
    if (e instanceof BadRequest) return { status: 400, body: errBody("BAD_REQUEST", e.message) };
    throw e;
  }
}

function create(ctx: Ctx): OpResult {
  const { state } = ctx;
  // Guesty keeps only what its definition declares: a reference sent in the create is lost.
  const input = validateCreate(declaredCreateBody(parseJsonBody(ctx)), state.listings);
  refuseRejectedEmail(ctx, input.guest.email, "guest.email");
  // Only reservations that block dates are checked (an inquiry takes no nights).
  const blocking = input.status === "confirmed" || input.status === "reserved";
  if (blocking && !input.ignoreCalendar) {
    const refused = checkAvailability(state, input);
    if (refused) return refused;
  }
  return insertReservation(state, input);
}

/** Stores a validated reservation (also the admin API's OTA reservations). */
export function insertReservation(
  state: SandboxState,
  input: CreateReservationInput,
): OpResult {
  let id = newId();
  while (state.reservations.has(id)) id = newId();
  const codes = new Set([...state.reservations.values()].map((r) => r.confirmationCode));
  let code = randomCode();
  while (codes.has(code)) code = randomCode();
  const now = new Date().toISOString();
  const guest = createGuest(state, input.guest, id, now);
  const reservation: Reservation = {
    _id: id,
    reservationId: id,
    confirmationCode: code,
    ...input,
    guestId: guest._id,
    money: newMoney(input.money),
    reservedUntilAt: input.status === "reserved"
      ? holdExpiry(input.reservedUntil, Date.parse(now))
      : null,
    createdAt: now,
    lastUpdatedAt: now,
  };
  state.reservations.set(id, reservation);
  return { status: 201, body: createdAnswer(reservation), reservationId: id };
}

function changeStatus(ctx: Ctx, id: string): OpResult {
  const r = ctx.state.reservations.get(id);
  if (!r) return { status: 404, body: RESERVATION_NOT_FOUND };
  const upd = validateStatusUpdate(parseJsonBody(ctx));
  // Making a reservation that takes no nights (an inquiry, a lapsed hold) live again checks the
  // calendar, as a create does.
  if ((upd.status === "confirmed" || upd.status === "reserved") && !blocksCalendar(r)) {
    const refused = checkAvailability(ctx.state, r, r._id);
    if (refused) return refused;
  }
  if (upd.status === "reserved" && r.status !== "reserved") r.reservedUntilAt = null;
  r.status = upd.status as ReservationStatus;
  if (upd.canceledBy !== undefined) r.canceledBy = upd.canceledBy;
  if (upd.cancellationReason !== undefined) r.cancellationReason = upd.cancellationReason;
  r.lastUpdatedAt = new Date().toISOString();
  return { status: 200, body: changedAnswer(r), reservationId: id };
}

const SIMPLE_FILTERS = [
  "confirmationCode",
  "status",
  "source",
  "listingId",
  // The stay's dates (guestly-sync's lookup by listing and dates): our reading of the search.
  "checkInDateLocalized",
  "checkOutDateLocalized",
] as const;
const SORT_FIELDS = ["_id", "createdAt", "lastUpdatedAt"] as const;

function search(ctx: Ctx) {
  const preds: ((r: Reservation) => boolean)[] = [];
  for (const [key, value] of ctx.url.searchParams) {
    const m = /^filter\[(.+)\]$/.exec(key);
    if (!m) {
      if (key.startsWith("filter")) {
        return json(ctx, 400, errBody("BAD_REQUEST", `unsupported filter: ${key}`));
      }
      continue;
    }
    const name = m[1];
    if ((SIMPLE_FILTERS as readonly string[]).includes(name)) {
      const f = name as typeof SIMPLE_FILTERS[number];
      preds.push((r) => r[f] === value);
    } else if (name.startsWith("customFields.") && name.length > "customFields.".length) {
      const fieldId = name.slice("customFields.".length);
      preds.push((r) => r.customFields.some((c) => c.fieldId === fieldId && c.value === value));
    } else {
      return json(ctx, 400, errBody("BAD_REQUEST", `unsupported filter: ${key}`));
    }
  }
  const intParam = (name: string, def: number): number => {
    const raw = ctx.url.searchParams.get(name);
    if (raw === null || raw === "") return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new BadRequest(`${name} must be an integer >= 0`);
    return n;
  };
  const limit = Math.min(100, Math.max(1, intParam("limit", 25)));
  const skip = intParam("skip", 0);
  const matches = [...ctx.state.reservations.values()].filter((r) => preds.every((p) => p(r)));
  // Guesty recommends sorting by a unique, stable field when paging; without `sort` the order
  // is the store's (creation order).
  const sort = ctx.url.searchParams.get("sort");
  if (sort) {
    const desc = sort.startsWith("-");
    const field = desc ? sort.slice(1) : sort;
    if (!(SORT_FIELDS as readonly string[]).includes(field)) {
      return json(ctx, 400, errBody("BAD_REQUEST", `unsupported sort: ${sort}`));
    }
    const key = field as typeof SORT_FIELDS[number];
    matches.sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0) * (desc ? -1 : 1));
  }
  json(ctx, 200, {
    results: matches.slice(skip, skip + limit).map(legacyReservation),
    count: matches.length,
    limit,
    skip,
  });
}

/**
 * `GET /reservations-v3?reservationIds=a,b` (also `reservationIds[]=a&reservationIds[]=b`): the
 * reservations found, in the v3 shape; an id it does not know is left out.
 */
function readV3(ctx: Ctx) {
  const ids = [
    ...ctx.url.searchParams.getAll("reservationIds"),
    ...ctx.url.searchParams.getAll("reservationIds[]"),
  ].flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
  if (ids.length === 0) {
    return json(ctx, 400, errBody("BAD_REQUEST", "reservationIds is required"));
  }
  const found = ids.flatMap((id) => {
    const r = ctx.state.reservations.get(id);
    return r ? [v3Reservation(r)] : [];
  });
  json(ctx, 200, found);
}

function notAllowed(method: string): Route {
  return {
    kind: "read",
    handle: (ctx) => json(ctx, 405, errBody("METHOD_NOT_ALLOWED", `${method} not allowed`)),
  };
}

/**
 * The route for a `/v1/reservations-v3[/...]` path (already stripped of a trailing slash), or
 * null when the path is not this API's. Routes that answer 404/405 are reads for the fault layer.
 */
export function routeReservations(method: string, path: string): Route | null {
  if (path !== "/v1/reservations-v3" && !path.startsWith("/v1/reservations-v3/")) return null;
  const parts = path.split("/").slice(3); // after "", "v1", "reservations-v3"
  if (parts.length === 0) {
    if (method === "POST") {
      return { kind: "mutation", name: "create", perform: (ctx) => asResult(() => create(ctx)) };
    }
    return method === "GET" ? { kind: "read", handle: readV3 } : notAllowed(method);
  }
  if (parts.length === 1 && parts[0] === "search") {
    return method === "GET" ? { kind: "read", handle: search } : notAllowed(method);
  }
  const modification = parts.length === 2 ? routeModification(method, parts[0], parts[1]) : null;
  if (modification) return modification;
  const annotation = parts.length === 2 ? routeAnnotation(method, parts[0], parts[1]) : null;
  if (annotation) return annotation;
  if (parts.length === 2 && parts[1] === "status") {
    if (method !== "PUT") return notAllowed(method);
    return {
      kind: "mutation",
      name: "status",
      perform: (ctx) => asResult(() => changeStatus(ctx, parts[0])),
    };
  }
  return {
    kind: "read",
    handle: (ctx) =>
      json(ctx, 404, errBody("NOT_FOUND", `no route for ${method} ${ctx.url.pathname}`)),
  };
}

/**
 * The legacy read, `GET /reservations/{id}`: the one read the definition gives that returns the
 * guest's id and money.payments together (docs/guestly-api.md, "Reading a reservation"). Guesty
 * has no `GET /reservations-v3/{id}`, so neither has the sandbox. Like the legacy payment
 * endpoints it stays; the rest of the legacy API is gone.
 */
export function routeLegacyRead(method: string, path: string): Route | null {
  const legacy = /^\/v1\/reservations\/([^/]+)$/.exec(path);
  if (!legacy || method !== "GET") return null;
  const id = decodeURIComponent(legacy[1]);
  return {
    kind: "read",
    handle: (ctx) => {
      const r = ctx.state.reservations.get(id);
      return r ? json(ctx, 200, legacyReservation(r)) : json(ctx, 404, RESERVATION_NOT_FOUND);
    },
  };
}

/** The legacy `/v1/reservations` API is gone (removed 2027-03-01): 410 before any fault. */
export function isLegacyReservations(path: string): boolean {
  return path === "/v1/reservations" || path.startsWith("/v1/reservations/");
}

export function answerLegacy(ctx: Ctx) {
  json(ctx, 410, errBody("GONE", "legacy reservations API removed; use reservations-v3"));
}

export function allReservations(state: SandboxState): Reservation[] {
  return [...state.reservations.values()];
}
