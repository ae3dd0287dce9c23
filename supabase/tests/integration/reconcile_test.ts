// The reconciliation on the local stack: a change made in Guestly whose webhook the sandbox
// dropped is found and applied as the webhook would have been (through guestly-reconcile, the
// cron's path), and a reservation deleted in Guestly is created again by `sync:reconcile --fix`
// through the normal sync — exactly one new reservation. Each run is scoped to the test's
// booking (--booking), so other tests' leftovers on the shared stack are not touched.
import assert from "node:assert/strict";
import type postgres from "postgres";
import { booking, invokeFunction, mail, sandbox, stack, waitFor } from "./harness.ts";
import { dbTest, deliver } from "./stripe_helpers.ts";
import { stripeEvent } from "../fixtures/stripe/events.ts";
import { sandboxJson, sandboxPost, syncedBooking } from "./guestly_side.ts";
import { nextStay } from "../../../local/stays.ts";
import { main as reconcileCli } from "../../../scripts/sync-reconcile.ts";

async function items(sql: postgres.Sql, runId: string) {
  return await sql<{ kind: string; action: string; reservation_id: string | null }[]>`
    select kind, action, reservation_id from guestly_reconcile.drift_items
     where run_id = ${runId} order by id`;
}

/** Guestly API changes (not reads, not tokens) since `since`, for one booking's reservations. */
async function changesSent(since: string, reservationIds: string[]): Promise<string[]> {
  const log = await sandboxJson<
    Array<{ time: string; method: string; path: string; reservationId: string | null }>
  >("/__sandbox/requests");
  return log.filter((r) =>
    r.time >= since && r.method !== "GET" && r.path !== "/oauth2/token" &&
    (reservationIds.includes(r.reservationId ?? "") ||
      reservationIds.some((id) => r.path.includes(id)))
  ).map((r) => `${r.method} ${r.path}`);
}

