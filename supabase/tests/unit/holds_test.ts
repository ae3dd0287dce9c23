// A hold while the guest pays: placed as a `reserved` reservation through the same sync round
// (lease, attempt log, lookup rules), at the `hold` priority; refused nights are the website's
// answer (`unavailable`), never an admin's alert; the payment confirms the same reservation.
import assert from "node:assert/strict";
import { syncBookingToGuestly } from "../../functions/_shared/guestly/sync.ts";
import { guestlyTarget, syncedStatusAfter } from "../../functions/_shared/guestly/mapping.ts";
import { HoldMinutes, reservedUntilHours } from "../../functions/_shared/guestly/hold.ts";
import { parseGuestlyEnv } from "../../functions/_shared/guestly/config.ts";
import type { RateLimiter, RequestPriority } from "../../functions/_shared/guestly/client.ts";
import { bookingRow, FakeGuestly, MemoryStore, referenceSet, status, testDeps } from "./fakes.ts";

const HOLD_ID = "65bbbbbbbbbbbbbbbbbbbbbb";
const reserved = () => () =>
  Response.json({ reservationId: HOLD_ID, _id: HOLD_ID, status: "reserved" }, { status: 201 });
const confirmed = () => () =>
  Response.json({ reservationId: HOLD_ID, _id: HOLD_ID, status: "confirmed" });
/** Guestly's read of the hold (GET /reservations/{id}) before the payment confirms it. */
const read = (status: string, more: Record<string, unknown> = {}) => () =>
  Response.json({ _id: HOLD_ID, status, ...more });
const canceled = () => () =>
  Response.json({ reservationId: HOLD_ID, _id: HOLD_ID, status: "canceled" });

function holdBooking(overrides = {}) {
  return bookingRow({
    status: "pending_payment",
    stripe_payment_intent_id: null,
    guestly_hold_status: "placing",
    guestly_hold_minutes: 10,
    ...overrides,
  });
}

Deno.test("the status table with holds: reserved while placing or held, canceled to release", () => {
  assert.equal(guestlyTarget({ status: "pending_payment" }), null);
  assert.equal(
    guestlyTarget({ status: "pending_payment", guestly_hold_status: "placing" }),
    "reserved",
  );
  assert.equal(
    guestlyTarget({ status: "pending_payment", guestly_hold_status: "held" }),
    "reserved",
  );
  assert.equal(
    guestlyTarget({ status: "pending_payment", guestly_hold_status: "releasing" }),
    "canceled",
  );
  for (const hold of ["unavailable", "failed", "released", "expired"] as const) {
    assert.equal(guestlyTarget({ status: "pending_payment", guestly_hold_status: hold }), null);
  }
  // Once paid, the hold no longer decides anything.
  assert.equal(guestlyTarget({ status: "confirmed", guestly_hold_status: "held" }), "confirmed");
  assert.equal(
    syncedStatusAfter({ status: "pending_payment", guestly_hold_status: "releasing" }),
    "cancelled",
  );
  assert.equal(
    syncedStatusAfter({ status: "pending_payment", guestly_hold_status: "placing" }),
    "pending_payment",
  );
});

Deno.test("GUESTLY_HOLD_MINUTES: 0 by default, only Guesty's hold lengths, named when wrong", () => {
  assert.equal(HoldMinutes.parse(undefined), 0);
  assert.equal(HoldMinutes.parse("10"), 10);
  // Guesty's reservedUntil takes only -1, 0.17, 0.25, 0.5, 12, 24, 36, 48, 72 (hours).
  assert.equal(reservedUntilHours(10), 0.17);
  assert.equal(reservedUntilHours(30), 0.5);
  assert.equal(reservedUntilHours(4320), 72);
  assert.throws(() => reservedUntilHours(90), /90-minute/);
  for (const refused of ["90", "1", "20", "60"]) {
    assert.throws(
      () => parseGuestlyEnv({ SUPABASE_DB_URL: "postgres://x", GUESTLY_HOLD_MINUTES: refused }),
      /GUESTLY_HOLD_MINUTES.*10, 15, 30, 720, 1440, 2160, 2880, 4320/s,
    );
  }
  const base = { SUPABASE_DB_URL: "postgres://x" };
  assert.equal(parseGuestlyEnv(base).GUESTLY_HOLD_MINUTES, 0);
  assert.throws(
    () => parseGuestlyEnv({ ...base, GUESTLY_HOLD_MINUTES: "ten" }),
    /GUESTLY_HOLD_MINUTES/,
  );
  assert.throws(
    () => parseGuestlyEnv({ ...base, GUESTLY_HOLD_MINUTES: "2000" }),
    /GUESTLY_HOLD_MINUTES/,
  );
});

