// Stripe's money is recorded on the Guestly reservation exactly once, even when an answer is lost.
import assert from "node:assert/strict";
import { syncBookingToGuestly } from "../../functions/_shared/guestly/sync.ts";
import {
  mapPaymentToGuestly,
  mapRefundToGuestly,
} from "../../functions/_shared/guestly/mapping.ts";
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
import type { BookingRow, PendingPayment } from "../../functions/_shared/guestly/schemas.ts";

const PAYMENT: PendingPayment = {
  id: "0b0e7f3a-0000-4000-8000-0000000000a1",
  kind: "payment",
  amount: 64050,
  currency: "eur",
  reference: "pi_123",
  unknown_at: null,
};

function storeWith(overrides: Partial<BookingRow> = {}, payments = [PAYMENT]): MemoryStore {
  const store = new MemoryStore(bookingRow(overrides));
  store.payments = payments.map((p) => ({ ...p, status: "pending" as const }));
  return store;
}

const paths = (guestly: FakeGuestly) =>
  guestly.requests.map((r) => `${r.method} ${new URL(r.url).pathname}`);

Deno.test("a paid booking: created, then its payment recorded, in one invocation", async () => {
  const store = storeWith();
  const guestly = new FakeGuestly([
    created("65r1"),
    ...referenceSet("65r1"),
    status(200, [{ _id: "pay-1", amount: 640.5, note: "Stripe pi_123" }]),
  ]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "synced");
  assert.deepEqual(paths(guestly), [
    "POST /v1/reservations-v3",
    // The reference before the money: every later match by reference rests on it.
    "PUT /v1/reservations-v3/65r1/custom-fields",
    "PUT /v1/reservations-v3/65r1/notes",
    "POST /v1/reservations/65r1/payments",
  ]);
  const body = guestly.bodies[3] as Record<string, unknown>;
  assert.equal(body.amount, 640.5);
  assert.equal(body.note, "Stripe pi_123");
  assert.deepEqual(body.paymentMethod, { method: "OTHER" });
  assert.equal(store.payments[0].status, "recorded");
  assert.equal(store.row!.guestly_sync_status, "synced");
});

Deno.test("Guesty's declared payment answer (201, the payment provider) records the payment", async () => {
  const store = storeWith();
  const guestly = new FakeGuestly([
    created("65r1"),
    ...referenceSet("65r1"),
    status(201, { paymentProviderId: "prov-1", paymentProvider: { id: "prov-1" } }),
  ]);
  const { deps } = testDeps(store, guestly);
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.equal(store.payments[0].status, "recorded");
  assert.equal(guestly.requests.length, 2 + 2, "recorded once, not looked up or re-sent");
});

Deno.test("a payment whose answer was lost is looked up after the settle delay, never sent twice", async () => {
  const store = storeWith();
  const guestly = new FakeGuestly([created("65r1"), ...referenceSet("65r1"), status(502)]);
  const { deps, clock } = testDeps(store, guestly);
  const first = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(first.outcome, "failed");
  assert.ok(store.payments[0].unknown_at, "the unknown outcome is remembered");
  assert.equal(store.payments[0].status, "pending");

  // Back too early: nothing is sent.
  const early = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(early.outcome, "deferred");
  assert.equal(guestly.requests.length, 2 + 2);

  // After the settle delay: the reservation shows the payment (it did commit): recorded.
  clock.now += 61_000;
  guestly.answers.push(status(200, {
    _id: "65r1",
    money: { payments: [{ _id: "pay-1", amount: 640.5, note: "Stripe pi_123" }] },
  }));
  const later = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(later.outcome, "synced");
  assert.deepEqual(paths(guestly).slice(2 + 2), ["GET /v1/reservations/65r1"]);
  assert.equal(store.payments[0].status, "recorded");
});