dbTest(
  "a dropped webhook is caught by the reconciliation and applied; nothing is sent back",
  async (sql) => {
    const { id, reservationId } = await syncedBooking(sql);
    const before = await booking(sql, id);
    const moved = nextStay(3);
    await sandboxPost("/__sandbox/webhook-faults", { dropNext: 1 });
    const since = new Date().toISOString();
    try {
      await sandboxPost(`/__sandbox/reservations/${reservationId}/host-change-dates`, moved);
      await waitFor("the delivery dropped", async () => {
        const ds = await sandboxJson<Array<{ fault: string | null }>>(
          `/__sandbox/webhook-deliveries?reservationId=${reservationId}`,
        );
        return ds.some((d) => d.fault === "dropped");
      });
    } finally {
      await fetch(`${stack.sandboxUrl}/__sandbox/webhook-faults`, { method: "DELETE" })
        .then((r) => r.body?.cancel());
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(
      (await booking(sql, id)).check_in.toISOString().slice(0, 10),
      before.check_in.toISOString().slice(0, 10),
      "without the webhook the booking does not know",
    );

    // Report only: found, nothing changed.
    const report = await invokeFunction("guestly-reconcile", {
      wait: true,
      bookingIds: [id],
      settleMinutes: 0,
    });
    assert.equal(report.status, 200, report.text);
    const reported = report.body as { run_id: string; by_kind: Record<string, number> };
    assert.deepEqual(reported.by_kind, { missed_webhook: 1 });
    assert.deepEqual((await items(sql, reported.run_id)).map((i) => [i.kind, i.action]), [
      ["missed_webhook", "reported"],
    ]);
    assert.equal(
      (await booking(sql, id)).check_in.toISOString().slice(0, 10),
      before.check_in.toISOString().slice(0, 10),
    );

    // As the daily job does: healed.
    const fix = await invokeFunction("guestly-reconcile", {
      fix: true,
      wait: true,
      bookingIds: [id],
      settleMinutes: 0,
    });
    assert.equal(fix.status, 200, fix.text);
    const fixed = fix.body as { run_id: string; alert_id: string | null };
    assert.deepEqual((await items(sql, fixed.run_id)).map((i) => [i.kind, i.action]), [
      ["missed_webhook", "healed"],
    ]);
    const row = await booking(sql, id);
    assert.equal(row.check_in.toISOString().slice(0, 10), moved.checkIn);
    assert.equal(row.check_out.toISOString().slice(0, 10), moved.checkOut);
    assert.equal(row.guestly_sync_status, "synced");
    const [event] = await sql`
      select origin, outcome, changes from guestly_events.events
       where reservation_id = ${reservationId} and origin = 'reconciliation'`;
    assert.equal(event.outcome, "applied");
    assert.deepEqual(Object.keys(event.changes).sort(), ["check_in", "check_out"]);
    assert.ok(fixed.alert_id, "the run with drift wrote its alert");
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.deepEqual(await changesSent(since, [reservationId]), [], "no request back");

    // In step now: the next run finds nothing.
    const again = await invokeFunction("guestly-reconcile", {
      fix: true,
      wait: true,
      bookingIds: [id],
      settleMinutes: 0,
    });
    assert.deepEqual((again.body as { by_kind: unknown }).by_kind, {});
    assert.equal((again.body as { alert_id: unknown }).alert_id, null, "no drift, no email");
  },
);

dbTest(
  "a reservation deleted in Guestly is healed by sync:reconcile --fix: exactly one new one",
  async (sql) => {
    const { id, reservationId } = await syncedBooking(sql);
    const gone = await fetch(`${stack.sandboxUrl}/__sandbox/reservations/${reservationId}`, {
      method: "DELETE",
    });
    assert.equal(gone.status, 200, await gone.text());
    const since = new Date().toISOString();

    const { log, error } = console;
    // The CLI prints its result and logs; the test reads the result from the database.
    console.log = console.error = () => {};
    let summary: Record<string, unknown>;
    try {
      summary = await reconcileCli(
        ["--fix", "--booking", id, "--settle-minutes", "0"],
        Deno.env.toObject(),
      );
    } finally {
      console.log = log;
      console.error = error;
    }
    const runId = summary.run_id as string;
    assert.deepEqual((await items(sql, runId)).map((i) => [i.kind, i.action, i.reservation_id]), [
      ["missing_in_guestly", "healed", reservationId],
    ]);
    const row = await waitFor("synced to a new reservation", async () => {
      const b = await booking(sql, id);
      return b.guestly_sync_status === "synced" && b.guestly_reservation_id &&
          b.guestly_reservation_id !== reservationId
        ? b
        : null;
    }, 30_000);
    const ours = await sandboxJson<Array<Record<string, unknown>>>("/__sandbox/reservations");
    const carrying = ours.filter((r) =>
      (r.customFields as Array<{ value: string }>).some((f) => f.value === id)
    );
    assert.deepEqual(carrying.map((r) => r._id), [row.guestly_reservation_id], "exactly one");
    assert.equal(carrying[0].status, "confirmed");
    const creates = (await sandboxJson<
      Array<{ time: string; method: string; path: string; reservationId: string | null }>
    >("/__sandbox/requests"))
      .filter((r) =>
        r.time >= since && r.method === "POST" && r.path === "/v1/reservations-v3" &&
        r.reservationId === row.guestly_reservation_id
      );
    assert.equal(creates.length, 1, "one create");
    // The lookup went first (exactly-once: a reservation of ours would have been bound).
    const attempts = await sql`
      select operation from guestly.sync_attempts
       where booking_id = ${id} and started_at >= ${since}::timestamptz order by id`;
    assert.deepEqual(attempts.map((a) => a.operation).slice(0, 2), ["lookup", "create"]);

    const message = await waitFor(
      "the reconciliation email",
      async () =>
        (await mail.messages()).find((m) =>
          String(m.subject ?? "").startsWith("Reconciliation with Guestly") &&
          String(m.text ?? "").includes(runId)
        ),
      20_000,
    );
    assert.match(String(message.text), /HEALED \(1\)/);
    assert.match(String(message.text), new RegExp(`missing in Guestly — booking ${id}`));

    // sync:status shows the last run.
    const [last] = await sql`select guestly_reconcile.run_result() -> 'run' ->> 'id' as id`;
    assert.equal(last.id, runId);
  },
);

type Money = {
  totalPaid: number;
  balanceDue: number;
  payments: Array<{ _id: string; amount: number; refunds: Array<{ amount: number }> }>;
};

/** The stack's one reservation of a booking once `done` holds for it. */
async function reservationOf(
  id: string,
  what: string,
  done: (r: Record<string, unknown>) => boolean,
) {
  return await waitFor(
    what,
    async () => {
      const [only, ...more] = await sandbox.reservationsFor(id);
      return only && more.length === 0 && done(only) ? only : null;
    },
    30_000,
    200,
  );
}

dbTest(
  "a reservation deleted in Guestly is re-created with its payment; a later refund lands on it",
  async (sql) => {
    const { id, reservationId } = await syncedBooking(sql);
    const paidOnce = await reservationOf(
      id,
      "the payment on the first reservation",
      (r) => (r.money as Money).totalPaid === 450,
    );
    assert.equal(paidOnce._id, reservationId);
    const gone = await fetch(`${stack.sandboxUrl}/__sandbox/reservations/${reservationId}`, {
      method: "DELETE",
    });
    assert.equal(gone.status, 200, await gone.text());

    // As the nightly job does.
    const fix = await invokeFunction("guestly-reconcile", {
      fix: true,
      wait: true,
      bookingIds: [id],
      settleMinutes: 0,
    });
    assert.equal(fix.status, 200, fix.text);
    const runId = (fix.body as { run_id: string }).run_id;
    assert.deepEqual((await items(sql, runId)).map((i) => [i.kind, i.action]), [
      ["missing_in_guestly", "healed"],
    ]);

    // Guestly shows the stay paid again on the new reservation: the payment recorded once.
    const remade = await reservationOf(
      id,
      "the payment on the new reservation",
      (r) => r._id !== reservationId && (r.money as Money).payments.length > 0,
    );
    const money = remade.money as Money;
    assert.equal(money.payments.length, 1, "recorded once on the new reservation");
    assert.equal(money.totalPaid, 450);
    assert.equal(money.balanceDue, 0);
    const row = await waitFor("synced", async () => {
      const b = await booking(sql, id);
      return b.guestly_sync_status === "synced" ? b : null;
    });
    assert.equal(row.guestly_reservation_id, remade._id);
    const rows = await sql`
      select status, guestly_reservation_id from guestly.payments where booking_id = ${id}`;
    assert.deepEqual(rows.map((r) => [r.status, r.guestly_reservation_id]), [
      ["recorded", remade._id],
    ]);

    // The email calls it healed and says the money is being recorded again.
    const message = await waitFor(
      "the reconciliation email",
      async () =>
        (await mail.messages()).find((m) =>
          String(m.subject ?? "").startsWith("Reconciliation with Guestly") &&
          String(m.text ?? "").includes(runId)
        ),
      20_000,
    );
    assert.match(
      String(message.text),
      /its 1 payment\(s\) and 0 refund\(s\) are being recorded on the new reservation/,
    );

    // A partial refund afterwards is recorded on the payment the new reservation shows.
    const refund = stripeEvent("charge.refunded", {
      bookingId: id,
      amount: 45000,
      amountRefunded: 15000,
      currency: "usd",
      paymentIntentId: row.stripe_payment_intent_id,
    });
    assert.equal((await deliver(refund)).body.outcome, "partial_refund");
    const refunded = await reservationOf(
      id,
      "the refund on the new reservation",
      (r) => (r.money as Money).totalPaid === 300,
    );
    assert.equal(refunded._id, remade._id);
    assert.deepEqual(
      (refunded.money as Money).payments.map((p) => p.refunds.map((f) => f.amount)),
      [
        [150],
      ],
    );
    const after = await waitFor("synced after the refund", async () => {
      const b = await booking(sql, id);
      return b.guestly_sync_status !== "pending" ? b : null;
    });
    assert.equal(after.guestly_sync_status, "synced", after.guestly_sync_error ?? "");
  },
);
