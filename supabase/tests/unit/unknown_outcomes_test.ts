// Exactly once when Guestly's answers lie: a create that is not answered by a definite 2xx or
// 4xx is never sent again before a lookup that could see its effect; the lookup binds a hit with
// our reference, or one on the booking's stay (listing, dates, our source) with its guest and no
// reference yet, never another booking's; a cancel finds a phantom; a lost lease or a changed booking
// stops a request before it leaves; and a round ends inside the invocation's time budget.
import assert from "node:assert/strict";
import { syncBookingToGuestly } from "../../functions/_shared/guestly/sync.ts";
import { classifyHttpStatus } from "../../functions/_shared/guestly/retry-policy.ts";
import {
  bookingRow,
  created,
  dropped,
  FakeGuestly,
  MemoryStore,
  referenceSet,
  status,
  testDeps,
} from "./fakes.ts";

const BOOKING = bookingRow().id;
/** A hit on the booking's stay with our source, as the search returns it. */
const onStay = (
  id: string,
  { status = "confirmed", ref, email = "zoe@example.com", source = "website" }: {
    status?: string;
    ref?: string;
    email?: string | null;
    source?: string;
  } = {},
) => ({
  _id: id,
  confirmationCode: `GY-${id}`,
  status,
  source,
  listingId: bookingRow().guestly_listing_id,
  checkInDateLocalized: bookingRow().check_in,
  checkOutDateLocalized: bookingRow().check_out,
  ...(email === null
    ? { guestId: `g-${id}` }
    : { guest: { firstName: "Zoë", lastName: "O'Brien", email, phones: ["+447700900123"] } }),
  ...(ref ? { customFields: [{ fieldId: "ref-field", value: ref }] } : {}),
});
/** A reservation carrying our reference (found wherever it is). */
const ours = (id: string, reservationStatus = "confirmed", ref = BOOKING) => ({
  _id: id,
  confirmationCode: `GY-${id}`,
  status: reservationStatus,
  customFields: [{ fieldId: "ref-field", value: ref }],
});
const search = (...results: unknown[]) => () => Response.json({ results, count: results.length });

Deno.test("creates: 5xx and 408 are unknown outcomes; 4xx, 425, 429 and 401 are definite", () => {
  for (const code of [500, 502, 503, 504, 408]) {
    assert.equal(classifyHttpStatus(code, false), "unknown", `create answered ${code}`);
    assert.equal(classifyHttpStatus(code, true), "retryable", `status change answered ${code}`);
  }
  assert.equal(classifyHttpStatus(429, false), "retryable");
  assert.equal(classifyHttpStatus(425, false), "retryable");
  assert.equal(classifyHttpStatus(401, false), "auth");
  assert.equal(classifyHttpStatus(422, false), "permanent");
  assert.equal(classifyHttpStatus(201, false), "success");
});

for (
  const [name, answer] of [
    ["a 502 after commit", status(502, "<html>Bad Gateway</html>")],
    ["a 503", status(503)],
    ["a 504", status(504)],
    ["a 408", status(408)],
    ["a dropped connection", dropped()],
  ] as const
) {
  Deno.test(`${name} on a create ends the round: no second create before the settle delay`, async () => {
    const store = new MemoryStore(bookingRow());
    const guestly = new FakeGuestly([answer]);
    const { deps, sleeps, clock } = testDeps(store, guestly);
    const started = clock.now;
    const result = await syncBookingToGuestly(BOOKING, deps);
    assert.equal(result.outcome, "failed");
    assert.equal(result.outcome === "failed" && result.final, false);
    assert.match(result.outcome === "failed" ? result.error : "", /^outcome unknown: /);
    assert.deepEqual(guestly.requests.map((r) => r.method), ["POST"]);
    assert.deepEqual(sleeps, [], "no in-round retry after an unknown create");
    assert.equal(store.row!.guestly_sync_lookup_needed, true);
    assert.equal(store.failures[0].retryNotBefore?.getTime(), started + 60_000);
  });
}

Deno.test("back before the settle delay: deferred to its end, nothing sent", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([status(503)]);
  const { deps, clock } = testDeps(store, guestly);
  await syncBookingToGuestly(BOOKING, deps);
  const unknownAt = Date.parse(store.row!.guestly_sync_unknown_at!);
  clock.now += 5_000; // e.g. the guest cancels and the trigger calls us at once
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.deepEqual(result, {
    outcome: "deferred",
    until: new Date(unknownAt + 60_000).toISOString(),
  });
  assert.equal(guestly.requests.length, 1);
  assert.equal(store.row!.guestly_sync_attempts, 1);
});