Deno.test("a lost payment that never committed is sent again once, after the lookup", async () => {
  const store = storeWith({ guestly_reservation_id: "65r1", guestly_synced_status: "confirmed" });
  store.row!.guestly_synced_state = desiredContent(store.row!);
  store.payments[0].unknown_at = "2027-01-15T09:00:00Z";
  const guestly = new FakeGuestly([
    status(200, { _id: "65r1", money: { payments: [] } }),
    status(200, []),
  ]);
  const { deps } = testDeps(store, guestly);
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.deepEqual(paths(guestly), [
    "GET /v1/reservations/65r1",
    "POST /v1/reservations/65r1/payments",
  ]);
});

Deno.test("a payment whose reservation is replaced while its record is out is not marked recorded", async () => {
  const store = storeWith({ guestly_reservation_id: "65r1", guestly_synced_status: "confirmed" });
  store.row!.guestly_synced_state = desiredContent(store.row!);
  const guestly = new FakeGuestly([
    () => {
      // The reconciliation heals the reservation as deleted while the record is out.
      store.row!.guestly_reservation_id = null;
      return status(200, [{ _id: "pay-1", amount: 640.5, note: "Stripe pi_123" }])();
    },
  ]);
  const { deps } = testDeps(store, guestly);
  await syncBookingToGuestly(store.row!.id, deps);
  assert.deepEqual(paths(guestly), ["POST /v1/reservations/65r1/payments"]);
  assert.equal(
    store.payments[0].status,
    "pending",
    "still due, for the booking's next reservation",
  );
});

Deno.test("a full refund: the reservation is cancelled, then the refund recorded on its payment", async () => {
  const store = storeWith(
    { status: "refunded", guestly_reservation_id: "65r1", guestly_synced_status: "confirmed" },
    [{
      ...PAYMENT,
      id: "0b0e7f3a-0000-4000-8000-0000000000a2",
      kind: "refund",
      reference: "pi_123#refund-64050",
    }],
  );
  store.row!.guestly_synced_state = desiredContent(store.row!);
  const guestly = new FakeGuestly([
    status(200, { _id: "65r1" }),
    status(200, {
      _id: "65r1",
      money: { payments: [{ _id: "pay-1", amount: 640.5, note: "Stripe pi_123", refunds: [] }] },
    }),
    status(200, { _id: "pay-1" }),
  ]);
  const { deps } = testDeps(store, guestly);
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.deepEqual(paths(guestly), [
    "PUT /v1/reservations-v3/65r1/status",
    "GET /v1/reservations/65r1",
    "POST /v1/reservations/65r1/payments/pay-1/refund",
  ]);
  assert.deepEqual(guestly.bodies[2], { amount: 640.5, note: "Stripe pi_123#refund-64050" });
  assert.equal(store.row!.guestly_synced_status, "refunded");
  assert.equal(store.payments[0].status, "recorded");
});

Deno.test("a refund Guestly cannot match never holds the cancellation back", async () => {
  const store = storeWith(
    { status: "refunded", guestly_reservation_id: "65r1", guestly_synced_status: "confirmed" },
    [{ ...PAYMENT, kind: "refund", reference: "pi_old#refund-64050" }],
  );
  store.row!.guestly_synced_state = desiredContent(store.row!);
  const guestly = new FakeGuestly([
    status(200, { _id: "65r1" }),
    status(200, { _id: "65r1", money: { payments: [] } }),
  ]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome === "failed" && result.final, true, "the money problem alerts");
  assert.equal(paths(guestly)[0], "PUT /v1/reservations-v3/65r1/status", "but the cancel went");
  assert.equal(store.row!.guestly_synced_status, "refunded");
});

Deno.test("a refund already on the payment (an earlier answer lost) is not recorded again", async () => {
  const store = storeWith(
    { guestly_reservation_id: "65r1", guestly_synced_status: "confirmed" },
    [{ ...PAYMENT, kind: "refund", amount: 1000, reference: "pi_123#refund-1000" }],
  );
  store.row!.guestly_synced_state = desiredContent(store.row!);
  const guestly = new FakeGuestly([
    status(200, {
      _id: "65r1",
      money: {
        payments: [{
          _id: "pay-1",
          note: "Stripe pi_123",
          refunds: [{ _id: "rf-1", amount: 10, note: "Stripe pi_123#refund-1000" }],
        }],
      },
    }),
  ]);
  const { deps } = testDeps(store, guestly);
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.equal(guestly.requests.length, 1);
  assert.equal(store.payments[0].status, "recorded");
});

