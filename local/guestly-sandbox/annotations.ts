// What a reservation carries besides its stay, set on an existing reservation as Guesty's
// definition declares: `PUT /reservations-v3/{id}/custom-fields` (the values of custom fields;
// guestly-sync keeps its booking reference there) and `PUT /reservations-v3/{id}/notes`. The
// create ignores both (validate.ts, declaredCreateBody). Both set values, so a repeat changes
// nothing more; both are mutations (the commit faults apply), and neither changes the stay, so
// no webhook fires. Assumptions: docs/guestly-api.md.

import { type Ctx, errBody, json, parseJsonBody } from "./http.ts";
import { newId, type Reservation } from "./state.ts";
import { asResult, type OpResult, RESERVATION_NOT_FOUND, type Route } from "./reservations.ts";
import { fail, isObject } from "./validate.ts";

/** The note kinds the definition declares on the notes PUT. */
const NOTE_KINDS = ["other", "cleaning", "guest", "specialRequests", "keyCode", "doneBy"] as const;

export function validateCustomFields(body: unknown): { fieldId: string; value: string }[] {
  if (!isObject(body)) fail("body", "must be a JSON object");
  const fields = body.customFields;
  if (fields === undefined || fields === null) fail("customFields", "is required");
  if (!Array.isArray(fields)) fail("customFields", "must be an array");
  return fields.map((f, i) => {
    if (!isObject(f)) fail(`customFields[${i}]`, "must be an object");
    if (typeof f.fieldId !== "string" || f.fieldId === "") {
      fail(`customFields[${i}].fieldId`, "must be a non-empty string");
    }
    // The definition types the value `object` with a string example; the sandbox keeps strings.
    if (typeof f.value !== "string") fail(`customFields[${i}].value`, "must be a string");
    return { fieldId: f.fieldId, value: f.value };
  });
}

export function validateNotes(body: unknown): Record<string, string> {
  if (!isObject(body)) fail("body", "must be a JSON object");
  const notes = body.notes;
  if (notes === undefined || notes === null) fail("notes", "is required");
  if (!isObject(notes)) fail("notes", "must be an object");
  const kept: Record<string, string> = {};
  for (const kind of NOTE_KINDS) {
    const value = notes[kind];
    if (value === undefined) continue;
    if (typeof value !== "string") fail(`notes.${kind}`, "must be a string");
    kept[kind] = value;
  }
  return kept;
}

/** Sets the given fields' values (by fieldId); the reservation's other fields keep theirs. */
function setCustomFields(ctx: Ctx, id: string): OpResult {
  const r = ctx.state.reservations.get(id);
  if (!r) return { status: 404, body: RESERVATION_NOT_FOUND };
  for (const field of validateCustomFields(parseJsonBody(ctx))) {
    const existing = r.customFields.find((f) => f.fieldId === field.fieldId);
    if (existing) existing.value = field.value;
    else r.customFields.push({ _id: newId(), ...field });
  }
  r.lastUpdatedAt = new Date().toISOString();
  return {
    status: 200,
    body: {
      reservationId: r._id,
      customFields: r.customFields.map((f) => ({ _id: f._id ?? newId(), ...f })),
    },
    reservationId: r._id,
  };
}

/** Sets the given kinds of note; the kinds not sent keep theirs. */
function setNotes(ctx: Ctx, id: string): OpResult {
  const r = ctx.state.reservations.get(id);
  if (!r) return { status: 404, body: RESERVATION_NOT_FOUND };
  const notes = validateNotes(parseJsonBody(ctx));
  r.notes = { ...(isObject(r.notes) ? r.notes : {}), ...notes };
  r.lastUpdatedAt = new Date().toISOString();
  return {
    status: 200,
    body: { reservationId: r._id, money: declaredMoney(r), notes: r.notes },
    reservationId: r._id,
  };
}

/**
 * The notes answer's `money`, with every field the definition marks required: the sandbox models
 * only the accommodation fare, so fees, taxes and adjustments are 0 and the one invoice item is
 * the fare.
 */
function declaredMoney(r: Reservation) {
  const m = r.money;
  const refunded = m.payments.reduce((sum, p) => sum + p.refundedAmount, 0);
  return {
    _id: `${r._id}-money`,
    reservationId: r._id,
    invoiceItems: [{
      _id: `${r._id}-fare`,
      title: "Accommodation fare",
      amount: m.fareAccommodation,
      currency: m.currency,
      type: "ACCOMMODATION_FARE",
      normalType: "AF",
      isLocked: false,
    }],
    currency: m.currency,
    fareAccommodation: m.fareAccommodation,
    fareAccommodationAdjusted: m.fareAccommodation,
    fareAccommodationAdjustment: 0,
    fareAccommodationDiscount: 0,
    fareCleaning: 0,
    hostServiceFee: 0,
    hostServiceFeeTax: 0,
    hostServiceFeeIncTax: 0,
    totalTaxes: 0,
    subTotalPrice: m.fareAccommodation,
    hostPayout: m.fareAccommodation,
    hostPayoutUsd: m.fareAccommodation,
    payments: m.payments.map((p) => p._id),
    totalRefunded: refunded,
    totalPaid: m.totalPaid,
    paymentsDue: m.balanceDue,
    balanceDue: m.balanceDue,
    isFullyPaid: m.balanceDue <= 0,
    settingsSnapshot: {},
  };
}

const ANNOTATIONS: Record<string, (ctx: Ctx, id: string) => OpResult> = {
  "custom-fields": setCustomFields,
  notes: setNotes,
};

/** The route for `…/reservations-v3/{id}/{custom-fields|notes}`, or null for other actions. */
export function routeAnnotation(method: string, id: string, action: string): Route | null {
  const set = Object.hasOwn(ANNOTATIONS, action) ? ANNOTATIONS[action] : undefined;
  if (!set) return null;
  if (method !== "PUT") {
    return {
      kind: "read",
      handle: (ctx) => json(ctx, 405, errBody("METHOD_NOT_ALLOWED", `${method} not allowed`)),
    };
  }
  return {
    kind: "mutation",
    name: action,
    perform: (ctx) => asResult(() => set(ctx, decodeURIComponent(id))),
  };
}