Deno.test("after the settle delay the lookup finds the committed create by its stay: bound, then referenced", async () => {
  const store = new MemoryStore(bookingRow());
  // Committed behind the 502 without our reference (the create cannot carry it).
  const guestly = new FakeGuestly([
    status(502),
    search(onStay("65phantom")),
    ...referenceSet("65phantom"),
  ]);
  const { deps, clock } = testDeps(store, guestly);
  await syncBookingToGuestly(BOOKING, deps);
  clock.now += 60_000;
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "synced" && result.reservationId, "65phantom");
  assert.deepEqual(guestly.requests.map((r) => r.method), ["POST", "GET", "PUT"]);
  const lookup = new URL(guestly.requests[1].url);
  assert.equal(lookup.pathname, "/v1/reservations-v3/search");
  assert.equal(lookup.searchParams.get("filter[listingId]"), bookingRow().guestly_listing_id);
  assert.equal(lookup.searchParams.get("filter[checkInDateLocalized]"), "2027-02-01");
  assert.equal(lookup.searchParams.get("filter[checkOutDateLocalized]"), "2027-02-05");
  assert.equal(lookup.searchParams.get("filter[source]"), "website");
  assert.match(guestly.requests[2].url, /reservations-v3\/65phantom\/custom-fields$/);
  assert.ok(store.row!.guestly_reference_set_at);
});

Deno.test("a hit the search returns without its guest is checked by the guest's email", async () => {
  const store = new MemoryStore(bookingRow({ guestly_sync_lookup_needed: true }));
  const guestly = new FakeGuestly([
    search(onStay("65phantom", { email: null })),
    status(200, { _id: "g-65phantom", email: "Zoe@Example.com" }),
    ...referenceSet("65phantom"),
  ]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "synced" && result.reservationId, "65phantom");
  assert.match(guestly.requests[1].url, /\/guests-crud\/g-65phantom\?fields=email$/);

  // Another guest's reservation on the same stay (a forced double booking): not ours.
  const store2 = new MemoryStore(bookingRow({ guestly_sync_lookup_needed: true }));
  const guestly2 = new FakeGuestly([
    search(onStay("65theirs", { email: null })),
    status(200, { _id: "g-65theirs", email: "someone@else.test" }),
    created("65mine"),
    ...referenceSet("65mine"),
  ]);
  const result2 = await syncBookingToGuestly(BOOKING, testDeps(store2, guestly2).deps);
  assert.equal(result2.outcome === "synced" && result2.reservationId, "65mine");
});

Deno.test("a lookup hit that is not this booking's is never bound: the booking gets its own", async () => {
  const store = new MemoryStore(bookingRow({ guestly_sync_lookup_needed: true }));
  const guestly = new FakeGuestly([
    search(
      { _id: "65someoneelse", status: "confirmed" }, // nothing to know it by
      onStay("65other", { ref: "another-booking-id" }), // another booking's, on our stay
      onStay("65guest", { email: "other@example.com" }), // another guest
      onStay("65channel", { source: "airbnb" }), // a channel's
      { ...onStay("65later"), checkOutDateLocalized: "2027-02-06" }, // another stay
    ),
    created("65mine"),
    ...referenceSet("65mine"),
  ]);
  const { deps, log } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "synced" && result.reservationId, "65mine");
  assert.deepEqual(guestly.requests.map((r) => r.method), ["GET", "POST", "PUT"]);
  assert.equal(log.entries.find((e) => e.event === "guestly.lookup.foreign_hits")?.ignored, 5);
});

Deno.test("a hit carrying our reference is ours wherever it is (moved in Guestly)", async () => {
  const store = new MemoryStore(bookingRow({ guestly_sync_lookup_needed: true }));
  const moved = { ...onStay("65moved", { ref: BOOKING }), checkOutDateLocalized: "2027-02-07" };
  // Bound as it is, then brought back to the booking's stay (a dates change).
  const guestly = new FakeGuestly([search(moved), ...referenceSet("65moved"), status(200, {})]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "synced" && result.reservationId, "65moved");
});

Deno.test("a cancelled reservation of ours does not count: only live ones are bound", async () => {
  const store = new MemoryStore(bookingRow({ guestly_sync_lookup_needed: true }));
  const guestly = new FakeGuestly([
    search(ours("65old", "canceled"), onStay("65older", { status: "canceled" })),
    created("65new"),
    ...referenceSet("65new"),
  ]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "synced" && result.reservationId, "65new");
});

