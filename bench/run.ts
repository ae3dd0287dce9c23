// `npm run bench`: the performance measurements of docs/performance.md, on a FRESH stack of the
// bench's own (.local/bench-stack, ports 2732x/27330), always torn down at the end.
//   3+6. backlog drain (and the guestly-sync process's memory and CPU), sandbox at Guesty × 4
//   2.   payment → reservation at 5/s          } sandbox and limiter at Guesty × 100, so a
//   1.   webhook answer time vs an inline baseline } flood is not rate limited
//   4.   trigger cost                           } cron paused; big tables last, so they slow
//   5.   sweep query at 1,000,000 bookings      } nothing else
//   7.   Guestly change → booking updated (the return path), at the flood limits
//   8.   holds: insert → hold placed, payment → confirmed with and without a hold (holds on
//        for this measurement only: the functions restart with GUESTLY_HOLD_MINUTES=10)
// `--quick` shrinks every measurement (a smoke run of the harness; its figures mean nothing and
// it does not write docs/performance.md).
// `--only webhook` runs measurement 1 alone (flood limits from the start; `--events N` sets the
// events per cell, default 400) and prints its section without writing docs/performance.md: for
// iterating on the webhook, comparing against the floor side by side.
import postgres from "postgres";
import { loadStackConfig } from "../local/stack/config.ts";
import { stackDown, stackUp } from "../local/stack/stack.ts";
import { stopService } from "../local/stack/services.ts";
import { loadAverage, machineInfo, progress, sandbox, sleep } from "./lib.ts";
import { measureDrain } from "./drain.ts";
import { measurePaymentToReservation } from "./latency.ts";
import { measureWebhooks } from "./webhook.ts";
import { measureTriggerCost } from "./trigger.ts";
import { measureSweepQuery } from "./sweep.ts";
import { measureGuestlyChangeToBooking } from "./return-path.ts";
import { measureHolds } from "./holds.ts";
import { reportedHoldMinutes } from "../local/stack/function-state.ts";
import { reconcileSection } from "./reconcile.ts";
import { type BenchResults, renderReport } from "./report.ts";

const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const quick = Deno.args.includes("--quick");
const only = Deno.args.includes("--only") ? Deno.args[Deno.args.indexOf("--only") + 1] : null;
if (only !== null && only !== "webhook") {
  console.error(`--only ${only}: only measurement 1 ("--only webhook") can run alone`);
  Deno.exit(2);
}
const onlyEvents = Deno.args.includes("--events")
  ? Number(Deno.args[Deno.args.indexOf("--events") + 1])
  : 400;
const STATE_DIR = `${REPO}/.local/bench-stack`;

const DRAIN_ENV = {
  GUESTLY_SANDBOX_RATE_SCALE: "4",
  GUESTLY_RATE_LIMITS: "56,460,19600",
};
const DRAIN_SANDBOX = { perSecond: 60, perMinute: 480, perHour: 20_000 };
const FLOOD_SANDBOX = { perSecond: 1_500, perMinute: 12_000, perHour: 500_000 };
const FLOOD_CLIENT = "1400,11500,490000";

const env: Record<string, string> = {
  LOCAL_STACK_DIR: STATE_DIR,
  SUPABASE_API_PORT: "27321",
  SUPABASE_DB_PORT: "27322",
  MAIL_CATCHER_PORT: "27324",
  GUESTLY_SANDBOX_PORT: "27330",
  GUESTLY_SYNC_ENABLED: "true",
  GUESTLY_TEST_MODE: "false",
  ...(only ? { GUESTLY_RATE_LIMITS: FLOOD_CLIENT } : DRAIN_ENV),
};
for (const [key, value] of Object.entries(env)) Deno.env.set(key, value);
// A developer's shell must not change what is measured.
for (const key of ["GUESTLY_MAX_ATTEMPTS", "GUESTLY_REQUEST_TIMEOUT_MS"]) Deno.env.delete(key);

const started = Date.now();
const results: BenchResults = {
  command: only
    ? `deno run -A bench/run.ts --only webhook --events ${onlyEvents}`
    : quick
    ? "npm run bench -- --quick"
    : "npm run bench",
  date: new Date().toISOString().replace(/\.\d+Z$/, " UTC").replace("T", " "),
  durationSeconds: 0,
  machine: await machineInfo(),
  loadBefore: await loadAverage(),
  loadAfter: "",
  settings: {
    GUESTLY_SYNC_ENABLED: "true",
    "GUESTLY_SANDBOX_RATE_SCALE (drain)": "4",
    "GUESTLY_RATE_LIMITS (drain)": DRAIN_ENV.GUESTLY_RATE_LIMITS,
    "sandbox limits (webhook, latency)": "1500/s, 12000/min, 500000/h",
    "GUESTLY_RATE_LIMITS (webhook, latency)": FLOOD_CLIENT,
  },
  errors: [],
};

/** Thrown once `--only`'s measurement is done: the stack is torn down as after a full run. */
class OnlyDone extends Error {}

const config = loadStackConfig();
// Stop whatever a previous, interrupted bench run left, then start from nothing.
await stackDown(() => {}).catch(() => {});
await Deno.remove(STATE_DIR, { recursive: true }).catch(() => {});

