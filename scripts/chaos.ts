// `npm run chaos [-- --bookings N] [--json] [--no-doc] [--commit-faults 0..1] [--drop-reused N]
// [--seed N]`: pays N bookings (default 500, each holding its nights in Guestly first unless
// GUESTLY_HOLD_MINUTES=0) through signed Stripe events while Guestly fails,
// hangs, loses answers, storms 429s and lies like a gateway (commits, then answers 502/503/504 or
// answers long after the caller gave up), the function processes are SIGKILLed three times,
// Postgres is SIGKILLed once and pg_net's queue is emptied. Then faults go off, the sweep runs
// with a moved clock until everything settled, and the result is checked: every booking paid
// once, synced once, one Guestly reservation each, attempt log == counters, one token, alerts
// only for final failures. Runs on its OWN stack (.local/chaos-stack, ports 263xx), never the
// developer's or the test stack; always torn down at the end. Writes the result table to
// docs/reliability.md. Exits 0 only if every check passes.
//
// Modules (scripts/chaos/): options.ts (arguments, env), fault-plan.ts (sandbox faults and the
// scheduled chaos actions), load.ts (bookings and Stripe deliveries), verify.ts (collect and
// check), report.ts (the written result).
import postgres from "postgres";
import { parseArgs, prepareEnv } from "./chaos/options.ts";
import {
  type ChaosAction,
  chaosPlan,
  describeFaults,
  PAYMENTS_NOT_READY_MS,
  sandboxFaults,
} from "./chaos/fault-plan.ts";
import {
  earlyRefundPlan,
  insertBookings,
  newDeliveryStats,
  payAll,
  payEarlyRefunds,
} from "./chaos/load.ts";
import { verify } from "./chaos/verify.ts";
import { HEADER, machine, report, type Result } from "./chaos/report.ts";
import { httpJson, portInUse, sleep } from "./chaos/util.ts";
import { hostChanges, reconcileFix, WEBHOOK_FAULTS, webhookFaults } from "./chaos/guestly-side.ts";
import { deleteReservations, refundAfterRecreate } from "./chaos/recreated.ts";

const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const options = parseArgs(Deno.args);
// Set before anything reads the stack config.
const STATE_DIR = prepareEnv(REPO);

