import assert from "node:assert/strict";
import { retryFailedSync, syncBookingToGuestly } from "../../functions/_shared/guestly/sync.ts";
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

Deno.test("a confirmed booking creates one reservation, then sets our reference on it, synced", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([created("65r1"), ...referenceSet("65r1")]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.deepEqual(result, { outcome: "synced", reservationId: "65r1", attempts: 2 });
  assert.equal(store.row!.guestly_reservation_id, "65r1");
  assert.equal(store.row!.guestly_sync_status, "synced");
  assert.ok(store.row!.guestly_reference_set_at, "the reference was read back");
  assert.equal(guestly.requests[0].method, "POST");
  assert.match(guestly.requests[0].url, /\/v1\/reservations-v3$/);
  assert.equal(guestly.requests[0].headers.get("authorization"), "Bearer tok-1");
  // The create carries no reference (Guesty drops it); the declared PUTs do, then a read back.
  assert.equal("customFields" in (guestly.bodies[0] as object), false);
  assert.deepEqual(
    guestly.requests.slice(1).map((r) => `${r.method} ${new URL(r.url).pathname}`),
    [
      "PUT /v1/reservations-v3/65r1/custom-fields",
    ],
  );
  assert.deepEqual(guestly.bodies[1], {
    customFields: [{ fieldId: "ref-field", value: store.row!.id }],
  });
  assert.deepEqual(store.attempts.map((a) => a.operation), [
    "create",
    "set_reference",
  ]);
});

Deno.test("a crash after the create was recorded: the next round sets the reference, never creates", async () => {
  // The reservation id was recorded (record_success) and the invocation died before the PUT.
  const store = new MemoryStore(bookingRow({
    guestly_reservation_id: "65r1",
    guestly_synced_status: "confirmed",
    guestly_sync_status: "pending",
    guestly_reference_set_at: null,
  }));
  store.row!.guestly_synced_state = desiredContent(store.row!);
  const guestly = new FakeGuestly(referenceSet("65r1"));
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "synced");
  assert.equal(guestly.requests.some((r) => r.method === "POST"), false, "no second create");
  assert.equal(guestly.requests.length, 1);
  assert.ok(store.row!.guestly_reference_set_at);
  assert.equal(store.row!.guestly_sync_status, "synced");
});

Deno.test("a custom-fields answer that does not show our reference: read back before it counts", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([
    created("65r1"),
    status(200, {}), // an answer that lists no custom fields
    status(200, { _id: "65r1", customFields: [{ fieldId: "ref-field", value: store.row!.id }] }),
  ]);
  const { deps } = testDeps(store, guestly);
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.deepEqual(store.attempts.map((a) => a.operation), [
    "create",
    "set_reference",
    "get_reservation",
  ]);
  assert.ok(store.row!.guestly_reference_set_at);
});

Deno.test("a reference Guestly did not keep is an operator's problem, never a second create", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([
    created("65r1"),
    status(200, { reservationId: "65r1", customFields: [] }),
    status(200, { _id: "65r1", customFields: [] }),
  ]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome === "failed" && result.final, true);
  assert.match(
    result.outcome === "failed" ? result.error : "",
    /did not keep our booking reference/,
  );
  assert.equal(store.row!.guestly_reservation_id, "65r1", "the reservation stays bound");
  assert.equal(store.row!.guestly_reference_set_at, null);
  assert.equal(guestly.requests.filter((r) => r.method === "POST").length, 1);
});

const synced = { guestly_reservation_id: "65r1", guestly_synced_status: "confirmed" as const };

Deno.test("status changes are idempotent: two 5xx then success, 1 s + 2 s of backoff", async () => {
  const store = new MemoryStore(bookingRow({ ...synced, status: "cancelled" }));
  const guestly = new FakeGuestly([status(503), status(500), status(200, { _id: "65r1" })]);
  const { deps, sleeps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "synced");
  assert.equal(store.row!.guestly_sync_attempts, 3);
  assert.deepEqual(sleeps, [1000, 2000]);
  assert.deepEqual(store.attempts.map((a) => a.outcome), ["retryable", "retryable", "success"]);
  assert.deepEqual(guestly.requests.map((r) => r.method), ["PUT", "PUT", "PUT"]);
});