Deno.test("two live reservations of this booking: permanent failure naming both", async () => {
  const store = new MemoryStore(bookingRow({ guestly_sync_lookup_needed: true }));
  // One with our reference, one on the stay with none yet (a second create behind a 502).
  const guestly = new FakeGuestly([search(ours("65a"), onStay("65b", { status: "reserved" }))]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "failed" && result.final, true);
  const error = result.outcome === "failed" ? result.error : "";
  assert.match(error, /2 live Guestly reservations/);
  assert.match(error, /65a \(GY-65a\) confirmed/);
  assert.match(error, /65b \(GY-65b\) reserved/);
  assert.equal(store.row!.guestly_reservation_id, null, "bound to neither");
  assert.equal(store.alerts, 1);
  const named = store.alertDetails[0]?.duplicate_reservations as Array<{ id: string }>;
  assert.deepEqual(named.map((r) => r.id), ["65a", "65b"]);
  assert.equal(guestly.requests.length, 1, "nothing created or cancelled on its own");
});

Deno.test("a cancel after an unknown create finds and cancels the phantom", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([
    dropped(),
    search(onStay("65phantom")),
    status(200, { _id: "65phantom", status: "canceled" }),
  ]);
  const { deps, clock } = testDeps(store, guestly);
  await syncBookingToGuestly(BOOKING, deps);
  store.row!.status = "cancelled";
  clock.now += 60_000;
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "synced" && result.reservationId, "65phantom");
  assert.deepEqual(guestly.requests.map((r) => r.method), ["POST", "GET", "PUT"]);
  assert.match(guestly.requests[2].url, /reservations-v3\/65phantom\/status$/);
});

Deno.test("a cancel of a bound booking whose create was ever unknown cancels every live one", async () => {
  const store = new MemoryStore(bookingRow({
    status: "cancelled",
    guestly_reservation_id: "65bound",
    guestly_synced_status: "confirmed",
    guestly_sync_unknown_at: "2027-01-15T09:00:00Z",
  }));
  const guestly = new FakeGuestly([
    search(ours("65bound"), onStay("65late")),
    status(200, { _id: "65bound" }),
    status(200, { _id: "65late" }),
  ]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "synced" && result.reservationId, "65bound");
  assert.deepEqual(guestly.requests.map((r) => `${r.method} ${new URL(r.url).pathname}`), [
    "GET /v1/reservations-v3/search",
    "PUT /v1/reservations-v3/65bound/status",
    "PUT /v1/reservations-v3/65late/status",
  ]);
});

Deno.test("a lease lost before the create leaves: nothing is sent or recorded", async () => {
  const store = new MemoryStore(bookingRow());
  store.leaseStolen = true;
  const guestly = new FakeGuestly([]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.deepEqual(result, { outcome: "skipped", reason: "lease lost" });
  assert.equal(guestly.requests.length, 0);
  assert.equal(store.attempts.length, 0);
});

Deno.test("a booking cancelled while its create waits for a send slot is never created", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([]);
  const { deps } = testDeps(store, guestly);
  // deno-lint-ignore no-explicit-any
  (deps.guestly.deps as any).limiter = {
    reserve: () => {
      store.row!.status = "cancelled"; // the guest cancels while we wait for the limiter
      return Promise.resolve(new Date(0));
    },
  };
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome, "synced");
  assert.equal(guestly.requests.length, 0, "no create, and nothing to cancel");
  assert.equal(store.row!.guestly_synced_status, "cancelled");
});

Deno.test("a retry that would not fit the time budget ends the round with a retry time", async () => {
  const store = new MemoryStore(bookingRow({ ...{ guestly_reservation_id: "65r1" } }));
  store.row!.guestly_synced_status = "confirmed";
  store.row!.status = "cancelled";
  const guestly = new FakeGuestly([status(503), status(503)]);
  const { deps, sleeps, clock } = testDeps(store, guestly);
  deps.settings.budgetMs = 3_500; // timeout 1 s: the 1 s wait fits, the 2 s one does not
  const started = clock.now;
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "failed" && result.final, false);
  assert.deepEqual(sleeps, [1000]);
  assert.equal(guestly.requests.length, 2);
  assert.equal(store.failures[0].retryNotBefore?.getTime(), started + 1000 + 2000);
});

