// Payments recorded on a reservation: Guesty's external ("recorded") payments and their refunds,
// on the legacy path family that Guesty has deprecated without a removal date
// (`POST /reservations/{id}/payments`, `POST /reservations/{id}/payments/{paymentId}/refund`).
// The rest of `/v1/reservations/*` stays 410. The reservation's `money` shows the payments and
// the totals (`totalPaid`, `balanceDue`); a payment is kept with the note, method and paidAt it
// was sent with (the inspector shows them), but the API shows only what Guesty's definition
// declares of a reservation's payment (answers.ts, declaredPayment): no note, so a client cannot
// find its payment again by one. No idempotency: the same payment twice is two payments, as in
// Guesty. Assumptions: docs/guestly-api.md, "Modifications and payments (sandbox model)".

import { type Ctx, parseJsonBody } from "./http.ts";
import {
  newId,
  type Payment,
  type Reservation,
  type ReservationMoney,
  type SandboxState,
} from "./state.ts";
import { asResult, type OpResult, RESERVATION_NOT_FOUND, type Route } from "./reservations.ts";
import type { CreateReservationInput } from "./validate.ts";
import { fail, isObject, nonEmptyString, ValidationError } from "./validate.ts";

export const PAYMENT_NOT_FOUND = "Payment not found";
/** Guesty's newer recorded-payment API caps notes at 500 characters; we hold the old one to it. */
const MAX_NOTE = 500;
/** A reservation created without `money` gets this currency (Guesty would use the listing's). */
export const DEFAULT_CURRENCY = "USD";

/** Money is kept in major units, rounded to cents. */
export const round2 = (n: number) => Math.round(n * 100) / 100;

/** The money of a new reservation: what was sent, plus empty payments and the totals. */
export function newMoney(money: CreateReservationInput["money"]): ReservationMoney {
  const fare = money?.fareAccommodation ?? 0;
  return {
    ...(money ?? {}),
    fareAccommodation: fare,
    currency: money?.currency ?? DEFAULT_CURRENCY,
    totalPaid: 0,
    balanceDue: fare,
    payments: [],
  };
}

/** Recomputes totalPaid (succeeded payments less their refunds) and balanceDue. */
export function refreshMoney(r: Reservation): void {
  const paid = r.money.payments
    .filter((p) => p.status === "SUCCEEDED")
    .reduce((sum, p) => sum + p.amount - p.refundedAmount, 0);
  r.money.totalPaid = round2(paid);
  r.money.balanceDue = round2(r.money.fareAccommodation - paid);
}

function positiveAmount(v: unknown): number {
  if (v === undefined || v === null) fail("amount", "is required");
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
    fail("amount", "must be a number > 0");
  }
  return round2(v);
}

function optionalNote(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") fail("note", "must be a string");
  if (v.length > MAX_NOTE) fail("note", `must be at most ${MAX_NOTE} characters`);
  return v;
}

/** A date or date-time string (ISO 8601), returned as an ISO date-time. */
function optionalInstant(v: unknown, field: string): string | null {
  if (v === undefined || v === null) return null;
  const t = typeof v === "string" ? Date.parse(v) : NaN;
  if (typeof v !== "string" || !/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(t)) {
    fail(field, "must be a date (YYYY-MM-DD) or an ISO 8601 date-time");
  }
  return new Date(t).toISOString();
}

export interface PaymentInput {
  paymentMethod: { method: string; id?: string };
  amount: number;
  note: string | null;
  paidAt: string | null;
  shouldBePaidAt: string | null;
}

export function validatePayment(body: unknown): PaymentInput {
  if (!isObject(body)) fail("body", "must be a JSON object");
  const pm = body.paymentMethod;
  if (pm === undefined || pm === null) fail("paymentMethod", "is required");
  if (!isObject(pm)) fail("paymentMethod", "must be an object {method, id?}");
  const method = nonEmptyString(pm.method, "paymentMethod.method");
  if (pm.id !== undefined && typeof pm.id !== "string") {
    fail("paymentMethod.id", "must be a string");
  }
  return {
    paymentMethod: { method, ...(typeof pm.id === "string" ? { id: pm.id } : {}) },
    amount: positiveAmount(body.amount),
    note: optionalNote(body.note),
    paidAt: optionalInstant(body.paidAt, "paidAt"),
    shouldBePaidAt: optionalInstant(body.shouldBePaidAt, "shouldBePaidAt"),
  };
}

/**
 * Guesty asks for a delay between creating a reservation and posting its payment. With
 * `faults.paymentsNotReadyMs` > 0, a payment that arrives sooner after the create is answered
 * 404 (the payments side does not know the reservation yet) and nothing is recorded.
 */