Deno.test("money converts by currency: JPY has no decimals, KWD three", () => {
  const at = new Date("2027-01-15T10:00:00Z");
  assert.equal(
    mapPaymentToGuestly({ ...PAYMENT, amount: 52000, currency: "jpy" }, at).amount,
    52000,
  );
  assert.equal(
    mapPaymentToGuestly({ ...PAYMENT, amount: 12345, currency: "kwd" }, at).amount,
    12.345,
  );
  assert.equal(mapRefundToGuestly({ ...PAYMENT, kind: "refund", amount: 1999 }).amount, 19.99);
});

Deno.test("Guesty's pause between create and payment is kept; a 404 then is unknown, looked up", async () => {
  const store = storeWith();
  const guestly = new FakeGuestly([
    created("65r1"),
    ...referenceSet("65r1"),
    status(404, "Reservation not found"),
  ]);
  const { deps, sleeps, clock } = testDeps(store, guestly);
  deps.settings.paymentDelayMs = 2000;
  // record_success stamps the create's time, as guestly_synced_at.
  const recordSuccess = store.recordSuccess.bind(store);
  store.recordSuccess = (...args) => {
    store.row!.guestly_synced_at = new Date(clock.now).toISOString();
    return recordSuccess(...args);
  };
  const first = await syncBookingToGuestly(store.row!.id, deps);
  assert.deepEqual(sleeps, [2000], "the pause after the create");
  assert.equal(first.outcome === "failed" && first.final, false, "Guesty's race is not final");
  assert.ok(store.payments[0].unknown_at, "it may have landed: looked up before any resend");
  clock.now += 61_000;
  guestly.answers.push(
    status(200, { _id: "65r1", money: { payments: [] } }),
    status(200, [{ _id: "pay-1", note: "Stripe pi_123" }]),
  );
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.deepEqual(paths(guestly).slice(2 + 2), [
    "GET /v1/reservations/65r1",
    "POST /v1/reservations/65r1/payments",
  ]);
  assert.equal(store.alerts, 0);
});

Deno.test("an invocation that dies after posting a payment leaves a lookup, never a second post", async () => {
  const store = storeWith({ guestly_reservation_id: "65r1", guestly_synced_status: "confirmed" });
  store.row!.guestly_synced_state = desiredContent(store.row!);
  const guestly = new FakeGuestly([status(200, [{ _id: "pay-1", note: "Stripe pi_123" }])]);
  const { deps, clock } = testDeps(store, guestly);
  const recordAttempt = store.recordAttempt.bind(store);
  store.recordAttempt = () => Promise.reject(new Error("database gone"));
  await assert.rejects(syncBookingToGuestly(store.row!.id, deps), /database gone/);
  store.recordAttempt = recordAttempt;
  store.lease = null; // the lease ran out
  clock.now += 61_000;
  guestly.answers.push(status(200, {
    _id: "65r1",
    money: { payments: [{ _id: "pay-1", note: "Stripe pi_123" }] },
  }));
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.deepEqual(paths(guestly), [
    "POST /v1/reservations/65r1/payments",
    "GET /v1/reservations/65r1",
  ]);
  assert.equal(store.payments[0].status, "recorded");
});

Deno.test("a Guestly that shows no payments list cannot prove a lost payment: final, never resent", async () => {
  const store = storeWith({ guestly_reservation_id: "65r1", guestly_synced_status: "confirmed" });
  store.row!.guestly_synced_state = desiredContent(store.row!);
  store.payments[0].unknown_at = "2027-01-15T09:00:00Z";
  const guestly = new FakeGuestly([status(200, { _id: "65r1" })]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome === "failed" && result.final, true);
  assert.match(result.outcome === "failed" ? result.error : "", /cannot tell/);
  assert.equal(guestly.requests.length, 1);
});
