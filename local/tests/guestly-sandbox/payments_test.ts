// Payments recorded on a reservation (legacy `/v1/reservations/{id}/payments`, the one part of
// the legacy API that is still served), refunds, the money totals on the v3 reservation, the
// payments-after-create delay, and commit faults on a payment.
import assert from "node:assert/strict";
import {
  call,
  createReservation,
  freshConnections,
  requestCount,
  ROOMY,
  setFaults,
  token,
  withSandbox,
} from "./helpers.ts";
import { POOLED_FETCH_RESENDS_ON_DROP } from "../../hosted-runtime.ts";

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BANK = { method: "BANK_TRANSFER" };

/** The reservation's payments (the payment answer is the provider, as Guesty declares). */
async function paymentsOf(sb: Parameters<typeof call>[0], t: string, id: string) {
  return (await call(sb, "GET", `/v1/reservations/${id}`, { token: t })).body.money.payments;
}

const PROVIDER_ANSWER = {
  paymentProviderId: "64f1a2b3c4d5e6f7a8b9e0e0",
  paymentProvider: { id: "64f1a2b3c4d5e6f7a8b9e0e0", status: "ACTIVE" },
};

/** What the sandbox keeps of the reservation's payments (the inspector's view: note, method…). */
async function storedPaymentsOf(sb: Parameters<typeof call>[0], id: string) {
  return (await call(sb, "GET", `/__sandbox/reservations/${id}`)).body.money.payments;
}

/** Guesty's definition declares these of a reservation's payment, and nothing else we send. */
const DECLARED = [
  "_id",
  "amount",
  "createdAt",
  "currency",
  "isAuthorizationHold",
  "refunds",
  "status",
];

Deno.test("payment: recorded, shown only by its declared fields, balance goes to 0", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const r = await createReservation(sb, t);
    const path = `/v1/reservations/${r._id}/payments`;
    const first = await call(sb, "POST", path, {
      token: t,
      body: { paymentMethod: BANK, amount: 400, note: "stripe:pi_123" },
    });
    assert.equal(first.status, 201, first.text);
    assert.deepEqual(first.body, PROVIDER_ANSWER);
    const [p] = await paymentsOf(sb, t, r._id);
    assert.match(p._id, /^[0-9a-f]{24}$/);
    assert.equal(p.amount, 400);
    assert.equal(p.currency, "EUR");
    assert.equal(p.status, "SUCCEEDED");
    assert.ok(p.createdAt);
    // The note, method and paidAt are kept, but the API shows none of them: the definition's
    // payment items do not declare them, so no client can find its payment again by them.
    assert.deepEqual(Object.keys(p).sort(), DECLARED);
    const [kept] = await storedPaymentsOf(sb, r._id);
    assert.equal(kept.note, "stripe:pi_123");
    assert.deepEqual(kept.paymentMethod, BANK);
    assert.ok(kept.paidAt);

    const second = await call(sb, "POST", path, {
      token: t,
      body: { paymentMethod: BANK, amount: 80.5, note: "stripe:pi_456" },
    });
    assert.equal(second.status, 201, second.text);
    assert.deepEqual((await paymentsOf(sb, t, r._id)).map((x: { amount: number }) => x.amount), [
      400,
      80.5,
    ]);

    const read = await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t });
    assert.equal(read.body.money.fareAccommodation, 480.5);
    assert.equal(read.body.money.currency, "EUR");
    assert.equal(read.body.money.totalPaid, 480.5);
    assert.equal(read.body.money.balanceDue, 0);
    // After an unknown outcome a client finds its payment by what is declared: its amount.
    const found = read.body.money.payments.filter((x: { amount: number }) => x.amount === 80.5);
    assert.equal(found.length, 1);
    assert.ok(read.body.money.payments.every((x: object) => !("note" in x)));
    assert.ok(read.body.lastUpdatedAt > r.lastUpdatedAt || read.body.lastUpdatedAt >= r.createdAt);
    assert.equal(await requestCount(sb, "POST", path), 2);

    const detail = await call(sb, "GET", `/__sandbox/reservations/${r._id}`);
    assert.equal(detail.body.money.totalPaid, 480.5);
    const listed = (await call(sb, "GET", "/__sandbox/payments")).body;
    assert.deepEqual(listed.map((x: { reservationId: string }) => x.reservationId), [r._id, r._id]);
    const html = await (await fetch(`${sb.url}/__sandbox/`)).text();
    assert.ok(html.includes("stripe:pi_456") && html.includes("due <b>0</b>"), "inspector");
  });
});