Deno.test("a saturated limiter and a small budget: deferred, not killed mid-wait", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([]);
  const { deps, sleeps } = testDeps(store, guestly);
  deps.settings.budgetMs = 5_000;
  const asked: number[] = [];
  // deno-lint-ignore no-explicit-any
  (deps.guestly.deps as any).limiter = {
    reserve: (maxWaitMs: number) => {
      asked.push(maxWaitMs);
      return Promise.resolve(null); // no slot within what we may wait
    },
  };
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome, "deferred");
  assert.deepEqual(asked, [4_000], "may wait at most budget − request timeout");
  assert.deepEqual(sleeps, []);
  assert.equal(store.attempts.length, 0);
  assert.ok(store.released[0] instanceof Date);
});

Deno.test("creates go out through fetchOnce, status changes through the pooled fetch", async () => {
  const store = new MemoryStore(bookingRow());
  const pooled = new FakeGuestly([]);
  const once = new FakeGuestly([created("65r1")]);
  pooled.answers.push(...referenceSet("65r1"));
  const { deps } = testDeps(store, pooled);
  // deno-lint-ignore no-explicit-any
  (deps.guestly.deps as any).fetchOnce = once.fetch;
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome, "synced");
  assert.deepEqual(once.requests.map((r) => r.method), ["POST"]);
  // The reference's PUTs set values (idempotent): pooled.
  assert.deepEqual(pooled.requests.map((r) => r.method), ["PUT"]);
});

Deno.test("a create whose pre-send check ends after its slot takes a fresh slot (no bunching)", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([created("65r1"), ...referenceSet("65r1")]);
  const { deps, clock } = testDeps(store, guestly);
  const slots: number[] = [];
  // deno-lint-ignore no-explicit-any
  (deps.guestly.deps as any).limiter = {
    reserve: () => {
      const slot = clock.now + 500;
      slots.push(slot);
      return Promise.resolve(new Date(slot));
    },
  };
  const confirm = store.confirmLease.bind(store);
  let checks = 0;
  store.confirmLease = async (id, lease) => {
    checks++;
    if (checks === 1) clock.now += 900; // a slow database under a burst
    return await confirm(id, lease);
  };
  const sentAt: number[] = [];
  const send = guestly.fetch;
  // deno-lint-ignore no-explicit-any
  (deps.guestly.deps as any).fetchOnce = (input: RequestInfo | URL, init?: RequestInit) => {
    sentAt.push(clock.now);
    return send(input, init);
  };
  assert.equal((await syncBookingToGuestly(BOOKING, deps)).outcome, "synced");
  assert.equal(
    slots.length,
    2 + 1,
    "the late create reserved a second slot (+ the reference's PUT)",
  );
  assert.equal(checks, 2, "a check a moment old still holds (then one for the reference PUT)");
  assert.deepEqual(sentAt, [slots[1]], "and left exactly at it");
});

Deno.test("a create whose wait for its slot overruns (a busy runtime) takes a fresh slot", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([created("65r1"), ...referenceSet("65r1")]);
  const { deps, clock } = testDeps(store, guestly);
  const slots: number[] = [];
  // deno-lint-ignore no-explicit-any
  const client = deps.guestly.deps as any;
  client.limiter = {
    reserve: () => {
      const slot = clock.now + 500;
      slots.push(slot);
      return Promise.resolve(new Date(slot));
    },
  };
  client.sleep = (ms: number) => {
    // The wait that ends at the first slot fires 200 ms late: the event loop was busy.
    const overrun = clock.now + ms === slots[0] && slots.length === 1 ? 200 : 0;
    clock.now += ms + overrun;
    return Promise.resolve();
  };
  const sentAt: number[] = [];
  const send = guestly.fetch;
  client.fetchOnce = (input: RequestInfo | URL, init?: RequestInit) => {
    sentAt.push(clock.now);
    return send(input, init);
  };
  assert.equal((await syncBookingToGuestly(BOOKING, deps)).outcome, "synced");
  assert.equal(
    slots.length,
    2 + 1,
    "the late create reserved a second slot (+ the reference's PUT)",
  );
  assert.deepEqual(sentAt, [slots[1]], "and left exactly at it, not 200 ms after the first");
});

Deno.test("a name Guestly would refuse is caught before sending, naming the field", async () => {
  const store = new MemoryStore(bookingRow({ guest_first_name: "   " }));
  const guestly = new FakeGuestly([]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "failed" && result.final, true);
  assert.equal(
    result.outcome === "failed" && result.error,
    "Guestly would refuse the reservation: guest.firstName: must not be empty",
  );
  assert.equal(guestly.requests.length, 0);
});