function tooSoon(ctx: Ctx, r: Reservation): boolean {
  const wait = ctx.state.faults.paymentsNotReadyMs;
  if (wait <= 0 || Date.now() - Date.parse(r.createdAt) >= wait) return false;
  ctx.entry.fault = "paymentNotReady";
  return true;
}

function recordPayment(ctx: Ctx, reservationId: string): OpResult {
  const r = ctx.state.reservations.get(reservationId);
  if (!r) return { status: 404, body: RESERVATION_NOT_FOUND };
  const input = validatePayment(parseJsonBody(ctx));
  if (tooSoon(ctx, r)) return { status: 404, body: RESERVATION_NOT_FOUND };
  const now = new Date().toISOString();
  const scheduled = input.shouldBePaidAt !== null && Date.parse(input.shouldBePaidAt) > Date.now();
  const payment: Payment = {
    _id: newId(),
    amount: input.amount,
    currency: r.money.currency,
    paymentMethod: input.paymentMethod,
    status: scheduled ? "PENDING" : "SUCCEEDED",
    note: input.note,
    paidAt: scheduled ? null : (input.paidAt ?? now),
    shouldBePaidAt: input.shouldBePaidAt,
    refunds: [],
    refundedAmount: 0,
    createdAt: now,
  };
  r.money.payments.push(payment);
  refreshMoney(r);
  r.lastUpdatedAt = now;
  // Guesty's definition: 201 with the payment provider, not the payment (find it by reading
  // the reservation's money.payments).
  return { status: 201, body: providerAnswer(), reservationId };
}

function refundPayment(ctx: Ctx, reservationId: string, paymentId: string): OpResult {
  const r = ctx.state.reservations.get(reservationId);
  if (!r) return { status: 404, body: RESERVATION_NOT_FOUND };
  const payment = r.money.payments.find((p) => p._id === paymentId);
  if (!payment) return { status: 404, body: PAYMENT_NOT_FOUND };
  const body = parseJsonBody(ctx);
  if (!isObject(body)) fail("body", "must be a JSON object");
  const amount = positiveAmount(body.amount);
  const note = optionalNote(body.note);
  if (payment.status !== "SUCCEEDED") {
    throw new ValidationError(
      "paymentId",
      `payment is ${payment.status}; only a SUCCEEDED one can be refunded`,
    );
  }
  const refundable = round2(payment.amount - payment.refundedAmount);
  if (amount > refundable) fail("amount", `exceeds the refundable amount ${refundable}`);
  const now = new Date().toISOString();
  payment.refunds.push({ _id: newId(), amount, note, status: "SUCCEEDED", createdAt: now });
  payment.refundedAmount = round2(payment.refundedAmount + amount);
  refreshMoney(r);
  r.lastUpdatedAt = now;
  return { status: 201, body: providerAnswer(), reservationId };
}

/** The payment and refund answers' declared body (`paymentProviderId`, `paymentProvider`). */
function providerAnswer() {
  return {
    paymentProviderId: SANDBOX_PAYMENT_PROVIDER,
    paymentProvider: { id: SANDBOX_PAYMENT_PROVIDER, status: "ACTIVE" },
  };
}

const SANDBOX_PAYMENT_PROVIDER = "64f1a2b3c4d5e6f7a8b9e0e0";

/**
 * `POST /v1/reservations/{id}/payments` and `POST /v1/reservations/{id}/payments/{pid}/refund`;
 * null for every other path, which the legacy 410 then answers.
 */
export function routePayments(method: string, path: string): Route | null {
  const m = /^\/v1\/reservations\/([^/]+)\/payments(?:\/([^/]+)\/refund)?$/.exec(path);
  if (!m || method !== "POST") return null;
  const reservationId = decodeURIComponent(m[1]);
  if (m[2] === undefined) {
    return {
      kind: "mutation",
      name: "payment",
      perform: (ctx) => asResult(() => recordPayment(ctx, reservationId)),
    };
  }
  const paymentId = decodeURIComponent(m[2]);
  return {
    kind: "mutation",
    name: "refund",
    perform: (ctx) => asResult(() => refundPayment(ctx, reservationId, paymentId)),
  };
}

/** Payments of every reservation, newest first, for the inspector and the admin API. */
export function allPayments(state: SandboxState) {
  return [...state.reservations.values()].flatMap((r) =>
    r.money.payments.map((p) => ({ reservationId: r._id, ...p }))
  ).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}
