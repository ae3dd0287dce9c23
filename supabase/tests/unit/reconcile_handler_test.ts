// guestly-reconcile's HTTP edge: only the project's keys; a body it understands; skipped while
// the sync is off; the cron's call answered 202 at once with the run after the answer; the CLI's
// (`wait`) answered with the run's result.
import assert from "node:assert/strict";
import { memoryLogger } from "../../functions/_shared/log.ts";
import { createReconcileHandler } from "../../functions/_shared/reconcile/handler.ts";
import type { RunOptions, RunResult } from "../../functions/_shared/reconcile/run.ts";
import { serviceKeysFrom } from "../../functions/_shared/service-keys.ts";

const SERVICE_KEY = "service-role-key-for-tests";

function setup(enabled = true) {
  const runs: RunOptions[] = [];
  const after: Promise<unknown>[] = [];
  const result: RunResult = {
    started: true,
    runId: "run-1",
    finish: { runId: "run-1", status: "finished", drift: 1, alertId: "alert-1" },
    items: [{
      kind: "duplicate",
      bookingId: null,
      reservationId: "r2",
      details: {},
      heal: null,
    }],
    counts: { reservationsSeen: 10, bookingsChecked: 9, requestsUsed: 1 },
  };
  const handler = createReconcileHandler({
    serviceKeys: serviceKeysFrom({ SUPABASE_SERVICE_ROLE_KEY: SERVICE_KEY }),
    enabled,
    run: (options) => {
      runs.push(options);
      return Promise.resolve(result);
    },
    defaultSettleMs: 600_000,
    timeBudgetMs: 120_000,
    log: memoryLogger(),
    afterResponse: (work) => after.push(work),
  });
  const call = (body: unknown, key: string | null = SERVICE_KEY) =>
    handler(
      new Request("http://localhost/guestly-reconcile", {
        method: "POST",
        headers: key ? { Authorization: `Bearer ${key}` } : {},
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    );
  return { call, runs, after };
}

Deno.test("refused without the project's key; a body it does not know is 400", async () => {
  const { call, runs } = setup();
  assert.equal((await call({}, null)).status, 401);
  assert.equal((await call({}, "someone-else")).status, 401);
  const bad = await call({ fix: "yes" });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error, /^fix: /);
  assert.equal((await call({ heal: true })).status, 400, "unknown keys are refused");
  assert.equal((await call({ bookingIds: ["nope"] })).status, 400);
  assert.deepEqual(runs, []);
});

Deno.test("the cron's call: 202 at once, the run after the answer, with the default settle", async () => {
  const { call, runs, after } = setup();
  const response = await call({ fix: true, triggeredBy: "cron" });
  assert.equal(response.status, 202);
  assert.deepEqual(await response.json(), { accepted: true, fix: true });
  assert.equal(after.length, 1);
  await Promise.all(after);
  assert.deepEqual(runs, [{
    fix: true,
    triggeredBy: "cron",
    settleMs: 600_000,
    bookingIds: undefined,
    timeBudgetMs: 120_000,
  }]);
});

Deno.test("wait: the answer is the run's summary", async () => {
  const { call, runs } = setup();
  const id = "11111111-1111-4111-8111-111111111111";
  const response = await call({ wait: true, settleMinutes: 0, bookingIds: [id] });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), {
    started: true,
    run_id: "run-1",
    status: "finished",
    drift: 1,
    by_kind: { duplicate: 1 },
    alert_id: "alert-1",
    reservations_seen: 10,
    bookings_checked: 9,
    requests_used: 1,
  });
  assert.deepEqual(runs[0], {
    fix: false,
    triggeredBy: "function",
    settleMs: 0,
    bookingIds: [id],
    timeBudgetMs: 120_000,
  });
});

Deno.test("the sync off or in test mode: skipped, nothing runs", async () => {
  const { call, runs } = setup(false);
  const response = await call({ fix: true, triggeredBy: "cron" });
  assert.equal(response.status, 200);
  assert.equal((await response.json()).outcome, "skipped");
  assert.deepEqual(runs, []);
});