Deno.test("payment validation -> 422 naming the field; unknown reservation -> 404; the rest of the legacy API stays 410", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const r = await createReservation(sb, t);
    const path = `/v1/reservations/${r._id}/payments`;
    const cases: [unknown, string][] = [
      [{ paymentMethod: BANK }, "amount"],
      [{ paymentMethod: BANK, amount: 0 }, "amount"],
      [{ paymentMethod: BANK, amount: -5 }, "amount"],
      [{ paymentMethod: BANK, amount: "10" }, "amount"],
      [{ amount: 10 }, "paymentMethod"],
      [{ paymentMethod: "BANK_TRANSFER", amount: 10 }, "paymentMethod"],
      [{ paymentMethod: { method: "" }, amount: 10 }, "paymentMethod.method"],
      [{ paymentMethod: BANK, amount: 10, note: "x".repeat(501) }, "note"],
      [{ paymentMethod: BANK, amount: 10, paidAt: "yesterday" }, "paidAt"],
    ];
    for (const [body, field] of cases) {
      const bad = await call(sb, "POST", path, { token: t, body });
      assert.equal(bad.status, 422, `${JSON.stringify(body)}: ${bad.text}`);
      assert.equal(bad.body.error.code, "VALIDATION_ERROR");
      assert.equal(bad.body.error.field, field);
    }
    const read = await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t });
    assert.deepEqual(read.body.money.payments, []);

    const missing = await call(sb, "POST", "/v1/reservations/64f1a2b3c4d5e6f7a8b9ffff/payments", {
      token: t,
      body: { paymentMethod: BANK, amount: 10 },
    });
    assert.equal(missing.status, 404);
    assert.equal(missing.body, "Reservation not found");

    for (const [m, p] of [["GET", path], ["PUT", `/v1/reservations/${r._id}`]]) {
      const gone = await call(sb, m, p, { token: t, body: m === "PUT" ? {} : undefined });
      assert.equal(gone.status, 410, `${m} ${p}`);
      assert.equal(gone.body.error.code, "GONE");
    }
    assert.equal((await call(sb, "POST", path, { body: {} })).status, 401);
  });
});

Deno.test("refund: partial refunds lower totalPaid; over-refund, scheduled payment, unknown payment refused", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const r = await createReservation(sb, t);
    const path = `/v1/reservations/${r._id}/payments`;
    await call(sb, "POST", path, {
      token: t,
      body: { paymentMethod: BANK, amount: 480.5, note: "stripe:pi_1" },
    });
    const [paid] = await paymentsOf(sb, t, r._id);
    const refundPath = `${path}/${paid._id}/refund`;

    const part = await call(sb, "POST", refundPath, {
      token: t,
      body: { amount: 100.25, note: "stripe:re_1" },
    });
    assert.equal(part.status, 201, part.text);
    assert.deepEqual(part.body, PROVIDER_ANSWER);
    const [refunded] = await paymentsOf(sb, t, r._id);
    assert.equal(refunded._id, paid._id);
    assert.equal(refunded.refunds.length, 1);
    assert.equal(refunded.refunds[0].amount, 100.25);
    assert.equal("note" in refunded.refunds[0], false, "refund items show no note");
    const [kept] = await storedPaymentsOf(sb, r._id);
    assert.equal(kept.refundedAmount, 100.25);
    assert.equal(kept.refunds[0].note, "stripe:re_1");
    let money = (await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t })).body.money;
    assert.equal(money.totalPaid, 380.25);
    assert.equal(money.balanceDue, 100.25);

    const tooMuch = await call(sb, "POST", refundPath, { token: t, body: { amount: 380.26 } });
    assert.equal(tooMuch.status, 422, tooMuch.text);
    assert.equal(tooMuch.body.error.field, "amount");
    assert.match(tooMuch.body.error.message, /refundable amount 380.25/);
    for (const body of [{}, { amount: 0 }, { amount: "5" }]) {
      const bad = await call(sb, "POST", refundPath, { token: t, body });
      assert.equal(bad.status, 422, JSON.stringify(body));
      assert.equal(bad.body.error.field, "amount");
    }
    const rest = await call(sb, "POST", refundPath, { token: t, body: { amount: 380.25 } });
    assert.equal(rest.status, 201, rest.text);
    money = (await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t })).body.money;
    assert.equal(money.totalPaid, 0);
    assert.equal(money.balanceDue, 480.5);

    // A payment scheduled for later is PENDING: not paid, not refundable.
    const later = new Date(Date.now() + 7 * 86_400_000).toISOString();
    await call(sb, "POST", path, {
      token: t,
      body: { paymentMethod: BANK, amount: 50, shouldBePaidAt: later },
    });
    const scheduled = (await paymentsOf(sb, t, r._id)).at(-1);
    assert.equal(scheduled.status, "PENDING");
    assert.equal(scheduled.shouldBePaidAt, later);
    assert.equal((await storedPaymentsOf(sb, r._id)).at(-1).paidAt, null);
    money = (await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t })).body.money;
    assert.equal(money.totalPaid, 0);
    const notYet = await call(sb, "POST", `${path}/${scheduled._id}/refund`, {
      token: t,
      body: { amount: 10 },
    });
    assert.equal(notYet.status, 422);
    assert.equal(notYet.body.error.field, "paymentId");

    const unknown = await call(sb, "POST", `${path}/64f1a2b3c4d5e6f7a8b9ffff/refund`, {
      token: t,
      body: { amount: 10 },
    });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body, "Payment not found");
  });
});

