// Changes to a synced booking follow it to Guestly through the v3 change endpoints, one request
// per change, and a change into taken nights is a conflict.
import assert from "node:assert/strict";
import { syncBookingToGuestly } from "../../functions/_shared/guestly/sync.ts";
import { planContentChanges } from "../../functions/_shared/guestly/content-changes.ts";
import {
  bookingRow,
  created,
  desiredContent,
  FakeGuestly,
  MemoryStore,
  referenceSet,
  status,
  testDeps,
} from "./fakes.ts";
import type { BookingRow } from "../../functions/_shared/guestly/schemas.ts";

/** A booking in Guestly as reservation 65r1, holding exactly what the booking said then. */
function syncedBooking(overrides: Partial<BookingRow> = {}): MemoryStore {
  const row = bookingRow({
    guestly_reservation_id: "65r1",
    guestly_synced_status: "confirmed",
    guestly_sync_status: "synced",
  });
  row.guestly_synced_state = desiredContent(row);
  Object.assign(row, overrides, { guestly_sync_status: "pending" });
  return new MemoryStore(row);
}

const ok = (body: unknown = { _id: "65r1" }) => status(200, body);

Deno.test("dates moved: one PUT to /dates with the new dates, no new reservation", async () => {
  const store = syncedBooking({ check_in: "2027-03-01", check_out: "2027-03-04" });
  const guestly = new FakeGuestly([ok()]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "synced");
  assert.deepEqual(guestly.requests.map((r) => `${r.method} ${new URL(r.url).pathname}`), [
    "PUT /v1/reservations-v3/65r1/dates",
  ]);
  assert.deepEqual(guestly.bodies[0], {
    checkInDateLocalized: "2027-03-01",
    checkOutDateLocalized: "2027-03-04",
  });
  assert.equal(store.row!.guestly_synced_state?.check_in, "2027-03-01");
  assert.equal(store.row!.guestly_sync_status, "synced");
  assert.deepEqual(store.attempts.map((a) => a.operation), ["update_dates"]);
});

Deno.test("another property and dates: relocated first, then the dates, then the guest count", async () => {
  const store = syncedBooking({
    guestly_listing_id: "64f1a2b3c4d5e6f7a8b9c0d2",
    check_in: "2027-03-01",
    check_out: "2027-03-04",
    guests_count: 4,
  });
  const guestly = new FakeGuestly([ok(), ok(), ok()]);
  const { deps } = testDeps(store, guestly);
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.deepEqual(guestly.requests.map((r) => new URL(r.url).pathname.split("/").pop()), [
    "relocate",
    "dates",
    "guests",
  ]);
  assert.deepEqual(guestly.bodies[0], { listingId: "64f1a2b3c4d5e6f7a8b9c0d2" });
  assert.deepEqual(guestly.bodies[2], { guestsCount: 4 });
  assert.deepEqual(store.row!.guestly_synced_state, desiredContent(store.row!));
});

Deno.test("the guest's email fixed: the guest record is updated, its main phone and the host's tags kept", async () => {
  const store = syncedBooking({ guest_email: "zoe.obrien@example.com" });
  const guestly = new FakeGuestly([
    ok({ _id: "65r1", guestId: "g-77" }),
    ok({ _id: "g-77", tags: ["vip"] }),
    ok({ _id: "g-77" }),
  ]);
  const { deps } = testDeps(store, guestly);
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.deepEqual(guestly.requests.map((r) => `${r.method} ${new URL(r.url).pathname}`), [
    "GET /v1/reservations/65r1",
    "GET /v1/guests-crud/g-77",
    "PUT /v1/guests-crud/g-77",
  ]);
  assert.equal(new URL(guestly.requests[1].url).searchParams.get("fields"), "tags");
  // Each request is logged under what it is: the guest's read is not a reservation read.
  assert.deepEqual(store.attempts.map((a) => a.operation), [
    "get_reservation",
    "get_guest",
    "update_guest",
  ]);
  // Guesty: `phone` is the main number, `phones` the additional ones; `tags` is required and
  // replaces the guest's tags, so the host's go back unchanged.
  assert.deepEqual(guestly.bodies[2], {
    firstName: "Zoë",
    lastName: "O'Brien",
    email: "zoe.obrien@example.com",
    phone: "+447700900123",
    tags: ["vip"],
  });
});

Deno.test("a name Guestly would refuse is caught before sending, naming the field", async () => {
  const store = syncedBooking({ guest_first_name: "   " });
  const guestly = new FakeGuestly([]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "failed");
  assert.match(result.outcome === "failed" ? result.error : "", /guest\.firstName/);
  assert.equal(result.outcome === "failed" && result.final, true);
  assert.equal(guestly.requests.length, 0);
});

Deno.test("dates moved into taken nights: a final conflict, Guestly keeps the old dates", async () => {
  const before = syncedBooking().row!.guestly_synced_state;
  const store = syncedBooking({ check_in: "2027-03-01", check_out: "2027-03-04" });
  const guestly = new FakeGuestly([
    status(409, {
      error: {
        code: "LISTING_CALENDAR_BLOCKED",
        message: "not available",
        data: { blockedDates: ["2027-03-02"], conflicts: [] },
      },
    }),
  ]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome === "failed" && result.errorKind, "conflict");
  assert.equal(result.outcome === "failed" && result.final, true);
  assert.deepEqual(store.row!.guestly_synced_state, before);
  assert.equal(store.alerts, 1);
  assert.equal(guestly.requests.length, 1);
});

Deno.test("a change during a create is sent after it, in the same invocation", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([
    () => {
      // The guest moves their stay while the create is in flight.
      store.row!.check_out = "2027-02-07";
      return created("65r9")();
    },
    ...referenceSet("65r9", store.row!.id),
    ok({ _id: "65r9" }),
  ]);
  const { deps } = testDeps(store, guestly);
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  // The reference first, then the change.
  assert.deepEqual(guestly.requests.map((r) => r.method), ["POST", "PUT", "PUT"]);
  assert.deepEqual(guestly.bodies[2], {
    checkInDateLocalized: "2027-02-01",
    checkOutDateLocalized: "2027-02-07",
  });
  assert.equal(store.row!.guestly_synced_state?.check_out, "2027-02-07");
});

Deno.test("nothing changed that Guestly holds: no change is planned", () => {
  const content = desiredContent(bookingRow());
  assert.deepEqual(planContentChanges(content, structuredClone(content)), []);
  assert.deepEqual(planContentChanges(null, content), []);
});