Deno.test("a permanent 422 fails at once with Guestly's message and alerts", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([
    status(422, { error: { code: "VALIDATION_ERROR", message: "listingId: listing not found" } }),
  ]);
  const { deps, sleeps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "failed");
  assert.equal(
    result.outcome === "failed" && result.error,
    "Guestly HTTP 422: listingId: listing not found",
  );
  assert.equal(result.outcome === "failed" && result.final, true);
  assert.equal(store.row!.guestly_sync_attempts, 1);
  assert.deepEqual(sleeps, []);
  assert.equal(store.alerts, 1);
});

Deno.test("Guestly down: one round is 4 attempts and 1+2+4 s of backoff, not final yet", async () => {
  const store = new MemoryStore(bookingRow({ ...synced, status: "cancelled" }));
  const guestly = new FakeGuestly([status(503), status(503), status(503), status(503)]);
  const { deps, sleeps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "failed");
  assert.equal(result.outcome === "failed" && result.final, false);
  assert.equal(store.row!.guestly_sync_attempts, 4);
  assert.deepEqual(sleeps, [1000, 2000, 4000]);
  assert.equal(store.alerts, 0);
});

Deno.test("the attempt limit makes a failure final", async () => {
  const store = new MemoryStore(
    bookingRow({
      ...synced,
      status: "cancelled",
      guestly_sync_attempts: 8,
      guestly_sync_status: "failed",
    }),
  );
  const guestly = new FakeGuestly([status(503), status(503), status(503), status(503)]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome === "failed" && result.final, true);
  assert.equal(store.alerts, 1);
});

Deno.test("a 429's Retry-After is honoured when longer than the backoff", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([
    status(429, { error: { message: "slow down" } }, { "Retry-After": "3" }),
    created(),
    ...referenceSet(),
  ]);
  const { deps, sleeps } = testDeps(store, guestly);
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.deepEqual(sleeps, [3000]);
});

Deno.test("an earlier unknown outcome makes the next invocation look up first", async () => {
  const store = new MemoryStore(
    bookingRow({ guestly_sync_lookup_needed: true, guestly_sync_attempts: 1 }),
  );
  const guestly = new FakeGuestly([
    () => Response.json({ results: [], count: 0 }),
    created("65new"),
    ...referenceSet("65new"),
  ]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome === "synced" && result.reservationId, "65new");
  assert.deepEqual(guestly.requests.map((r) => r.method), ["GET", "POST", "PUT"]);
});

Deno.test("cancelling after sync changes the reservation's status; nothing new is created", async () => {
  const store = new MemoryStore(bookingRow({
    status: "cancelled",
    guestly_reservation_id: "65r1",
    guestly_synced_status: "confirmed",
    guestly_sync_status: "pending",
  }));
  const guestly = new FakeGuestly([() => Response.json({ _id: "65r1", status: "canceled" })]);
  const { deps } = testDeps(store, guestly);
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.equal(guestly.requests.length, 1);
  assert.equal(guestly.requests[0].method, "PUT");
  assert.match(guestly.requests[0].url, /reservations-v3\/65r1\/status$/);
  assert.equal((guestly.bodies[0] as { status: string }).status, "canceled");
});

Deno.test("a booking cancelled before any reservation existed calls nothing", async () => {
  const store = new MemoryStore(bookingRow({ status: "cancelled" }));
  const guestly = new FakeGuestly([]);
  const { deps } = testDeps(store, guestly);
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.equal(guestly.requests.length, 0);
  assert.equal(store.row!.guestly_reservation_id, null);
});

/** Guesty's answer to an expired token (shared/README.md). */
const EXPIRED = { error: { code: "UNAUTHORIZED", message: "access token expired" } };