Deno.test("a hold is created as reserved with its hours, at the hold priority, and recorded held", async () => {
  const store = new MemoryStore(holdBooking());
  const guestly = new FakeGuestly([reserved()]);
  const priorities: (RequestPriority | undefined)[] = [];
  const { deps } = testDeps(store, guestly);
  const limiter: RateLimiter = {
    reserve: (_wait, priority) => {
      priorities.push(priority);
      return Promise.resolve(new Date(0));
    },
  };
  (deps.guestly.deps as { limiter: RateLimiter }).limiter = limiter;
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "synced");
  const body = guestly.bodies[0] as { status: string; reservedUntil: number };
  assert.equal(body.status, "reserved");
  assert.equal(body.reservedUntil, 0.17);
  assert.ok(priorities.length > 0 && priorities.every((p) => p === "hold"), `${priorities}`);
  assert.equal(store.row!.guestly_hold_status, "held");
  assert.equal(store.row!.guestly_reservation_id, HOLD_ID);
  assert.equal(store.row!.guestly_synced_status, "pending_payment");
});

Deno.test("a hold waiting for a send slot stops within a second once the guest pays", async () => {
  const store = new MemoryStore(holdBooking());
  const guestly = new FakeGuestly([
    () =>
      Response.json({ reservationId: HOLD_ID, _id: HOLD_ID, status: "confirmed" }, { status: 201 }),
    ...referenceSet(HOLD_ID),
  ]);
  const { deps, clock } = testDeps(store, guestly);
  const started = clock.now;
  let paidAt: number | null = null;
  const limiter: RateLimiter = {
    // Holds find every slot taken (paid work fills the window); paid work gets one.
    reserve: (_wait, priority) => {
      if (priority !== "hold") return Promise.resolve(new Date(clock.now));
      if (paidAt === null && clock.now - started >= 2_000) {
        store.row!.status = "confirmed"; // the payment arrives; its invocation found the lease
        paidAt = clock.now;
      }
      return Promise.resolve(null);
    },
  };
  (deps.guestly.deps as { limiter: RateLimiter }).limiter = limiter;
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "synced");
  assert.ok(paidAt !== null);
  assert.ok(clock.now - paidAt! <= 1_500, `the paid booking waited ${clock.now - paidAt!} ms`);
  assert.equal(
    guestly.requests.filter((r) => r.method === "POST").length,
    1,
    "no hold is sent: the paid create is",
  );
  assert.equal((guestly.bodies[0] as { status: string }).status, "confirmed");
});

