// Stripe's money is recorded on the Guestly reservation exactly once, even when an answer is lost.
import assert from "node:assert/strict";
import { syncBookingToGuestly } from "../../functions/_shared/guestly/sync.ts";
import {
  mapPaymentToGuestly,
  mapRefundToGuestly,
  matchPayments,
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

/**
 * A reservation's payment as Guesty's definition declares it (money.payments[] of
 * GET /reservations/{id}): no note, no method — only what Guestly would show.
 */
const listed = (
  id: string,
  amount: number,
  createdAt = "2027-01-15T10:00:30.000Z",
  /** A count: refund items that show nothing but an id; amounts: items that show theirs. */
  refunds: number | number[] = 0,
) => ({
  _id: id,
  amount,
  currency: "EUR",
  status: "SUCCEEDED",
  createdAt,
  refunds: typeof refunds === "number"
    ? Array.from({ length: refunds }, (_, i) => ({ _id: `rf-${i}` }))
    : refunds.map((refund, i) => ({ _id: `rf-${i}`, amount: refund, status: "SUCCEEDED" })),
});

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
    status(201, { paymentProviderId: "prov-1" }),
  ]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "synced");
  assert.deepEqual(paths(guestly), [
    "POST /v1/reservations-v3",
    // The reference before the money: every later match by reference rests on it.
    "PUT /v1/reservations-v3/65r1/custom-fields",
    "POST /v1/reservations/65r1/payments",
  ]);
  const body = guestly.bodies[2] as Record<string, unknown>;
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
  assert.equal(guestly.requests.length, 2 + 1, "recorded once, not looked up or re-sent");
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
  assert.equal(guestly.requests.length, 2 + 1);

  // After the settle delay: the reservation shows the payment (it did commit): recorded.
  clock.now += 61_000;
  guestly.answers.push(status(200, {
    _id: "65r1",
    money: { payments: [listed("pay-1", 640.5)] },
  }));
  const later = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(later.outcome, "synced");
  assert.deepEqual(paths(guestly).slice(2 + 1), ["GET /v1/reservations/65r1"]);
  assert.equal(store.payments[0].status, "recorded");
  assert.equal(store.payments[0].guestly_payment_id, "pay-1", "found by declared fields");
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
    [PAYMENT, {
      ...PAYMENT,
      id: "0b0e7f3a-0000-4000-8000-0000000000a2",
      kind: "refund",
      reference: "pi_123#refund-64050",
    }],
  );
  store.payments[0].status = "recorded";
  store.row!.guestly_synced_state = desiredContent(store.row!);
  const guestly = new FakeGuestly([
    status(200, { _id: "65r1" }),
    status(200, {
      _id: "65r1",
      // The host's own payment of another amount comes first: ours is told by its amount.
      money: { payments: [listed("host-1", 100), listed("pay-1", 640.5)] },
    }),
    status(201, { paymentProviderId: "prov-1" }),
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
  assert.equal(store.payments[1].status, "recorded");
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

Deno.test("a refund whose answer was lost is found by a new refund of its amount, not sent again", async () => {
  const refundRow = {
    ...PAYMENT,
    id: "0b0e7f3a-0000-4000-8000-0000000000a3",
    kind: "refund" as const,
    amount: 1000,
    reference: "pi_123#refund-2000",
    unknown_at: "2027-01-15T09:00:00Z",
  };
  const earlier = {
    ...refundRow,
    id: "0b0e7f3a-0000-4000-8000-0000000000a2",
    reference: "pi_123#refund-1000",
    unknown_at: null,
  };
  for (const [shown, sent] of [[[10, 10], false], [[10], true]] as const) {
    const store = storeWith(
      { guestly_reservation_id: "65r1", guestly_synced_status: "confirmed" },
      [PAYMENT, earlier, refundRow],
    );
    store.payments[0].status = "recorded";
    store.payments[1].status = "recorded";
    store.row!.guestly_synced_state = desiredContent(store.row!);
    // One €10 refund was ours before this one (of €10 too).
    const guestly = new FakeGuestly([
      status(200, {
        _id: "65r1",
        money: { payments: [listed("pay-1", 640.5, undefined, [...shown])] },
      }),
      status(201, { paymentProviderId: "prov-1" }),
    ]);
    const { deps } = testDeps(store, guestly);
    assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
    assert.deepEqual(
      paths(guestly).slice(1),
      sent ? ["POST /v1/reservations/65r1/payments/pay-1/refund"] : [],
    );
    assert.equal(store.payments[2].status, "recorded");
  }
});

Deno.test("a host's own refund on the payment never passes for our lost one", async () => {
  const refundRow = {
    ...PAYMENT,
    id: "0b0e7f3a-0000-4000-8000-0000000000a3",
    kind: "refund" as const,
    amount: 1000,
    reference: "pi_123#refund-1000",
    unknown_at: "2027-01-15T09:00:00Z",
  };
  // Guestly shows the refunds' amounts: the new one is the host's €25, so ours is sent.
  // It shows none: whether ours landed cannot be told, and the operator decides.
  for (const [shown, outcome] of [[[25], "synced"], [1, "failed"]] as const) {
    const store = storeWith(
      { guestly_reservation_id: "65r1", guestly_synced_status: "confirmed" },
      [PAYMENT, refundRow],
    );
    store.payments[0].status = "recorded";
    store.row!.guestly_synced_state = desiredContent(store.row!);
    const guestly = new FakeGuestly([
      status(200, {
        _id: "65r1",
        money: {
          payments: [listed("pay-1", 640.5, undefined, typeof shown === "number" ? 1 : [...shown])],
        },
      }),
      status(201, { paymentProviderId: "prov-1" }),
    ]);
    const { deps } = testDeps(store, guestly);
    const result = await syncBookingToGuestly(store.row!.id, deps);
    assert.equal(result.outcome, outcome);
    if (outcome === "synced") {
      assert.deepEqual(paths(guestly).slice(1), [
        "POST /v1/reservations/65r1/payments/pay-1/refund",
      ]);
      assert.equal(store.payments[1].status, "recorded");
    } else {
      assert.ok(result.outcome === "failed" && result.final, "permanent: for the operator");
      assert.deepEqual(paths(guestly).slice(1), [], "nothing sent on a guess");
      assert.match(store.failures.at(-1)?.error ?? "", /cannot tell whether/);
    }
  }
});

Deno.test("two payments of one amount: the lost one is found only if Guestly shows one more", async () => {
  const second: PendingPayment = {
    ...PAYMENT,
    id: "0b0e7f3a-0000-4000-8000-0000000000a4",
    reference: "pi_456",
    unknown_at: "2027-01-15T09:00:00Z",
  };
  for (const [shown, sent] of [[["pay-1"], true], [["pay-1", "pay-2"], false]] as const) {
    const store = storeWith(
      { guestly_reservation_id: "65r1", guestly_synced_status: "confirmed" },
      [PAYMENT, second],
    );
    store.payments[0].status = "recorded"; // recorded, Guestly's id never learnt (a 201)
    store.row!.guestly_synced_state = desiredContent(store.row!);
    const guestly = new FakeGuestly([
      status(200, {
        _id: "65r1",
        money: { payments: shown.map((id, i) => listed(id, 640.5, `2027-01-15T10:0${i}:30.000Z`)) },
      }),
      status(201, { paymentProviderId: "prov-1" }),
    ]);
    const { deps } = testDeps(store, guestly);
    assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
    assert.deepEqual(
      paths(guestly).slice(1),
      sent ? ["POST /v1/reservations/65r1/payments"] : [],
      `Guestly shows ${shown.length}`,
    );
    assert.equal(store.payments[1].status, "recorded");
    assert.equal(store.payments[1].guestly_payment_id, sent ? null : "pay-2");
  }
});

Deno.test("a payment of our amount older than our money is someone else's: ours is sent", async () => {
  const store = storeWith({ guestly_reservation_id: "65r1", guestly_synced_status: "confirmed" });
  store.payments[0].unknown_at = "2027-01-15T09:00:00Z";
  store.payments[0].created_at = "2027-01-15T08:59:00.000Z";
  store.row!.guestly_synced_state = desiredContent(store.row!);
  const guestly = new FakeGuestly([
    // A deposit the host recorded the day before, of the same amount.
    status(200, {
      _id: "65r1",
      money: { payments: [listed("host-1", 640.5, "2027-01-14T12:00:00.000Z")] },
    }),
    status(201, { paymentProviderId: "prov-1" }),
  ]);
  const { deps } = testDeps(store, guestly);
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.deepEqual(paths(guestly), [
    "GET /v1/reservations/65r1",
    "POST /v1/reservations/65r1/payments",
  ]);
});

Deno.test("matchPayments: a known id keeps its payment; the others go by amount and order", () => {
  const row = (id: string, amount: number, guestlyId: string | null = null) => ({
    id,
    kind: "payment" as const,
    amount,
    currency: "eur",
    reference: `pi_${id}`,
    status: "recorded" as const,
    guestly_payment_id: guestlyId,
    created_at: "2027-01-15T10:00:00.000Z",
  });
  const payments = [
    listed("g-1", 10, "2027-01-15T10:01:00.000Z"),
    listed("g-2", 10, "2027-01-15T10:02:00.000Z"),
    listed("g-3", 10.01, "2027-01-15T10:03:00.000Z"),
    listed("g-4", 20, "2027-01-15T10:00:30.000Z"),
    { _id: "g-5", note: "Stripe pi_c" }, // no declared amount: never anyone's
  ];
  const matched = matchPayments(payments, [
    row("a", 1000, "g-2"),
    row("b", 1000),
    row("c", 1000),
    row("d", 2000),
  ]);
  assert.deepEqual(Object.fromEntries(matched), { a: "g-2", b: "g-1", d: "g-4" });
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
    status(201, { paymentProviderId: "prov-1" }),
  );
  assert.equal((await syncBookingToGuestly(store.row!.id, deps)).outcome, "synced");
  assert.deepEqual(paths(guestly).slice(2 + 1), [
    "GET /v1/reservations/65r1",
    "POST /v1/reservations/65r1/payments",
  ]);
  assert.equal(store.alerts, 0);
});

Deno.test("an invocation that dies after posting a payment leaves a lookup, never a second post", async () => {
  const store = storeWith({ guestly_reservation_id: "65r1", guestly_synced_status: "confirmed" });
  store.row!.guestly_synced_state = desiredContent(store.row!);
  const guestly = new FakeGuestly([status(201, { paymentProviderId: "prov-1" })]);
  const { deps, clock } = testDeps(store, guestly);
  const recordAttempt = store.recordAttempt.bind(store);
  store.recordAttempt = () => Promise.reject(new Error("database gone"));
  await assert.rejects(syncBookingToGuestly(store.row!.id, deps), /database gone/);
  store.recordAttempt = recordAttempt;
  store.lease = null; // the lease ran out
  clock.now += 61_000;
  guestly.answers.push(status(200, {
    _id: "65r1",
    money: { payments: [listed("pay-1", 640.5)] },
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
