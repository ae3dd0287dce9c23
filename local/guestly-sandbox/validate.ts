// Hand-written validation for the Guestly sandbox, so that the first failing field is
// named exactly (Guesty-style `field: message`).
import definition from "../../supabase/tests/contract/guesty-open-api-subset.json" with {
  type: "json",
};

export const RESERVATION_STATUSES = [
  "confirmed",
  "reserved",
  "awaiting_payment",
  "inquiry",
  "canceled",
  "closed",
  "declined",
  "expired",
] as const;
export type ReservationStatus = typeof RESERVATION_STATUSES[number];

export interface GuestInput {
  firstName: string;
  lastName: string;
  email: string;
  phones?: string[];
  [key: string]: unknown;
}

export interface CreateReservationInput {
  listingId: string;
  checkInDateLocalized: string;
  checkOutDateLocalized: string;
  status: ReservationStatus;
  guestsCount: number;
  source: string | null;
  guest: GuestInput;
  money: { fareAccommodation: number; currency: string } | null;
  /** Set by `PUT …/custom-fields` (annotations.ts); a create's are dropped (not declared). */
  customFields: { fieldId: string; value: string; _id?: string }[];
  /** Set by `PUT …/notes`; the admin API's reservations may carry them from the start. */
  notes: Record<string, string> | string | null;
  /** Hours a `reserved` hold blocks the dates (-1 = no expiry), as Guesty's API takes it. */
  reservedUntil?: number;
  /** Skip the availability check (Guesty's `ignoreCalendar`). */
  ignoreCalendar?: boolean;
}

export interface StatusUpdateInput {
  status: ReservationStatus;
  canceledBy?: string;
  cancellationReason?: string;
}