Deno.test("taken nights: the hold is unavailable, final, and nobody is alerted", async () => {
  const store = new MemoryStore(holdBooking());
  const guestly = new FakeGuestly([
    status(409, { error: { code: "LISTING_CALENDAR_BLOCKED", message: "blocked" } }),
  ]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.ok(result.outcome === "failed" && result.final);
  assert.equal(store.row!.guestly_hold_status, "unavailable");
  assert.equal(store.alerts, 0, "a refused hold is the website's answer, not an admin's alert");
  assert.equal(guestly.requests.length, 1);
});

Deno.test("paid after the hold was placed: the same reservation is confirmed, nothing created", async () => {
  const store = new MemoryStore(holdBooking());
  const guestly = new FakeGuestly([
    reserved(),
    read("reserved"),
    confirmed(),
    ...referenceSet(HOLD_ID),
  ]);
  const { deps } = testDeps(store, guestly);
  await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(guestly.requests.length, 1, "a hold gets its reference once it is paid for");
  store.row!.status = "confirmed";
  store.row!.guestly_sync_status = "pending";
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "synced");
  assert.equal(guestly.requests.length, 3 + 1);
  assert.equal(guestly.requests[1].method, "GET", "the hold is read: still live?");
  assert.equal(guestly.requests[2].method, "PUT");
  assert.match(guestly.requests[2].url, new RegExp(`/reservations-v3/${HOLD_ID}/status$`));
  assert.deepEqual(guestly.bodies[2], { status: "confirmed" });
  // Paid for: our reference goes on it next.
  assert.match(guestly.requests[3].url, new RegExp(`/reservations-v3/${HOLD_ID}/custom-fields$`));
  assert.equal(store.row!.guestly_hold_status, "confirmed");
  assert.equal(store.row!.guestly_reservation_id, HOLD_ID);
});

Deno.test("the hold ran out and its nights were taken: a new create decides, so a fix can work", async () => {
  const blocked = () =>
    status(409, { error: { code: "LISTING_CALENDAR_BLOCKED", message: "blocked" } });
  const NEW_ID = "65cccccccccccccccccccccc";
  const store = new MemoryStore(holdBooking());
  const guestly = new FakeGuestly([
    reserved(),
    read("expired"), // ran out: not cancelled, so the confirm is tried
    blocked(), // the lapsed hold cannot be confirmed
    blocked(), // nor can a new reservation be made: a double booking
    () =>
      Response.json({ reservationId: NEW_ID, _id: NEW_ID, status: "confirmed" }, { status: 201 }),
    ...referenceSet(NEW_ID),
  ]);
  const { deps } = testDeps(store, guestly);
  await syncBookingToGuestly(store.row!.id, deps);
  store.row!.guestly_hold_status = "expired";
  store.row!.status = "confirmed";
  store.row!.guestly_sync_status = "pending";
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.ok(result.outcome === "failed" && result.final);
  assert.equal(store.failures.at(-1)?.errorKind, "conflict");
  assert.equal(store.alerts, 1, "one double-booking alert");
  assert.deepEqual(guestly.requests.slice(1).map((r) => r.method), ["GET", "PUT", "POST"]);
  // The booking no longer holds the lapsed hold: the operator's forced retry creates anew.
  assert.equal(store.row!.guestly_reservation_id, null);
  assert.equal(store.row!.guestly_hold_status, "expired");
  store.row!.guestly_sync_status = "pending";
  store.row!.guestly_ignore_calendar = true;
  const forced = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(forced.outcome, "synced");
  const lastPost = guestly.requests.map((r) => r.method).lastIndexOf("POST");
  assert.equal(lastPost, guestly.requests.length - 2, "the create, then the reference's PUT");
  assert.equal((guestly.bodies[lastPost] as { ignoreCalendar?: boolean }).ignoreCalendar, true);
  assert.equal(store.row!.guestly_reservation_id, NEW_ID);
});

Deno.test("the host cancelled the hold and its webhook never came: the payment makes a new reservation, never confirms the cancelled one", async () => {
  const NEW_ID = "65dddddddddddddddddddddd";
  const store = new MemoryStore(holdBooking());
  const guestly = new FakeGuestly([
    reserved(),
    read("canceled", { canceledBy: "host" }),
    () =>
      Response.json({ reservationId: NEW_ID, _id: NEW_ID, status: "confirmed" }, { status: 201 }),
    ...referenceSet(NEW_ID),
  ]);
  const { deps } = testDeps(store, guestly);
  await syncBookingToGuestly(store.row!.id, deps);
  store.row!.status = "confirmed";
  store.row!.guestly_sync_status = "pending";
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "synced");
  assert.deepEqual(
    guestly.requests.map((r) => `${r.method} ${new URL(r.url).pathname}`),
    [
      "POST /v1/reservations-v3",
      `GET /v1/reservations/${HOLD_ID}`,
      "POST /v1/reservations-v3",
      // Our reference on the new one.
      `PUT /v1/reservations-v3/${NEW_ID}/custom-fields`,
    ],
    "no status change is sent to the cancelled hold",
  );
  assert.equal((guestly.bodies[2] as { status?: string }).status, "confirmed");
  assert.equal(store.row!.guestly_reservation_id, NEW_ID);
  assert.equal(store.row!.guestly_hold_status, "cancelled");
});