let sql: postgres.Sql | null = null;
let admin: postgres.Sql | null = null;
try {
  progress("starting the bench stack (fresh)");
  await stackUp({ log: (line) => progress(line) });
  sql = postgres(config.dbUrl, { max: 4, onnotice: () => {} });
  admin = postgres(config.adminDbUrl, { max: 4, onnotice: () => {} });
  const box = sandbox(config);
  const webhookOptions = {
    sandboxLimits: "1500/s, 12000/min, 500000/h",
    clientLimits: FLOOD_CLIENT,
    concurrencies: [1, 8],
  };

  if (only) {
    await box.limits(FLOOD_SANDBOX);
    results.webhook = await measureWebhooks(config, sql, {
      ...webhookOptions,
      eventsPerCell: [Math.ceil(onlyEvents / 2), onlyEvents],
      baselineEvents: onlyEvents,
      baselineSlowEvents: Math.max(8, Math.ceil(onlyEvents / 10)),
      rounds: 2,
      chunksPerBlock: 4,
      diagnosticEvents: onlyEvents,
    });
    throw new OnlyDone();
  }

  // 3 + 6: the drain, first, on the fresh stack at Guesty × 4.
  try {
    results.drain = await measureDrain(config, sql, admin, {
      count: quick ? 100 : 1000,
      sandboxLimits: DRAIN_SANDBOX,
      clientLimits: DRAIN_ENV.GUESTLY_RATE_LIMITS,
      timeoutMs: 6 * 60_000,
    });
  } catch (error) {
    results.errors.push(`drain: ${error instanceof Error ? error.message : error}`);
  }

  // Flood settings for 1 and 2: the sandbox at Guesty × 100, the function's limiter alike
  // (same headroom); the gateway restarts to read them (the token stays cached in Postgres).
  progress("restarting the functions with the flood limits");
  await box.limits(FLOOD_SANDBOX);
  Deno.env.set("GUESTLY_RATE_LIMITS", FLOOD_CLIENT);
  await stopService(config, "gateway");
  await stackUp({ log: (line) => progress(line) });

  try {
    results.latency = await measurePaymentToReservation(config, sql, {
      rate: 5,
      seconds: quick ? 5 : 60,
    });
  } catch (error) {
    results.errors.push(`payment→reservation: ${error instanceof Error ? error.message : error}`);
  }

  try {
    results.returnPath = await measureGuestlyChangeToBooking(config, sql, {
      count: quick ? 20 : 200,
      rate: 5,
    });
  } catch (error) {
    results.errors.push(
      `guestly change→booking: ${error instanceof Error ? error.message : error}`,
    );
  }

  try {
    results.webhook = await measureWebhooks(config, sql, {
      ...webhookOptions,
      eventsPerCell: quick ? [40, 80] : [1000, 2000],
      baselineEvents: quick ? 80 : 2000,
      baselineSlowEvents: quick ? 32 : 320,
      rounds: quick ? 2 : 4,
      chunksPerBlock: quick ? 2 : 5,
      diagnosticEvents: quick ? 40 : 400,
    });
  } catch (error) {
    results.errors.push(`webhook: ${error instanceof Error ? error.message : error}`);
  }

  // 8: holds on for this measurement only (every insert of the later ones must stay plain).
  try {
    progress("restarting the functions with holds on (GUESTLY_HOLD_MINUTES=10)");
    Deno.env.set("GUESTLY_HOLD_MINUTES", "10");
    await stopService(config, "gateway");
    await stackUp({ log: (line) => progress(line) });
    await reportedHoldMinutes(config, sql, { expected: 10 });
    results.holds = await measureHolds(config, sql, { count: quick ? 20 : 200, rate: 5 });
  } catch (error) {
    results.errors.push(`holds: ${error instanceof Error ? error.message : error}`);
  } finally {
    Deno.env.delete("GUESTLY_HOLD_MINUTES");
    await stopService(config, "gateway");
    await stackUp({ log: (line) => progress(line) });
    await admin`delete from guestly.function_state`;
  }

  // 4 and 5 need a quiet database: pause the cron jobs, let pg_net's queue empty.
  await admin`update cron.job set active = false`;
  for (let i = 0; i < 60; i++) {
    const [{ queued }] = await admin<{ queued: number }[]>`
      select count(*)::int as queued from net.http_request_queue`;
    if (queued === 0) break;
    await sleep(1000);
  }

  try {
    results.trigger = await measureTriggerCost(admin, {
      rows: quick ? 10_000 : 100_000,
      statusChangeRows: quick ? 1_000 : 10_000,
      reps: quick ? 2 : 6,
      statusReps: quick ? 2 : 5,
    });
  } catch (error) {
    results.errors.push(`trigger: ${error instanceof Error ? error.message : error}`);
  }

  try {
    results.sweep = await measureSweepQuery(admin, {
      rows: quick ? 50_000 : 1_000_000,
      due: 3000,
      reps: quick ? 5 : 30,
    });
  } catch (error) {
    results.errors.push(`sweep: ${error instanceof Error ? error.message : error}`);
  }
} catch (error) {
  if (!(error instanceof OnlyDone)) throw error;
} finally {
  await sql?.end({ timeout: 5 }).catch(() => {});
  await admin?.end({ timeout: 5 }).catch(() => {});
  progress("stopping the bench stack");
  await stackDown(() => {}).catch((error) => console.error(error));
}

results.durationSeconds = (Date.now() - started) / 1000;
results.loadAfter = await loadAverage();
const report = renderReport(results);
if (quick || only) {
  console.log(report);
} else {
  // The reconciliation's section is written by bench/reconcile.ts (too slow to run here): kept.
  const kept = reconcileSection(
    await Deno.readTextFile(`${REPO}/docs/performance.md`).catch(() => ""),
  );
  await Deno.writeTextFile(
    `${REPO}/docs/performance.md`,
    report + "\n" + (kept ? `\n${kept}` : ""),
  );
  progress("wrote docs/performance.md");
  console.log(report);
}
Deno.exit(results.errors.length ? 1 : 0);
