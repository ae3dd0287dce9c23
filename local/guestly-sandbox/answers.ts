// How the sandbox shows a reservation in its answers, in the shapes Guesty's published
// definition declares (supabase/tests/contract/guesty-open-api-subset.json): the legacy read
// (`GET /reservations/{id}`), the v3 read (`GET /reservations-v3?reservationIds=`), the create's
// 201 and the v3 changes' 200s. Every field the definition marks required is there; fields it
// does not declare stay only where it declares the object open and a sandbox test reads them
// (the reservation's own fields on the create and change answers). A payment shows only what the
// definition declares of it — no note, no method, no paidAt — so nothing can be found again by
// a field Guesty would not return. Choices where the definition is silent: docs/guestly-api.md,
// "Answers (sandbox model)".

import type { Payment, Reservation } from "./state.ts";
import { round2 } from "./payments.ts";

/** The sandbox's one account (Guesty answers carry the account's id). */
export const SANDBOX_ACCOUNT_ID = "64f1a2b3c4d5e6f7a8b9a000";

/**
 * An id of the reservation's own quote, money record or custom-field entry: stable for the
 * reservation, shaped like Guesty's (24 hex), different per kind.
 */
export function relatedId(reservationId: string, kind: "quote" | "money" | string): string {
  let salt = 0;
  for (const c of kind) salt = (salt * 31 + c.charCodeAt(0)) >>> 0;
  const tail = reservationId.slice(8).split("").map((c, i) =>
    ((parseInt(c, 16) ^ (salt >>> (i % 28))) & 0xf).toString(16)
  ).join("");
  return reservationId.slice(0, 8) + tail;
}

/**
 * Check-in and check-out as instants: the listing's local times are not modelled, so the
 * sandbox takes 15:00 and 11:00 UTC on the stay's dates (Guesty's usual defaults).
 */
const checkInAt = (r: Reservation) => `${r.checkInDateLocalized}T15:00:00.000Z`;
const checkOutAt = (r: Reservation) => `${r.checkOutDateLocalized}T11:00:00.000Z`;

/** `numberOfGuests` as sent with a guests change, or every guest an adult. */
function numberOfGuests(r: Reservation): Record<string, number> {
  return r.numberOfGuests?.numberOfAdults !== undefined
    ? r.numberOfGuests
    : { numberOfAdults: r.guestsCount, ...(r.numberOfGuests ?? {}) };
}

/** A payment as `money.payments[]` of the legacy read declares it. */
export function declaredPayment(p: Payment) {
  return {
    _id: p._id,
    amount: p.amount,
    currency: p.currency,
    status: p.status,
    isAuthorizationHold: false,
    createdAt: p.createdAt,
    ...(p.shouldBePaidAt ? { shouldBePaidAt: p.shouldBePaidAt } : {}),
    ...(p.paymentMethod.id ? { paymentMethodId: p.paymentMethod.id } : {}),
    // The definition declares `refunds` an array and nothing of its items: the refund as
    // recorded, without the note it was sent with (our client reads only their count).
    refunds: p.refunds.map(({ note: _, ...refund }) => refund),
  };
}

/** The legacy read's shape: the stored reservation, its payments as declared. */
export function legacyReservation(r: Reservation) {
  return { ...r, money: { ...r.money, payments: r.money.payments.map(declaredPayment) } };
}