Deno.test("our own release cancelled the hold, then the guest paid: a new reservation, and no host is blamed", async () => {
  const NEW_ID = "65eeeeeeeeeeeeeeeeeeeeee";
  const store = new MemoryStore(holdBooking({
    status: "confirmed",
    guestly_hold_status: "releasing",
    guestly_reservation_id: HOLD_ID,
    guestly_synced_status: "pending_payment",
    guestly_sync_status: "pending",
  }));
  const guestly = new FakeGuestly([
    read("canceled", { canceledBy: "user" }),
    () =>
      Response.json({ reservationId: NEW_ID, _id: NEW_ID, status: "confirmed" }, { status: 201 }),
    ...referenceSet(NEW_ID),
  ]);
  const forgotten: string[] = [];
  const lapsed = store.forgetLapsedHold.bind(store);
  store.forgetLapsedHold = (...a) => (forgotten.push("lapsed"), lapsed(...a));
  const cancelled = store.forgetCancelledHold.bind(store);
  store.forgetCancelledHold = (...a) => (forgotten.push("cancelled"), cancelled(...a));
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "synced");
  assert.equal(store.row!.guestly_reservation_id, NEW_ID);
  // Not `cancelled`, the state that tells the admin a host cancelled the hold of a paid stay
  // (tg_bookings__alert_paid_after_hold_cancelled): the hold lapsed, then the new one confirmed.
  assert.notEqual(store.row!.guestly_hold_status, "cancelled");
  assert.deepEqual(forgotten, ["lapsed"]);
});

Deno.test("paid before the hold's request left: one confirmed create, no hold", async () => {
  const store = new MemoryStore(holdBooking());
  const guestly = new FakeGuestly([
    () =>
      Response.json({ reservationId: HOLD_ID, _id: HOLD_ID, status: "confirmed" }, { status: 201 }),
    ...referenceSet(HOLD_ID),
  ]);
  const { deps } = testDeps(store, guestly);
  // The payment lands between the claim and the request: the pre-send check sees it.
  const confirm = store.confirmLease.bind(store);
  store.confirmLease = (id, lease) => {
    store.row!.status = "confirmed";
    return confirm(id, lease);
  };
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "synced");
  assert.equal(guestly.requests.filter((r) => r.method === "POST").length, 1);
  assert.equal((guestly.bodies[0] as { status: string }).status, "confirmed");
  assert.equal(store.row!.guestly_hold_status, "confirmed");
});

Deno.test("releasing: the held reservation is cancelled and forgotten, so a later payment creates", async () => {
  const store = new MemoryStore(holdBooking({
    guestly_hold_status: "releasing",
    guestly_reservation_id: HOLD_ID,
    guestly_synced_status: "pending_payment",
    guestly_sync_status: "pending",
  }));
  const guestly = new FakeGuestly([canceled()]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "synced");
  assert.deepEqual((guestly.bodies[0] as { status: string }).status, "canceled");
  assert.equal(store.row!.guestly_hold_status, "released");
  assert.equal(store.row!.guestly_reservation_id, null);
});

