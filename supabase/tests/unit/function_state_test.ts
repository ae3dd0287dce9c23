// guestly-sync reports its state to the database: after auth only, throttled, never failing a
// request; GUESTLY_STALL_ALERT_MINUTES is validated at start-up like every other setting.
import assert from "node:assert/strict";
import {
  type FunctionState,
  functionStateHeartbeat,
  parseStallEnv,
} from "../../functions/_shared/guestly/function-state.ts";
import { createGuestlySyncHandler } from "../../functions/_shared/guestly/handler.ts";
import { memoryLogger } from "../../functions/_shared/log.ts";
import { serviceKeysFrom } from "../../functions/_shared/service-keys.ts";

const KEY = "service-role-key-for-unit-tests";
const BOOKING = "5eed0000-0000-4000-8000-000000000001";

function request(key: string | null) {
  return new Request("http://localhost/guestly-sync", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(key ? { Authorization: `Bearer ${key}` } : {}),
    },
    body: JSON.stringify({ bookingId: BOOKING }),
  });
}

Deno.test("GUESTLY_STALL_ALERT_MINUTES: default 15, a bad value names the variable", () => {
  assert.equal(parseStallEnv({}), 15);
  assert.equal(parseStallEnv({ GUESTLY_STALL_ALERT_MINUTES: "" }), 15);
  assert.equal(parseStallEnv({ GUESTLY_STALL_ALERT_MINUTES: "30" }), 30);
  for (const bad of ["0", "-5", "1.5", "soon"]) {
    assert.throws(
      () => parseStallEnv({ GUESTLY_STALL_ALERT_MINUTES: bad }),
      /invalid configuration: GUESTLY_STALL_ALERT_MINUTES: must be a positive whole number/,
    );
  }
});

Deno.test("a disabled function reports its state, then answers skipped; a 401 reports nothing", async () => {
  const reports: FunctionState[] = [];
  let clock = 0;
  const log = memoryLogger();
  const handler = createGuestlySyncHandler({
    serviceKeys: serviceKeysFrom({ SUPABASE_SERVICE_ROLE_KEY: KEY }),
    enabled: false,
    sync: () => Promise.reject(new Error("not called when disabled")),
    retry: () => Promise.reject(new Error("not called when disabled")),
    log,
    heartbeat: functionStateHeartbeat({
      report: (state) => {
        reports.push(state);
        return Promise.resolve();
      },
      state: { enabled: false, testMode: false, stallAlertMinutes: 20 },
      log,
      now: () => clock,
    }),
  });

  const refused = await handler(request("wrong-key"));
  assert.equal(refused.status, 401);
  await refused.body?.cancel();
  assert.equal(reports.length, 0, "an unauthenticated caller writes nothing");
  assert.ok(log.entries.some((e) => e.event === "guestly.sync.unauthorized"), "the 401 is logged");

  const skipped = await handler(request(KEY));
  assert.equal(skipped.status, 200);
  assert.equal((await skipped.json()).outcome, "skipped");
  assert.deepEqual(reports, [{ enabled: false, testMode: false, stallAlertMinutes: 20 }]);

  clock += 30_000;
  await (await handler(request(KEY))).body?.cancel();
  assert.equal(reports.length, 1, "at most once a minute");
  clock += 31_000;
  await (await handler(request(KEY))).body?.cancel();
  assert.equal(reports.length, 2, "again after a minute");
});

Deno.test("a failing report never fails the request, and is retried on the next one", async () => {
  let calls = 0;
  const log = memoryLogger();
  const beat = functionStateHeartbeat({
    report: () => {
      calls++;
      return Promise.reject(new Error("connection refused"));
    },
    state: { enabled: true, testMode: false, stallAlertMinutes: 15 },
    log,
    now: () => 0,
  });
  await beat();
  await beat();
  assert.equal(calls, 2);
  assert.ok(log.entries.some((e) => e.event === "guestly.function_state.report_failed"));
});