Deno.test("an unknown create at the attempt limit is not final: the next round only looks up", async () => {
  const store = new MemoryStore(bookingRow({ guestly_sync_attempts: 11 }));
  const guestly = new FakeGuestly([status(502), search()]);
  const { deps, clock } = testDeps(store, guestly);
  const first = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(first.outcome === "failed" && first.final, false, "attempt 12 was unknown");
  clock.now += 60_000;
  const second = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(second.outcome === "failed" && second.final, true);
  assert.match(
    second.outcome === "failed" ? second.error : "",
    /attempts used up: the last create/,
  );
  assert.deepEqual(guestly.requests.map((r) => r.method), ["POST", "GET"], "no 14th create");
  assert.equal(store.alerts, 1);
});

Deno.test("an unknown create at the attempt limit whose lookup finds it: bound, synced", async () => {
  const store = new MemoryStore(bookingRow({ guestly_sync_attempts: 11 }));
  const guestly = new FakeGuestly([
    status(504),
    search(onStay("65late")),
    ...referenceSet("65late"),
  ]);
  const { deps, clock } = testDeps(store, guestly);
  await syncBookingToGuestly(BOOKING, deps);
  clock.now += 60_000;
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "synced" && result.reservationId, "65late");
  assert.equal(store.alerts, 0);
});

Deno.test("a budget the 180 s lease could not cover is refused at start-up", async () => {
  const { parseGuestlyEnv } = await import("../../functions/_shared/guestly/config.ts");
  const env = {
    SUPABASE_DB_URL: "postgresql://x",
    GUESTLY_FUNCTION_BUDGET_MS: "175000",
    GUESTLY_REQUEST_TIMEOUT_MS: "10000",
  };
  assert.throws(
    () => parseGuestlyEnv(env),
    /GUESTLY_FUNCTION_BUDGET_MS \+ GUESTLY_REQUEST_TIMEOUT_MS/,
  );
  assert.throws(
    () =>
      parseGuestlyEnv({
        ...env,
        GUESTLY_FUNCTION_BUDGET_MS: "60000",
        GUESTLY_UNKNOWN_SETTLE_MS: "5000",
      }),
    /GUESTLY_UNKNOWN_SETTLE_MS \(5000\) must be longer than GUESTLY_REQUEST_TIMEOUT_MS/,
  );
});

Deno.test("foreign hits of any shape never stop the lookup; an unreadable one of ours does", async () => {
  const foreign = { _id: "65x", customFields: [{ fieldId: "ref-field", value: 42 }], status: 7 };
  const store = new MemoryStore(bookingRow({ guestly_sync_lookup_needed: true }));
  const guestly = new FakeGuestly([
    search(foreign, { weird: true }),
    created("65mine"),
    ...referenceSet("65mine"),
  ]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "synced" && result.reservationId, "65mine");

  const store2 = new MemoryStore(bookingRow({ guestly_sync_lookup_needed: true }));
  const broken = { customFields: [{ fieldId: "ref-field", value: BOOKING }], status: "confirmed" };
  const guestly2 = new FakeGuestly([search(broken)]);
  const result2 = await syncBookingToGuestly(BOOKING, testDeps(store2, guestly2).deps);
  assert.equal(result2.outcome === "failed" && result2.final, true, "never create beside it");
  assert.match(result2.outcome === "failed" ? result2.error : "", /could not be read/);
});

Deno.test("more hits than one page: permanent, never a create beside a reservation not seen", async () => {
  const store = new MemoryStore(bookingRow({ guestly_sync_lookup_needed: true }));
  const guestly = new FakeGuestly([() => Response.json({ results: [], count: 140 })]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "failed" && result.final, true);
  assert.match(result.outcome === "failed" ? result.error : "", /matched 140 reservations/);
  assert.equal(guestly.requests.length, 1);
});

// The stay a create sent is what its reservation is found by, whatever the booking says now.
const movedStay = (id: string, checkIn = "2027-02-01", checkOut = "2027-02-05") => ({
  ...onStay(id),
  checkInDateLocalized: checkIn,
  checkOutDateLocalized: checkOut,
});