Deno.test("an expired token is refreshed once; a second 401 is final", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([status(401, EXPIRED), created("65ok"), ...referenceSet("65ok")]);
  const { deps } = testDeps(store, guestly);
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.equal(guestly.tokensMinted, 2);
  assert.equal(guestly.requests[1].headers.get("authorization"), "Bearer tok-2");

  const store2 = new MemoryStore(bookingRow());
  const guestly2 = new FakeGuestly([status(401, EXPIRED), status(401, EXPIRED)]);
  const result = await syncBookingToGuestly(store2.row!.id, testDeps(store2, guestly2).deps);
  assert.equal(result.outcome === "failed" && result.final, true);
  assert.equal(store2.row!.guestly_sync_attempts, 2);
});

Deno.test("disabled: nothing is claimed or called", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([]);
  const { deps } = testDeps(store, guestly);
  deps.settings.enabled = false;
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "skipped");
  assert.equal(guestly.requests.length + guestly.tokensMinted, 0);
});

Deno.test("test mode logs the exact payload, calls nothing and does not mark synced", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([]);
  const { deps, log } = testDeps(store, guestly);
  deps.settings.testMode = true;
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "test_mode");
  assert.equal(guestly.requests.length + guestly.tokensMinted, 0);
  assert.equal(store.row!.guestly_sync_status, "pending");
  const entry = log.entries.find((e) => e.event === "guestly.sync.test_mode");
  assert.equal((entry?.would_send as { listingId: string }).listingId, "64f1a2b3c4d5e6f7a8b9c0d1");
});

Deno.test("a busy rate limiter defers the booking without counting an attempt", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([]);
  const { deps } = testDeps(store, guestly);
  // deno-lint-ignore no-explicit-any
  (deps.guestly.deps as any).limiter = { reserve: () => Promise.resolve(null) };
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "deferred");
  assert.equal(store.row!.guestly_sync_attempts, 0);
  assert.ok(store.released[0] instanceof Date);
});

Deno.test("a manual retry starts a new round for a failed booking", async () => {
  const store = new MemoryStore(
    bookingRow({ guestly_sync_status: "failed", guestly_sync_attempts: 12 }),
  );
  const guestly = new FakeGuestly([created("65again"), ...referenceSet("65again")]);
  const { deps } = testDeps(store, guestly);
  const result = await retryFailedSync(store.row!.id, deps);
  assert.equal(result.outcome === "synced" && result.reservationId, "65again");
  assert.equal(
    (await retryFailedSync(store.row!.id, testDeps(new MemoryStore(null), guestly).deps)).outcome,
    "not_found",
  );
});

Deno.test("a status change during the sync is followed up in the same invocation", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([
    () => {
      store.row!.status = "cancelled"; // the guest cancels while Guestly is creating
      return created("65r9")();
    },
    () => Response.json({ _id: "65r9", status: "canceled" }),
  ]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "synced");
  assert.deepEqual(guestly.requests.map((r) => r.method), ["POST", "PUT"]);
  assert.equal(store.row!.guestly_synced_status, "cancelled");
});

Deno.test("a phone we could not read reaches the host in the notes; a refusal of them holds nothing back", async () => {
  const store = new MemoryStore(bookingRow({ guest_phone: "ask at reception" }));
  const guestly = new FakeGuestly([
    created("65r1"),
    ...referenceSet("65r1"),
    status(200, { reservationId: "65r1", notes: {} }),
  ]);
  const { deps } = testDeps(store, guestly);
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.deepEqual(
    guestly.requests.slice(1).map((r) => `${r.method} ${new URL(r.url).pathname}`),
    ["PUT /v1/reservations-v3/65r1/custom-fields", "PUT /v1/reservations-v3/65r1/notes"],
  );
  assert.match(
    (guestly.bodies[2] as { notes: { other: string } }).notes.other,
    /Guest phone \(as entered\): ask at reception/,
  );

  const refused = new MemoryStore(bookingRow({ guest_phone: "ask at reception" }));
  const strict = new FakeGuestly([
    created("65r1"),
    ...referenceSet("65r1", refused.row!.id),
    status(400, { message: "notes.other is too long" }),
  ]);
  const result = await syncBookingToGuestly(refused.row!.id, testDeps(refused, strict).deps);
  assert.equal(result.outcome, "synced", "the notes are for the host: the booking is in Guestly");
  assert.ok(refused.row!.guestly_reference_set_at);
});
