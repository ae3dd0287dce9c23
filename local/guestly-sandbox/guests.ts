// Guest profiles: every reservation carries a `guestId`, and the guest's name, email and phones
// are changed on the guest, not on the reservation — Guesty's `PUT /guests-crud/{guestId}`
// (docs/guestly-api.md, "Modifications and payments"). The reservation's embedded `guest` is kept
// in step, so a GET of the reservation shows the new details.
//
// Phones: the guest has a main `phone` and `phones` (all of them, the main one first); the
// reservation's `guest.phones` is that list.

import { type Ctx, errBody, json, parseJsonBody } from "./http.ts";
import { type GuestRecord, newId, type Reservation, type SandboxState } from "./state.ts";
import { asResult, type OpResult, type Route } from "./reservations.ts";
import {
  EMAIL_RE,
  fail,
  type GuestInput,
  isObject,
  nonEmptyString,
  PHONE_RE,
  ValidationError,
} from "./validate.ts";

export const GUEST_NOT_FOUND = "Guest not found";

export interface GuestUpdate {
  firstName?: string;
  lastName?: string;
  email?: string;
  phone?: string;
  /** The additional numbers (Guesty: `phone` is the main one, `phones` the others). */
  phones?: string[];
  tags: string[];
}

/** The tags Guesty's definition allows on a guest. */
const GUEST_TAGS = [
  "vip",
  "friendsAndFamily",
  "staff",
  "management",
  "blocklisted",
  "loyaltyProgram",
];

/**
 * Refuses an email listed in `faults.rejectGuestEmails` (case-insensitive) with a 422 on `field`,
 * and names the fault in the request log.
 */
export function refuseRejectedEmail(ctx: Ctx, email: string, field: string): void {
  const lower = email.toLowerCase();
  if (!ctx.state.faults.rejectGuestEmails.some((e) => e.toLowerCase() === lower)) return;
  ctx.entry.fault = ctx.entry.fault ? `${ctx.entry.fault}+rejectGuestEmail` : "rejectGuestEmail";
  throw new ValidationError(field, "rejected by Guestly");
}

/** The guest profile a new reservation gets (one per reservation; no merging by email). */
export function createGuest(
  state: SandboxState,
  guest: GuestInput,
  reservationId: string,
  now: string,
): GuestRecord {
  let id = newId();
  while (state.guests.has(id)) id = newId();
  const phones = [...(guest.phones ?? [])];
  const record: GuestRecord = {
    _id: id,
    firstName: guest.firstName,
    lastName: guest.lastName,
    fullName: `${guest.firstName} ${guest.lastName}`,
    email: guest.email,
    phone: phones[0] ?? null,
    phones,
    tags: [],
    reservationId,
    createdAt: now,
    lastUpdatedAt: now,
  };
  state.guests.set(id, record);
  return record;
}

function phoneList(v: unknown, field: string): string[] {
  if (!Array.isArray(v)) fail(field, "must be an array");
  return v.map((p, i) => {
    if (typeof p !== "string" || !PHONE_RE.test(p)) {
      fail(`${field}[${i}]`, "must be an E.164 phone number (e.g. +14155550100)");
    }
    return p;
  });
}

/** `PUT /guests-crud/{id}` body: any subset of the fields below; at least one. */
export function validateGuestUpdate(body: unknown): GuestUpdate {
  if (!isObject(body)) fail("body", "must be a JSON object");
  // The definition requires `tags`: the whole list, so a PUT that forgets them would clear them.
  if (
    !Array.isArray(body.tags) ||
    body.tags.some((t) => typeof t !== "string" || !GUEST_TAGS.includes(t))
  ) {
    fail("tags", `is required: a list of ${GUEST_TAGS.join(", ")}`);
  }
  const out: GuestUpdate = { tags: body.tags as string[] };
  if (body.firstName !== undefined) out.firstName = nonEmptyString(body.firstName, "firstName");
  if (body.lastName !== undefined) out.lastName = nonEmptyString(body.lastName, "lastName");
  if (body.email !== undefined) {
    const email = nonEmptyString(body.email, "email");
    if (!EMAIL_RE.test(email)) fail("email", "must be a valid email address");
    out.email = email;
  }
  if (body.phone !== undefined && body.phone !== null) {
    if (typeof body.phone !== "string" || !PHONE_RE.test(body.phone)) {
      fail("phone", "must be an E.164 phone number (e.g. +14155550100)");
    }
    out.phone = body.phone;
  }
  if (body.phones !== undefined && body.phones !== null) {
    out.phones = phoneList(body.phones, "phones");
  }
  return out;
}

/**
 * The phones after an update (the record keeps all of them, the main one first, as the
 * reservation's `guest.phones` shows them): `phone` replaces the main one, `phones` the
 * additional ones; what the update does not name stays.
 */
function nextPhones(record: GuestRecord, upd: GuestUpdate): string[] {
  const main = upd.phone ?? record.phone;
  const others = upd.phones ?? record.phones.filter((p) => p !== record.phone);
  return [...new Set([...(main ? [main] : []), ...others])];
}

function updateGuest(ctx: Ctx, guestId: string): OpResult {
  const { state } = ctx;
  const record = state.guests.get(guestId);
  if (!record) return { status: 404, body: GUEST_NOT_FOUND };
  const upd = validateGuestUpdate(parseJsonBody(ctx));
  if (upd.email !== undefined) refuseRejectedEmail(ctx, upd.email, "email");
  const phones = nextPhones(record, upd);
  record.firstName = upd.firstName ?? record.firstName;
  record.lastName = upd.lastName ?? record.lastName;
  record.fullName = `${record.firstName} ${record.lastName}`;
  record.email = upd.email ?? record.email;
  record.phones = phones;
  record.phone = phones[0] ?? null;
  record.tags = upd.tags;
  record.lastUpdatedAt = new Date().toISOString();
  for (const r of state.reservations.values()) {
    if (r.guestId === guestId) syncReservationGuest(r, record);
  }
  return { status: 200, body: record, reservationId: record.reservationId };
}

/** The reservation's embedded guest after its profile changed (other sent fields are kept). */
function syncReservationGuest(r: Reservation, record: GuestRecord): void {
  r.guest = {
    ...r.guest,
    firstName: record.firstName,
    lastName: record.lastName,
    email: record.email,
    phones: [...record.phones],
  };
}

const PREFIX = "/v1/guests-crud/";

/** `GET|PUT /v1/guests-crud/{guestId}`; null when the path is not this API's. */
export function routeGuests(method: string, path: string): Route | null {
  if (!path.startsWith(PREFIX)) return null;
  const id = decodeURIComponent(path.slice(PREFIX.length));
  if (id === "" || id.includes("/")) {
    return {
      kind: "read",
      handle: (ctx) =>
        json(ctx, 404, errBody("NOT_FOUND", `no route for ${method} ${ctx.url.pathname}`)),
    };
  }
  if (method === "PUT") {
    return {
      kind: "mutation",
      name: "guest",
      perform: (ctx) => asResult(() => updateGuest(ctx, id)),
    };
  }
  if (method === "GET") {
    return {
      kind: "read",
      handle: (ctx) => {
        const g = ctx.state.guests.get(id);
        return g ? json(ctx, 200, g) : json(ctx, 404, GUEST_NOT_FOUND);
      },
    };
  }
  return {
    kind: "read",
    handle: (ctx) => json(ctx, 405, errBody("METHOD_NOT_ALLOWED", `${method} not allowed`)),
  };
}