Deno.test("paymentsNotReadyMs: a payment right after the create -> 404, nothing recorded; later -> 200", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await setFaults(sb, { paymentsNotReadyMs: 300 });
    const r = await createReservation(sb, t);
    const path = `/v1/reservations/${r._id}/payments`;
    const body = { paymentMethod: BANK, amount: 480.5, note: "stripe:pi_early" };
    const early = await call(sb, "POST", path, { token: t, body });
    assert.equal(early.status, 404, early.text);
    assert.equal(early.body, "Reservation not found");
    const [entry] = (await call(sb, "GET", `/__sandbox/requests?path=${path}`)).body;
    assert.equal(entry.fault, "paymentNotReady");
    assert.equal(entry.committed, false);
    let money = (await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t })).body.money;
    assert.deepEqual(money.payments, []);

    await pause(320);
    const late = await call(sb, "POST", path, { token: t, body });
    assert.equal(late.status, 201, late.text);
    money = (await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t })).body.money;
    assert.equal(money.balanceDue, 0);
    assert.equal((await call(sb, "GET", "/__sandbox/faults")).body.paymentsNotReadyMs, 300);
    await call(sb, "POST", "/__sandbox/reset");
    assert.equal((await call(sb, "GET", "/__sandbox/faults")).body.paymentsNotReadyMs, 0);
  });
});

Deno.test("commit faults on a payment: recorded, answered 503, found by its amount; a lost refund answer re-sent by plain fetch", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const r = await createReservation(sb, t);
    const path = `/v1/reservations/${r._id}/payments`;
    await setFaults(sb, { failNext: [{ status: 503, commit: true }] });
    const lied = await call(sb, "POST", path, {
      token: t,
      body: { paymentMethod: BANK, amount: 480.5, note: "stripe:pi_lost" },
    });
    assert.equal(lied.status, 503);
    assert.match(lied.text, /upstream connect error/);
    const [entry] = (await call(sb, "GET", `/__sandbox/requests?path=${path}`)).body;
    assert.equal(entry.committed, true);
    assert.equal(entry.reservationId, r._id);
    const money = (await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t })).body.money;
    assert.deepEqual(money.payments.map((p: { amount: number }) => p.amount), [480.5]);
    assert.equal(money.balanceDue, 0);

    // A lost answer on a warm connection: on Deno 2.9 plain fetch silently sends the refund
    // again (Deno's re-send, README "Keep-alive"), so one call refunds twice; Deno 2.1 (the
    // hosted runtime's) sends it once. An unpooled client sends once on both.
    const refundPath = `${path}/${money.payments[0]._id}/refund`;
    const plainSends = POOLED_FETCH_RESENDS_ON_DROP ? 2 : 1;
    await setFaults(sb, { lostResponseRate: 1 });
    await assert.rejects(call(sb, "POST", refundPath, { token: t, body: { amount: 1 } }));
    assert.equal(await requestCount(sb, "POST", refundPath), plainSends);
    const client = freshConnections();
    try {
      await assert.rejects(call(sb, "POST", refundPath, { token: t, body: { amount: 1 }, client }));
    } finally {
      client.close();
    }
    assert.equal(await requestCount(sb, "POST", refundPath), plainSends + 1);
    await setFaults(sb, { lostResponseRate: 0 });
    const after = (await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t })).body.money;
    // 480.50 - 2 or 1 (plain fetch) - 1 (unpooled)
    assert.equal(after.totalPaid, 480.5 - plainSends - 1);

    // A reservation created without money has a zero fare in USD (the listing's default).
    const bare = await createReservation(sb, t, { money: undefined });
    assert.deepEqual(
      { fare: bare.money.fareAccommodation, currency: bare.money.currency },
      { fare: 0, currency: "USD" },
    );
  });
});
