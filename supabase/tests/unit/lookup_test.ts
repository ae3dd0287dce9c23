// The lookup's judgement after an unknown create: which hits of a search by the booking's stay
// are this booking's reservation. Our reference is set only after the create, so a create that
// committed behind a lost answer carries none: it is found by the stay (listing, dates), our
// source and the guest's email; a hit carrying another booking's reference never is.
import assert from "node:assert/strict";
import {
  judgeLookup,
  type LookupKey,
  needsGuestEmail,
} from "../../functions/_shared/guestly/lookup.ts";

const BOOKING = "6f1c2b1e-8d4a-4c59-9f0e-3b2a1c0d9e8f";
const KEY: LookupKey = {
  bookingId: BOOKING,
  fieldId: "ref-field",
  listingId: "L1",
  checkIn: "2027-02-01",
  checkOut: "2027-02-05",
  source: "website",
  email: "Zoe@Example.com",
};
const hit = (id: string, overrides: Record<string, unknown> = {}) => ({
  _id: id,
  status: "confirmed",
  source: "website",
  listingId: "L1",
  checkInDateLocalized: "2027-02-01",
  checkOutDateLocalized: "2027-02-05",
  guest: { email: "zoe@example.com" },
  ...overrides,
});
const ref = (value: unknown) => ({ customFields: [{ fieldId: "ref-field", value }] });
const judge = (...results: unknown[]) => judgeLookup({ results, count: results.length }, KEY);
const ids = (verdict: ReturnType<typeof judge>) =>
  verdict.kind === "one"
    ? [verdict.reservation.id]
    : verdict.kind === "duplicates"
    ? verdict.reservations.map((r) => r.id)
    : [];

Deno.test("lookup: a hit on the stay with our source and guest and no reference yet is ours", () => {
  const verdict = judge(hit("r1"));
  assert.equal(verdict.kind, "one");
  assert.deepEqual(ids(verdict), ["r1"]);
  // Dates as date-times, the email in another case: still the same key.
  assert.equal(
    judge(hit("r1", {
      checkInDateLocalized: "2027-02-01T00:00:00.000Z",
      guest: { email: " ZOE@example.COM" },
    })).kind,
    "one",
  );
});

Deno.test("lookup: a hit carrying our reference is ours, on the stay or not", () => {
  assert.deepEqual(ids(judge(hit("r1", ref(BOOKING)))), ["r1"]);
  assert.deepEqual(ids(judge({ _id: "r2", status: "reserved", ...ref(BOOKING) })), ["r2"]);
});

Deno.test("lookup: another booking's reference, guest, source or stay is never ours", () => {
  for (
    const other of [
      hit("a", ref("11111111-2222-4333-8444-555555555555")),
      hit("b", { guest: { email: "someone@else.test" } }),
      hit("c", { guest: undefined }), // no guest and no guest id: cannot be told ours
      hit("d", { source: "airbnb" }),
      hit("e", { listingId: "L2" }),
      hit("f", { checkOutDateLocalized: "2027-02-06" }),
      hit("g", { checkInDateLocalized: "2027-01-31" }),
      { _id: "h", ...ref(42), status: 7 }, // a foreign shape
    ]
  ) {
    const verdict = judge(other);
    assert.equal(verdict.kind, "none", JSON.stringify(other));
    assert.equal(verdict.kind === "none" && verdict.ignored, 1);
  }
});

Deno.test("lookup: only live reservations count", () => {
  for (const ended of ["canceled", "declined", "expired", "closed"]) {
    assert.equal(judge(hit("r1", { status: ended })).kind, "none", ended);
  }
  assert.equal(judge(hit("r1", { status: "reserved" })).kind, "one");
});

Deno.test("lookup: two of this booking's (with its reference, or on its key without one) → operator", () => {
  const verdict = judge(hit("r1", ref(BOOKING)), hit("r2"));
  assert.equal(verdict.kind, "duplicates");
  assert.deepEqual(ids(verdict), ["r1", "r2"]);
  assert.equal(judge(hit("r1"), hit("r2")).kind, "duplicates");
});

Deno.test("lookup: more hits than one page, or an unreadable one of ours → operator", () => {
  const page = judgeLookup({ results: [hit("r1")], count: 101 }, KEY);
  assert.equal(page.kind, "unreadable");
  const unreadable = judge({ ...hit("x"), _id: undefined });
  assert.equal(unreadable.kind, "unreadable");
  assert.match(unreadable.kind === "unreadable" ? unreadable.error : "", /could not be read/);
});

Deno.test("lookup: a hit the search returns without its guest is judged by the guest's email", () => {
  const bare = hit("r1", { guest: undefined, guestId: "g1" });
  assert.equal(needsGuestEmail(bare, KEY), "g1");
  assert.equal(needsGuestEmail(hit("r1"), KEY), null, "the hit shows its guest");
  assert.equal(needsGuestEmail(hit("r1", { ...ref(BOOKING), guest: undefined }), KEY), null);
  assert.equal(needsGuestEmail({ ...bare, status: "canceled" }, KEY), null, "ended: moot");
  assert.equal(needsGuestEmail({ ...bare, source: "airbnb" }, KEY), null, "not on the key");
  const v3 = hit("r2", { guest: undefined, bookerId: "g2" });
  assert.equal(needsGuestEmail(v3, KEY), "g2", "v3's bookerId");
  const page = { results: [bare], count: 1 };
  assert.equal(judgeLookup(page, KEY, new Map([["g1", "zoe@example.com"]])).kind, "one");
  assert.equal(judgeLookup(page, KEY, new Map([["g1", "x@y.z"]])).kind, "none");
  assert.equal(judgeLookup(page, KEY).kind, "none", "unknown guest: never assumed ours");
});