export class ValidationError extends Error {
  constructor(readonly field: string, readonly detail: string) {
    super(`${field}: ${detail}`);
  }
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
export const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const PHONE_RE = /^\+[1-9]\d{6,14}$/;
const CURRENCY_RE = /^[A-Z]{3}$/;

export function fail(field: string, detail: string): never {
  throw new ValidationError(field, detail);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function nonEmptyString(v: unknown, field: string): string {
  if (v === undefined || v === null) fail(field, "is required");
  if (typeof v !== "string") fail(field, "must be a string");
  if (v.trim() === "") fail(field, "must not be empty");
  return v;
}

/** Returns epoch-day number for a real YYYY-MM-DD calendar date, or fails. */
export function realDate(v: unknown, field: string): number {
  if (v === undefined || v === null) fail(field, "is required");
  if (typeof v !== "string") fail(field, "must be a string in YYYY-MM-DD format");
  const m = DATE_RE.exec(v);
  if (!m) fail(field, "must be a date in YYYY-MM-DD format");
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = Date.UTC(y, mo - 1, d);
  const dt = new Date(t);
  if (
    mo < 1 || mo > 12 || dt.getUTCFullYear() !== y || dt.getUTCMonth() !== mo - 1 ||
    dt.getUTCDate() !== d
  ) {
    fail(field, "is not a real calendar date");
  }
  return t / 86_400_000;
}

function status(v: unknown, field: string): ReservationStatus {
  if (v === undefined || v === null) fail(field, "is required");
  if (typeof v !== "string" || !(RESERVATION_STATUSES as readonly string[]).includes(v)) {
    fail(field, `must be one of ${RESERVATION_STATUSES.join(", ")}`);
  }
  return v as ReservationStatus;
}

// deno-lint-ignore no-explicit-any
const CREATE_BODY: any = (definition as any).paths["/reservations-v3"].post.requestBody
  .content["application/json"].schema;
const DECLARED_CREATE_FIELDS = new Set(Object.keys(CREATE_BODY.properties));
// The definition wraps the guest's properties in a one-member allOf.
const DECLARED_GUEST_FIELDS = new Set(
  Object.keys(CREATE_BODY.properties.guest.allOf[0].properties),
);

/**
 * The create body as Guesty keeps it: every property its definition does not declare for
 * `POST /reservations-v3` (our `customFields` and `notes` among them — they have their own PUTs)
 * is dropped, at the top and in `guest`, the way an API built from that definition ignores them.
 */
export function declaredCreateBody(body: unknown): unknown {
  if (!isObject(body)) return body;
  const kept = Object.fromEntries(
    Object.entries(body).filter(([name]) => DECLARED_CREATE_FIELDS.has(name)),
  );
  if (isObject(kept.guest)) {
    kept.guest = Object.fromEntries(
      Object.entries(kept.guest).filter(([name]) => DECLARED_GUEST_FIELDS.has(name)),
    );
  }
  return kept;
}

export function validateCreate(
  body: unknown,
  knownListings: ReadonlySet<string>,
): CreateReservationInput {
  if (!isObject(body)) fail("body", "must be a JSON object");

  const listingId = nonEmptyString(body.listingId, "listingId");
  if (!knownListings.has(listingId)) fail("listingId", `unknown listing ${listingId}`);

  const checkIn = realDate(body.checkInDateLocalized, "checkInDateLocalized");
  const checkOut = realDate(body.checkOutDateLocalized, "checkOutDateLocalized");
  if (checkOut <= checkIn) fail("checkOutDateLocalized", "must be after checkInDateLocalized");

  const st = status(body.status, "status");

  let guestsCount = 1;
  if (body.guestsCount !== undefined) {
    const g = body.guestsCount;
    if (typeof g !== "number" || !Number.isInteger(g) || g < 1) {
      fail("guestsCount", "must be an integer >= 1");
    }
    guestsCount = g;
  }

  let source: string | null = null;
  if (body.source !== undefined && body.source !== null) {
    if (typeof body.source !== "string") fail("source", "must be a string");
    source = body.source;
  }

  const guest = body.guest;
  if (guest === undefined || guest === null) fail("guest", "is required");
  if (!isObject(guest)) fail("guest", "must be an object");
  nonEmptyString(guest.firstName, "guest.firstName");
  nonEmptyString(guest.lastName, "guest.lastName");
  const email = nonEmptyString(guest.email, "guest.email");
  if (!EMAIL_RE.test(email)) fail("guest.email", "must be a valid email address");
  if (guest.phones !== undefined && guest.phones !== null) {
    if (!Array.isArray(guest.phones)) fail("guest.phones", "must be an array");
    guest.phones.forEach((p, i) => {
      if (typeof p !== "string" || !PHONE_RE.test(p)) {
        fail(`guest.phones[${i}]`, "must be an E.164 phone number (e.g. +14155550100)");
      }
    });
  }

  let money: CreateReservationInput["money"] = null;
  if (body.money !== undefined && body.money !== null) {
    const m = body.money;
    if (!isObject(m)) fail("money", "must be an object");
    if (typeof m.fareAccommodation !== "number" || !Number.isFinite(m.fareAccommodation)) {
      fail("money.fareAccommodation", "must be a number");
    }
    if (typeof m.currency !== "string" || !CURRENCY_RE.test(m.currency)) {
      fail("money.currency", "must be a 3-letter uppercase currency code");
    }
    money = { ...m, fareAccommodation: m.fareAccommodation, currency: m.currency };
  }

  let customFields: CreateReservationInput["customFields"] = [];
  if (body.customFields !== undefined && body.customFields !== null) {
    const cf = body.customFields;
    if (!Array.isArray(cf)) fail("customFields", "must be an array");
    customFields = cf.map((f, i) => {
      if (!isObject(f)) fail(`customFields[${i}]`, "must be an object");
      if (typeof f.fieldId !== "string" || f.fieldId === "") {
        fail(`customFields[${i}].fieldId`, "must be a non-empty string");
      }
      if (typeof f.value !== "string") fail(`customFields[${i}].value`, "must be a string");
      return { fieldId: f.fieldId, value: f.value };
    });
  }

  let notes: CreateReservationInput["notes"] = null;
  if (body.notes !== undefined && body.notes !== null) {
    const n = body.notes;
    if (typeof n === "string") notes = n;
    else if (isObject(n)) {
      if (n.other !== undefined && typeof n.other !== "string") {
        fail("notes.other", "must be a string");
      }
      notes = { ...n } as Record<string, string>;
    } else fail("notes", "must be a string or an object");
  }

  let reservedUntil: number | undefined;
  if (body.reservedUntil !== undefined && body.reservedUntil !== null) {
    const h = body.reservedUntil;
    if (typeof h !== "number" || !Number.isFinite(h) || (h !== -1 && h <= 0)) {
      fail("reservedUntil", "must be a number of hours > 0, or -1 for no expiry");
    }
    reservedUntil = h;
  }
  const ignoreCalendar = optionalBoolean(body.ignoreCalendar, "ignoreCalendar");

  return {
    ...(reservedUntil !== undefined ? { reservedUntil } : {}),
    ...(ignoreCalendar !== undefined ? { ignoreCalendar } : {}),
    listingId,
    checkInDateLocalized: body.checkInDateLocalized as string,
    checkOutDateLocalized: body.checkOutDateLocalized as string,
    status: st,
    guestsCount,
    source,
    guest: guest as GuestInput,
    money,
    customFields,
    notes,
  };
}

/** An optional boolean flag (ignoreCalendar, ignoreTerms, …): undefined when absent or null. */
export function optionalBoolean(v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") fail(field, "must be a boolean");
  return v;
}

export function validateStatusUpdate(body: unknown): StatusUpdateInput {
  if (!isObject(body)) fail("body", "must be a JSON object");
  const st = status(body.status, "status");
  const out: StatusUpdateInput = { status: st };
  if (body.canceledBy !== undefined && body.canceledBy !== null) {
    if (typeof body.canceledBy !== "string") fail("canceledBy", "must be a string");
    out.canceledBy = body.canceledBy;
  }
  if (body.cancellationReason !== undefined && body.cancellationReason !== null) {
    if (typeof body.cancellationReason !== "string") {
      fail("cancellationReason", "must be a string");
    }
    out.cancellationReason = body.cancellationReason;
  }
  return out;
}