Deno.test("unknown create, then the website moves the dates: the lookup finds it on the stay it sent", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([
    status(502), // committed on 2027-02-01..05, without our reference
    search(movedStay("65phantom")), // the stay the create sent
    search(), // the booking's stay now: nothing
    ...referenceSet("65phantom"),
  ]);
  const { deps, clock } = testDeps(store, guestly);
  await syncBookingToGuestly(BOOKING, deps);
  assert.deepEqual(store.row!.guestly_create_keys, [{
    listing_id: bookingRow().guestly_listing_id,
    check_in: "2027-02-01",
    check_out: "2027-02-05",
    guest_email: bookingRow().guest_email,
  }]);
  store.row!.check_in = "2027-02-10";
  store.row!.check_out = "2027-02-14";
  clock.now += 60_000;
  await syncBookingToGuestly(BOOKING, deps);
  // Bound (the round goes on to move it to the booking's stay now), never created again.
  assert.equal(store.row!.guestly_reservation_id, "65phantom");
  assert.equal(guestly.requests.filter((r) => r.method === "POST").length, 1, "one create only");
  const searched = guestly.requests.filter((r) => r.url.includes("/search"))
    .map((r) => new URL(r.url).searchParams.get("filter[checkInDateLocalized]"));
  assert.deepEqual(searched, ["2027-02-01", "2027-02-10"]);
  assert.deepEqual(store.row!.guestly_create_keys, [], "answered once the reservation is recorded");
});

Deno.test("unknown create, then the listing and the guest's email change: still found, one create", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([
    status(504),
    search(onStay("65phantom")), // the old listing's stay, with the old email
    search(), // the new listing
    ...referenceSet("65phantom"),
  ]);
  const { deps, clock } = testDeps(store, guestly);
  await syncBookingToGuestly(BOOKING, deps);
  store.row!.guestly_listing_id = "listing-elsewhere";
  store.row!.guest_email = "zoe.new@example.com";
  clock.now += 60_000;
  await syncBookingToGuestly(BOOKING, deps);
  // Bound (the round goes on to move it to the booking's stay now), never created again.
  assert.equal(store.row!.guestly_reservation_id, "65phantom");
  assert.equal(guestly.requests.filter((r) => r.method === "POST").length, 1);
  const listings = guestly.requests.filter((r) => r.url.includes("/search"))
    .map((r) => new URL(r.url).searchParams.get("filter[listingId]"));
  assert.deepEqual(listings, [bookingRow().guestly_listing_id, "listing-elsewhere"]);
});

Deno.test("unknown create, dates moved, then cancelled: the phantom on the old stay is cancelled", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([
    dropped(),
    search(movedStay("65phantom")),
    search(),
    status(200, { _id: "65phantom", status: "canceled" }),
  ]);
  const { deps, clock } = testDeps(store, guestly);
  await syncBookingToGuestly(BOOKING, deps);
  store.row!.check_in = "2027-02-10";
  store.row!.check_out = "2027-02-14";
  store.row!.status = "cancelled";
  clock.now += 60_000;
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "synced" && result.reservationId, "65phantom");
  assert.match(guestly.requests.at(-1)!.url, /reservations-v3\/65phantom\/status$/);
});

Deno.test("a hit another booking records (same guest, same stay) is never bound: ours is created", async () => {
  // B1's hold on the stay; B2 (the same guest) asks for the same nights and its create is lost.
  const store = new MemoryStore(bookingRow({ guestly_reservations_elsewhere: ["65other"] }));
  const guestly = new FakeGuestly([
    status(502), // refused in fact (the nights are B1's): nothing committed
    search(onStay("65other")),
    created("65mine"),
    ...referenceSet("65mine"),
  ]);
  const { deps, clock } = testDeps(store, guestly);
  await syncBookingToGuestly(BOOKING, deps);
  clock.now += 60_000;
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "synced" && result.reservationId, "65mine");
  assert.equal(store.row!.guestly_reservation_id, "65mine");
});

Deno.test("record_success refusing a reservation another booking records: a final failure, not a throw", async () => {
  const store = new MemoryStore(bookingRow());
  store.recordedElsewhere.add("65other");
  const guestly = new FakeGuestly([status(502), search(onStay("65other"))]);
  const { deps, clock } = testDeps(store, guestly);
  await syncBookingToGuestly(BOOKING, deps);
  clock.now += 60_000;
  const result = await syncBookingToGuestly(BOOKING, deps);
  assert.equal(result.outcome === "failed" && result.final, true, JSON.stringify(result));
  assert.match(store.failures.at(-1)!.error, /65other is already recorded on another booking/);
  assert.equal(store.row!.guestly_reservation_id, null);
});