const { loadStackConfig } = await import("../local/stack/config.ts");
const { stackDown, stackUp } = await import("../local/stack/stack.ts");
const { killPostgres, startPostgres } = await import("../local/stack/postgres.ts");
const { reportedHoldMinutes } = await import("../local/stack/function-state.ts");

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s`;
/** Progress goes to stderr so `--json` leaves stdout to the result. */
const progress = (line: string) => console.error(`[chaos ${elapsed()}] ${line}`);

async function run(): Promise<Result> {
  const config = loadStackConfig();
  if (!config.stateDir.endsWith("/.local/chaos-stack")) {
    throw new Error(`refusing to use ${config.stateDir} as the chaos stack's state directory`);
  }
  const machineText = await machine();
  const command = `npm run chaos${Deno.args.length ? ` -- ${Deno.args.join(" ")}` : ""}`;
  const requestTimeoutMs = Number(Deno.env.get("GUESTLY_REQUEST_TIMEOUT_MS"));
  const sandboxFaultPlan = sandboxFaults(options, requestTimeoutMs);
  const settings: Record<string, string> = {
    ports:
      `api ${config.apiPort}, db ${config.dbPort}, sandbox ${config.sandboxPort}, mail ${config.mailPort}`,
    GUESTLY_REQUEST_TIMEOUT_MS: String(requestTimeoutMs),
    GUESTLY_UNKNOWN_SETTLE_MS: Deno.env.get("GUESTLY_UNKNOWN_SETTLE_MS")!,
    GUESTLY_SANDBOX_RATE_SCALE: Deno.env.get("GUESTLY_SANDBOX_RATE_SCALE")!,
    GUESTLY_RATE_LIMITS: Deno.env.get("GUESTLY_RATE_LIMITS")!,
    webhook: `${options.rate}/s, ${options.concurrency} concurrent`,
    "lying gateway": `${(options.commitFaults * 100).toFixed(0)} % of creates, ` +
      `dropReusedCreates ${options.dropReused}, seed ${options.seed ?? "none"}`,
  };

  for (const port of [config.apiPort, config.dbPort, config.sandboxPort, config.mailPort]) {
    if (await portInUse(port)) {
      throw new Error(
        `port ${port} is already in use: another chaos run, or a stack on these ports? ` +
          `(a left-over chaos stack: LOCAL_STACK_DIR=${STATE_DIR} SUPABASE_API_PORT=${config.apiPort} ` +
          `SUPABASE_DB_PORT=${config.dbPort} MAIL_CATCHER_PORT=${config.mailPort} ` +
          `GUESTLY_SANDBOX_PORT=${config.sandboxPort} npm stop)`,
      );
    }
  }

  const phases: Record<string, number> = {};
  const mark = (name: string, since: number) => phases[name] = (Date.now() - since) / 1000;
  const problems: string[] = [];
  const chaos: ChaosAction[] = [];
  const act = (what: string, detail: string) => {
    chaos.push({ at: (Date.now() - started) / 1000, what, detail });
    progress(`CHAOS ${what}: ${detail}`);
  };

  progress(`fresh stack in ${STATE_DIR}`);
  await Deno.remove(STATE_DIR, { recursive: true }).catch(() => {});
  let t = Date.now();
  await stackUp({ log: (line) => progress(line) });
  mark("stack up", t);

  const sql = postgres(config.dbUrl, { max: 6, onnotice: () => {}, connect_timeout: 5 });
  const admin = postgres(config.adminDbUrl, { max: 2, onnotice: () => {}, connect_timeout: 5 });
  const sandboxUrl = config.sandboxUrl;
  const stats = newDeliveryStats();
  const runId = crypto.randomUUID().slice(0, 8);
  const n = options.bookings;

  /**
   * Until nothing is pending or waiting for a retry: the cron jobs' bodies with the clock moved
   * past every retry time and grace period (syncs, and Guestly events recorded, not applied).
   */
  const settle = async (ids: string[]): Promise<{ sweeps: number; sweptRows: number }> => {
    const settleDeadline = Math.min(Date.now() + options.settleMs, started + options.maxRunMs);
    let sweeps = 0;
    let sweptRows = 0;
    let lastProgress = 0;
    for (;; await sleep(3_000)) {
      let c;
      try {
        [c] = await sql`
      select count(*) filter (where status = 'pending_payment')::int as unpaid,
             count(*) filter (where status <> 'pending_payment'
                                and guestly_sync_status = 'pending')::int as pending,
             count(*) filter (where guestly_sync_status = 'failed'
                                and guestly_sync_next_attempt_at is not null)::int as retrying,
             count(*) filter (where guestly_sync_status = 'synced')::int as synced,
             count(*) filter (where guestly_sync_lease_until > now())::int as leased,
             (select count(*)::int from guestly_events.events where outcome is null) as unapplied
        from public.bookings where id = any(${ids}::uuid[])`;
      } catch (error) {
        progress(`settle: database query failed (${error}); trying again`);
        if (Date.now() > settleDeadline) throw error;
        continue;
      }
      if (c.pending === 0 && c.retrying === 0 && c.unapplied === 0) {
        progress(`settled: ${c.synced} synced, ${c.unpaid} unpaid`);
        break;
      }
      if (Date.now() > settleDeadline) {
        problems.push(
          `not settled within the time limit: ${c.pending} pending, ${c.retrying} failed and retrying, ${c.leased} leased, ${c.unapplied} Guestly events not applied`,
        );
        break;
      }
      if (Date.now() - lastProgress > 15_000) {
        lastProgress = Date.now();
        progress(
          `settling: ${c.synced} synced, ${c.pending} pending, ${c.retrying} retrying, ` +
            `${c.leased} leased (leases of killed invocations run out by themselves)`,
        );
      }
      // The cron job's body with the clock moved past every retry time (backoff caps at 1 h) and
      // grace period.
      const [s] = await sql`
      select guestly.sweep_due_syncs(as_of => now() + interval '2 hours') as invoked`;
      sweeps++;
      sweptRows += s.invoked;
      // And the webhook sweep's: Guestly events recorded but not applied yet.
      await sql`select guestly_events.sweep_unapplied_events(as_of => now() + interval '10 minutes')`;
    }
    // Let the last answers land (nothing may arrive after the check); a slow commit still held
    // by the sandbox lands within slowCommitMs.
    await sleep(Math.max(3_000, sandboxFaultPlan.slowCommitMs + 1_000));
    return { sweeps, sweptRows };
  };

  try {
    // -- holds: guestly-sync reports GUESTLY_HOLD_MINUTES on its first request ------------------
    const holdMinutes = Number(Deno.env.get("GUESTLY_HOLD_MINUTES") ?? "0");
    settings.GUESTLY_HOLD_MINUTES = String(holdMinutes);
    if (holdMinutes > 0) {
      t = Date.now();
      await reportedHoldMinutes(config, sql, { expected: holdMinutes });
      mark("holds on", t);
    }

    // -- faults on (before the inserts: the holds are placed under them) -------------------------
    if (options.seed !== null) {
      await httpJson(`${sandboxUrl}/__sandbox/config`, {
        method: "POST",
        body: JSON.stringify({ seed: options.seed }),
      });
    }
    await httpJson(`${sandboxUrl}/__sandbox/faults`, {
      method: "POST",
      body: JSON.stringify(sandboxFaultPlan),
    });
    act("faults on", describeFaults(sandboxFaultPlan));

    // -- bookings waiting for payment, spread over the seeded properties (each places a hold) ---
    t = Date.now();
    const { seeds, properties } = await insertBookings(sql, n, runId);
    const ids = seeds.map((s) => s.id);
    mark("insert", t);
    progress(`${n} bookings inserted (pending_payment) over ${properties} properties`);
    // A few are paid the hard way: payment unmatched, refunded, then the Checkout event late.
    const early = earlyRefundPlan(seeds, runId);
    const earlyIds = new Set(early.map((e) => e.id));
    const plainSeeds = seeds.filter((s) => !earlyIds.has(s.id));
    settings["early refunds"] = `${early.length} bookings (${
      early.filter((e) => e.full).length
    } refunded in full) paid by an unmatched payment, its refund, then the late Checkout event`;

    // -- pay everything at a steady rate, chaos on a schedule tied to progress ------------------
    t = Date.now();
    let dispatched = 0;
    const plan = chaosPlan({ config, admin, act, progress, killPostgres, startPostgres });
    const chaosLoop = (async () => {
      for (const step of plan) {
        while (dispatched < Math.ceil(step.at * n)) await sleep(50);
        try {
          await step.run();
        } catch (error) {
          problems.push(`chaos action failed: ${error instanceof Error ? error.message : error}`);
          progress(`chaos action failed: ${error}`);
        }
      }
    })();
    const payDeadline = started + options.maxRunMs - options.settleMs - 60_000;
    const earlyPaid = payEarlyRefunds(config, early, stats, payDeadline);
    await payAll(config, plainSeeds, runId, stats, {
      rate: options.rate,
      concurrency: options.concurrency,
      deadline: payDeadline,
      // The chaos schedule is in shares of all n bookings.
      onDispatched: (count) => dispatched = Math.round((count * n) / plainSeeds.length),
      progress,
    });
    await earlyPaid;
    await chaosLoop;
    mark("payments (faults on)", t);
    progress(
      `all ${n} events delivered: ${stats.deliveries} deliveries, ${stats.redeliveries} re-sent, ` +
        `${stats.lost.length} never accepted`,
    );

    // -- faults off, settle ----------------------------------------------------------------------
    await httpJson(`${sandboxUrl}/__sandbox/faults`, { method: "DELETE" });
    const faultsOffAt = Date.now();
    act("faults off", "Guestly sandbox answers normally again");
    t = Date.now();
    const first = await settle(ids);
    mark("settle (faults off)", t);
    act(
      "settle",
      `${first.sweeps} sweep calls with the clock moved 2 h ahead, ${first.sweptRows} re-invocations`,
    );

    // -- the Guestly side: host changes under webhook and API faults, then the reconciliation ---
    t = Date.now();
    await webhookFaults(config, true);
    await httpJson(`${sandboxUrl}/__sandbox/faults`, {
      method: "POST",
      body: JSON.stringify({ ...sandboxFaultPlan, slowCommitRate: 0, commitThen504Rate: 0 }),
    });
    act(
      "Guestly side on",
      `webhooks: ${JSON.stringify(WEBHOOK_FAULTS)}; API faults on again (reads of changed stays)`,
    );
    const changes = await hostChanges(config, sql, ids);
    act(
      "host changes",
      `${changes.made["host-cancel"]} cancelled, ${changes.made["host-change-dates"]} moved, ` +
        `${changes.made["host-change-guests"]} resized in Guestly (${changes.refused} refused)`,
    );
    // Let deliveries and their retries run through the faults for a while, then stop faulting.
    await sleep(10_000);
    await httpJson(`${sandboxUrl}/__sandbox/faults`, { method: "DELETE" });
    await webhookFaults(config, false);
    act("Guestly side off", "webhook and API faults off; Svix-like retries still land");
    await sleep(5_000);
    await settle(ids);
    // Reservations deleted in Guestly (half after a partial refund): the reconciliation creates
    // them again, and their money must follow — through Guesty's create/payment race, so the
    // first record of each is lost and looked up on the new reservation.
    const recreated = await deleteReservations(config, sql, ids, changes.cancelled, {
      run: runId,
      deadline: started + options.maxRunMs,
      settle: () => settle(ids),
    });
    act(
      "reservations deleted in Guestly",
      `${recreated.deleted.length} deleted, ${recreated.refundedBefore.length} of them after a ` +
        "partial refund was recorded on them",
    );
    await httpJson(`${sandboxUrl}/__sandbox/faults`, {
      method: "POST",
      body: JSON.stringify({ paymentsNotReadyMs: PAYMENTS_NOT_READY_MS }),
    });
    const reconciled = await reconcileFix(REPO);
    act("reconciliation --fix", reconciled.summary);
    if (!reconciled.ok) problems.push(`sync:reconcile --fix failed: ${reconciled.summary}`);
    await settle(ids);
    await httpJson(`${sandboxUrl}/__sandbox/faults`, { method: "DELETE" });
    await refundAfterRecreate(config, recreated, {
      run: runId,
      deadline: started + options.maxRunMs,
    });
    act(
      "refunds after the re-create",
      `${recreated.refundedAfter.length} partial refunds of re-created reservations`,
    );
    if (recreated.lost) problems.push(`${recreated.lost} refund events never accepted`);
    await settle(ids);
    mark("Guestly side (host changes, webhook faults, reconciliation)", t);

    // -- collect and check ------------------------------------------------------------------------
    const { counts, faultsSeen, checks } = await verify({
      sql,
      admin,
      config,
      ids,
      stats,
      chaos,
      problems,
      options,
      started,
      faultsOffAt,
      hostCancelled: changes.cancelled,
      recreated,
      early,
    });
    return {
      ok: checks.every((c) => c.ok),
      command,
      date: new Date().toISOString(),
      machine: machineText,
      settings,
      bookings: n,
      durationSeconds: Math.round((Date.now() - started) / 1000),
      phases,
      counts,
      webhook: stats,
      faultsSeen,
      chaos,
      checks,
      problems,
    };
  } finally {
    await sql.end({ timeout: 2 }).catch(() => {});
    await admin.end({ timeout: 2 }).catch(() => {});
  }
}