Deno.test("a hold's unknown create is looked up before anything is sent again", async () => {
  const store = new MemoryStore(holdBooking());
  const guestly = new FakeGuestly([status(502)]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.ok(result.outcome === "failed" && !result.final);
  assert.equal(store.row!.guestly_sync_lookup_needed, true);
  assert.equal(store.holdFailures.length, 1);
  assert.equal(store.alerts, 0);
  assert.equal(store.row!.guestly_hold_status, "placing", "the website hears `unknown`");
});

// --- guestly-hold: the website's wait for the outcome --------------------------------------

import {
  createGuestlyHoldHandler,
  type HoldState,
} from "../../functions/_shared/guestly/hold-handler.ts";
import { serviceKeysFrom } from "../../functions/_shared/service-keys.ts";
import { memoryLogger } from "../../functions/_shared/log.ts";

const SECRET = "sb_secret_" + "h".repeat(32);

function holdHandler(states: HoldState[]) {
  const clock = { now: 0 };
  const reads: number[] = [];
  const handler = createGuestlyHoldHandler({
    serviceKeys: serviceKeysFrom({ SUPABASE_SECRET_KEY: SECRET }),
    readState: () => {
      reads.push(clock.now);
      return Promise.resolve(states.length > 1 ? states.shift()! : states[0]);
    },
    sleep: (ms) => {
      clock.now += ms;
      return Promise.resolve();
    },
    now: () => clock.now,
    log: memoryLogger(),
    pollMs: 100,
  });
  const ask = (body: unknown, key = SECRET) =>
    handler(
      new Request("http://x/guestly-hold", {
        method: "POST",
        headers: { apikey: key, "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    );
  return { ask, reads };
}

const ID = "5eed0000-0000-4000-8000-0000000000aa";
const pending = (hold_status: HoldState["hold_status"]): HoldState => ({
  found: true,
  status: "pending_payment",
  hold_status,
  hold_until: hold_status === "held" ? "2027-01-15T10:10:00Z" : null,
});

Deno.test("guestly-hold waits while the hold is being placed and answers held", async () => {
  const { ask, reads } = holdHandler([pending("placing"), pending("placing"), pending("held")]);
  const res = await ask({ bookingId: ID, waitMs: 2000 });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.hold, "held");
  assert.equal(body.holdUntil, "2027-01-15T10:10:00Z");
  assert.equal(reads.length, 3);
});

Deno.test("guestly-hold: taken nights → unavailable; Guestly silent past the wait → unknown", async () => {
  assert.equal(
    (await (await holdHandler([pending("unavailable")]).ask({ bookingId: ID })).json()).hold,
    "unavailable",
  );
  const slow = holdHandler([pending("placing")]);
  const res = await slow.ask({ bookingId: ID, waitMs: 1000 });
  const body = await res.json();
  assert.equal(body.hold, "unknown");
  assert.ok(body.waitedMs <= 1000);
  assert.match(body.reason, /not answered/);
  const off = await (await holdHandler([pending(null)]).ask({ bookingId: ID })).json();
  assert.equal(off.hold, "unknown");
  assert.match(off.reason, /GUESTLY_HOLD_MINUTES/);
});

Deno.test("guestly-hold: a hold the host cancelled in Guestly is no longer held: do not take payment", async () => {
  const body = await (await holdHandler([pending("cancelled")]).ask({ bookingId: ID })).json();
  assert.equal(body.hold, "unavailable");
  assert.equal(body.holdStatus, "cancelled");
  assert.match(body.reason, /host cancelled the hold in Guestly: do not take payment/);
});

Deno.test("guestly-hold: bad input names the field; unknown booking 404; paid 409; no key 401", async () => {
  const { ask } = holdHandler([pending("held")]);
  const bad = await ask({ bookingId: "nope" });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).field, "bookingId");
  const long = await ask({ bookingId: ID, waitMs: 60_000 });
  assert.equal(long.status, 400);
  assert.equal((await long.json()).field, "waitMs");
  assert.equal((await holdHandler([{ found: false }]).ask({ bookingId: ID })).status, 404);
  const paid = await holdHandler([{ found: true, status: "confirmed", hold_status: "confirmed" }])
    .ask({ bookingId: ID });
  assert.equal(paid.status, 409);
  await paid.body?.cancel();
  const anon = await ask({ bookingId: ID }, "sb_publishable_" + "p".repeat(32));
  assert.equal(anon.status, 401);
  await anon.body?.cancel();
});
