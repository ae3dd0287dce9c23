import assert from "node:assert/strict";
import {
  mapBookingToGuestlyReservation,
  mapStatusToGuestly,
  STATUS_MAP,
} from "../../functions/_shared/guestly/sync.ts";
import { GuestlyReservationCreate } from "../../functions/_shared/guestly/schemas.ts";
import { bookingNotes, bookingReference } from "../../functions/_shared/guestly/mapping.ts";
import { minorToMajor } from "../../functions/_shared/currency.ts";
import { bookingRow } from "./fakes.ts";

Deno.test("status table: paid → confirmed, cancelled/refunded → canceled, unpaid never sent", () => {
  assert.equal(mapStatusToGuestly("confirmed"), "confirmed");
  assert.equal(mapStatusToGuestly("cancelled"), "canceled");
  assert.equal(mapStatusToGuestly("refunded"), "canceled");
  assert.equal(mapStatusToGuestly("pending_payment"), null);
  assert.deepEqual(Object.keys(STATUS_MAP).sort(), [
    "cancelled",
    "confirmed",
    "pending_payment",
    "refunded",
  ]);
});

Deno.test("a booking maps to a valid reservations-v3 payload; our reference goes on its own PUT", () => {
  const payload = mapBookingToGuestlyReservation(bookingRow());
  assert.equal(GuestlyReservationCreate.safeParse(payload).success, true);
  assert.equal(payload.listingId, "64f1a2b3c4d5e6f7a8b9c0d1");
  assert.equal(payload.checkInDateLocalized, "2027-02-01");
  assert.equal(payload.checkOutDateLocalized, "2027-02-05");
  assert.equal(payload.status, "confirmed");
  assert.equal(payload.guestsCount, 2);
  assert.deepEqual(payload.guest, {
    firstName: "Zoë",
    lastName: "O'Brien",
    email: "zoe@example.com",
    phones: ["+447700900123"],
  });
  assert.deepEqual(payload.money, { fareAccommodation: 640.5, currency: "EUR" });
  // Undeclared on the create (Guesty drops them): set once the reservation exists.
  assert.equal("customFields" in payload, false);
  assert.equal("notes" in payload, false);
  assert.deepEqual(bookingReference(bookingRow(), "ref-field"), {
    customFields: [{ fieldId: "ref-field", value: bookingRow().id }],
  });
  // A readable phone goes to the guest and the reference to its custom field: no notes to send.
  assert.equal(bookingNotes(bookingRow()), null);
});

Deno.test("a guest without a phone is sent with an empty phones list (Guesty requires the field)", () => {
  const payload = mapBookingToGuestlyReservation(bookingRow({ guest_phone: null }));
  assert.deepEqual(payload.guest.phones, []);
});

Deno.test("only a confirmed booking can be turned into a new reservation", () => {
  assert.throws(
    () => mapBookingToGuestlyReservation(bookingRow({ status: "cancelled" })),
    /nothing to create/,
  );
});

Deno.test("minor units become major units, except zero-decimal currencies", () => {
  assert.equal(minorToMajor(12345, "usd"), 123.45);
  assert.equal(minorToMajor(5000, "jpy"), 5000);
  // Three-decimal currencies: 12.340 KWD is 12340 minor units, not 123.40.
  for (const code of ["bhd", "jod", "kwd", "omr", "tnd", "KWD"]) {
    assert.equal(minorToMajor(12340, code), 12.34, code);
  }
  assert.equal(minorToMajor(1, "usd"), 0.01);
  assert.equal(minorToMajor(10000000, "krw"), 10000000);
});

Deno.test("the money Guestly gets is what Stripe charged, in the booking's currency", () => {
  const money = (amount_total: number, currency: string) =>
    mapBookingToGuestlyReservation(bookingRow({ amount_total, currency })).money;
  assert.deepEqual(money(64050, "eur"), { fareAccommodation: 640.5, currency: "EUR" });
  assert.deepEqual(money(98000, "jpy"), { fareAccommodation: 98000, currency: "JPY" });
  assert.deepEqual(money(150250, "bhd"), { fareAccommodation: 150.25, currency: "BHD" });
});

Deno.test("phones go to Guestly as E.164; a local number is read in the property's country", () => {
  const phones = (phone: string | null, country: string | null = null) =>
    mapBookingToGuestlyReservation(
      bookingRow({ guest_phone: phone, guestly_property_country: country }),
    ).guest.phones;
  assert.deepEqual(phones("+44 7700 900123"), ["+447700900123"]);
  assert.deepEqual(phones("(020) 7946 0018", "GB"), ["+442079460018"]);
  assert.deepEqual(phones("07700 900123", "GB"), ["+447700900123"]);
  assert.deepEqual(phones("+1 (202) 555-0143"), ["+12025550143"]);
  assert.deepEqual(phones(null), []);
  assert.deepEqual(phones("   "), []);
});

Deno.test("a phone that cannot be read travels in the notes, never fails the booking", () => {
  for (const [raw, country] of [["07700 900123", null], ["call me maybe", "GB"], ["+99", null]]) {
    const row = bookingRow({ guest_phone: raw, guestly_property_country: country });
    const payload = mapBookingToGuestlyReservation(row);
    assert.deepEqual(payload.guest.phones, [], raw!);
    assert.match(
      bookingNotes(row)?.notes.other ?? "",
      new RegExp(
        `Website booking ${row.id}\nGuest phone \\(as entered\\): ${raw!.replace("+", "\\+")}`,
      ),
    );
  }
});