/** The money object of the v3 change answers: every required total, payments by id. */
export function v3Money(r: Reservation) {
  const m = r.money;
  const fare = m.fareAccommodation;
  const refunded = round2(m.payments.reduce((sum, p) => sum + p.refundedAmount, 0));
  return {
    _id: relatedId(r._id, "money"),
    reservationId: r._id,
    currency: m.currency,
    // One invoice line: the accommodation fare (no cleaning, fees or taxes are modelled).
    invoiceItems: [{
      _id: relatedId(r._id, "invoice-accommodation"),
      title: "Accommodation fare",
      amount: fare,
      currency: m.currency,
      type: "ACCOMMODATION_FARE",
      normalType: "AF",
      isLocked: false,
      isTax: false,
    }],
    fareAccommodation: fare,
    fareAccommodationAdjustment: 0,
    fareAccommodationDiscount: 0,
    fareAccommodationAdjusted: fare,
    fareCleaning: 0,
    hostServiceFee: 0,
    hostServiceFeeTax: 0,
    hostServiceFeeIncTax: 0,
    subTotalPrice: fare,
    hostPayout: fare,
    // No conversion is modelled: the payout in the reservation's own currency.
    hostPayoutUsd: fare,
    totalTaxes: 0,
    payments: m.payments.map((p) => p._id),
    totalRefunded: refunded,
    totalPaid: m.totalPaid,
    paymentsDue: Math.max(0, m.balanceDue),
    balanceDue: m.balanceDue,
    isFullyPaid: m.balanceDue <= 0,
    settingsSnapshot: {},
  };
}

/** The create's 201: the declared fields, on top of the stored reservation. */
export function createdAnswer(r: Reservation) {
  return {
    ...legacyReservation(r),
    reservationId: r._id,
    quoteId: relatedId(r._id, "quote"),
    confirmationCode: r.confirmationCode,
    status: r.status,
    guestId: r.guestId,
    numberOfGuests: numberOfGuests(r),
    creationTime: r.createdAt,
    // Required even for a reservation that is not a hold: then when it was created (it never
    // was reserved for a while).
    reservedExpiresAt: r.reservedUntilAt ?? r.createdAt,
    checkInDate: checkInAt(r),
    checkOutDate: checkOutAt(r),
    unitTypeId: r.listingId,
    unitId: r.listingId,
    source: r.source ?? "",
    channel: "manual",
    guestsCount: r.guestsCount,
    creationInfo: {},
  };
}

/** A v3 change's 200 (status, dates, guests, relocate): what each declares, for any of them. */
export function changedAnswer(r: Reservation) {
  return {
    ...legacyReservation(r),
    reservationId: r._id,
    status: r.status,
    money: v3Money(r),
    creationTime: r.createdAt,
    checkInDate: checkInAt(r),
    checkOutDate: checkOutAt(r),
    guestsCount: r.guestsCount,
    numberOfGuests: numberOfGuests(r),
    listingId: r.listingId,
    unitId: r.listingId,
    unitTypeId: r.listingId,
  };
}

/** One reservation as the v3 read (`GET /reservations-v3?reservationIds=`) declares it. */
export function v3Reservation(r: Reservation) {
  const notes = typeof r.notes === "string" ? { other: r.notes } : (r.notes ?? {});
  return {
    _id: r._id,
    stay: [{
      _id: relatedId(r._id, "stay"),
      checkInDateLocalized: r.checkInDateLocalized,
      checkOutDateLocalized: r.checkOutDateLocalized,
      guestsCount: r.guestsCount,
      numberOfGuests: numberOfGuests(r),
      unitTypeId: r.listingId,
      unitId: r.listingId,
      eta: checkInAt(r),
      etd: checkOutAt(r),
    }],
    bookerId: r.guestId,
    platform: "direct",
    quoteId: relatedId(r._id, "quote"),
    accountId: SANDBOX_ACCOUNT_ID,
    source: r.source ?? "",
    createdAt: r.createdAt,
    status: r.status,
    notes,
    confirmationCode: r.confirmationCode,
    moneyId: relatedId(r._id, "money"),
    customFields: (r.customFields ?? []).map((c) => ({
      _id: relatedId(r._id, `field-${c.fieldId}`),
      fieldId: c.fieldId,
      value: c.value,
    })),
    ...(r.canceledBy ? { canceledBy: r.canceledBy } : {}),
    ...(r.cancellationReason ? { cancellationReason: r.cancellationReason } : {}),
  };
}