async function main(): Promise<number> {
  let result: Result | null = null;
  let failure: unknown = null;
  let cleaning: Promise<void> | null = null;
  const cleanup = () =>
    cleaning ??= stackDown(() => {}).catch((error) =>
      progress(`stack down failed: ${error instanceof Error ? error.message : error}`)
    );
  const onSignal = () => {
    progress("interrupted: stopping the chaos stack");
    cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  // Whatever happens, the run ends by itself.
  const watchdog = setTimeout(() => {
    progress("hard time limit reached: stopping the chaos stack");
    cleanup().finally(() => Deno.exit(3));
  }, options.maxRunMs + 3 * 60_000);
  try {
    result = await run();
  } catch (error) {
    failure = error;
  } finally {
    progress("stopping the chaos stack");
    await cleanup();
    clearTimeout(watchdog);
  }
  if (!result) {
    console.error(`chaos run failed: ${failure instanceof Error ? failure.stack : failure}`);
    console.error(`logs: ${STATE_DIR}/logs/*.log`);
    return 2;
  }
  const text = report(result);
  if (options.json) console.log(JSON.stringify(result, null, 2));
  else console.log(`\n${text}\n`);
  if (options.doc) {
    await Deno.writeTextFile(`${REPO}/docs/reliability.md`, `${HEADER}${text}\n`);
    progress("written to docs/reliability.md");
  }
  if (!result.ok) progress(`FAILED — read ${STATE_DIR}/logs/*.log`);
  return result.ok ? 0 : 1;
}

Deno.exit(await main());
