// `npm run chaos [-- --bookings N] [--json] [--no-doc]`: pays N bookings (default 500) through
// signed Stripe events while Guestly fails, hangs, loses answers and storms 429s, the function
// processes are SIGKILLed three times, Postgres is SIGKILLed once and pg_net's queue is emptied.
// Then faults go off, the sweep runs with a moved clock until everything settled, and the result
// is checked: every booking paid once, synced once, one Guestly reservation each, attempt log ==
// counters, one token, alerts only for final failures. Runs on its OWN stack (.local/chaos-stack,
// ports 563xx), never the developer's or the test stack; always torn down at the end. Writes the
// result table to docs/reliability.md. Exits 0 only if every check passes.
import { signatureFor, stripeEvent } from "../supabase/tests/fixtures/stripe/events.ts";
import postgres from "postgres";

// ---- arguments and environment (set before anything reads the stack config) -----------------

const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

interface Options {
  bookings: number;
  json: boolean;
  doc: boolean;
  /** Webhook deliveries started per second. */
  rate: number;
  concurrency: number;
  settleMs: number;
  maxRunMs: number;
}

function parseArgs(args: string[]): Options {
  const options: Options = {
    bookings: 500,
    json: false,
    doc: true,
    rate: 5,
    concurrency: 8,
    settleMs: 8 * 60_000,
    maxRunMs: 15 * 60_000,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [name, inline] = arg.includes("=") ? arg.split("=", 2) : [arg, undefined];
    const value = () => {
      const v = inline ?? args[++i];
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} needs a positive number`);
      return n;
    };
    switch (name) {
      case "--bookings":
        options.bookings = Math.floor(value());
        break;
      case "--rate":
        options.rate = value();
        break;
      case "--concurrency":
        options.concurrency = Math.floor(value());
        break;
      case "--settle-minutes":
        options.settleMs = value() * 60_000;
        break;
      case "--json":
        options.json = true;
        break;
      case "--no-doc":
        options.doc = false;
        break;
      default:
        throw new Error(
          `unknown argument ${arg}; use --bookings N, --json, --no-doc, --rate N, --concurrency N, --settle-minutes N`,
        );
    }
  }
  return options;
}

const options = parseArgs(Deno.args);

// The chaos stack's state directory is always this one: it is deleted at the start, so it must
// never be a directory another stack lives in (the developer's .local, the test stack's).
const STATE_DIR = `${REPO}/.local/chaos-stack`;
Deno.env.set("LOCAL_STACK_DIR", STATE_DIR);
const PORT_DEFAULTS: Record<string, string> = {
  SUPABASE_API_PORT: "26321",
  SUPABASE_DB_PORT: "26322",
  MAIL_CATCHER_PORT: "26324",
  GUESTLY_SANDBOX_PORT: "26330",
};
for (const [key, value] of Object.entries(PORT_DEFAULTS)) {
  if (!Deno.env.get(key)) Deno.env.set(key, value);
}
Deno.env.set("GUESTLY_SYNC_ENABLED", "true");
Deno.env.set("GUESTLY_TEST_MODE", "false");
Deno.env.set("GUESTLY_REQUEST_TIMEOUT_MS", "2000");
// The sandbox at 4× Guesty's limits (60/s, 480/min, 20,000/h), our limiter with the same headroom
// below them as in production (14/s, 115/min, 4,900/h against 15, 120, 5,000).
if (!Deno.env.get("GUESTLY_SANDBOX_RATE_SCALE")) Deno.env.set("GUESTLY_SANDBOX_RATE_SCALE", "4");
if (!Deno.env.get("GUESTLY_RATE_LIMITS")) Deno.env.set("GUESTLY_RATE_LIMITS", "56,460,19600");

const { loadStackConfig } = await import("../local/stack/config.ts");
const { stackDown, stackUp } = await import("../local/stack/stack.ts");
const { killPostgres, startPostgres } = await import("../local/stack/postgres.ts");
type StackConfig = ReturnType<typeof loadStackConfig>;

// ---- small helpers ----------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s`;
/** Progress goes to stderr so `--json` leaves stdout to the result. */
const progress = (line: string) => console.error(`[chaos ${elapsed()}] ${line}`);

async function httpJson(url: string, init: RequestInit = {}): Promise<unknown> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  const text = await response.text();
  if (!response.ok) throw new Error(`${init.method ?? "GET"} ${url} → ${response.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

async function portInUse(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

// ---- the Stripe side: signed deliveries, re-sent like Stripe does until 200 -------------------

interface DeliveryStats {
  events: number;
  deliveries: number;
  redeliveries: number;
  ok: number;
  duplicateAnswers: number;
  byStatus: Record<string, number>;
  lost: string[];
  outcomes: Record<string, number>;
}

async function deliverUntilAccepted(
  config: StackConfig,
  payload: string,
  stats: DeliveryStats,
  deadline: number,
): Promise<boolean> {
  stats.events++;
  for (let attempt = 0;; attempt++) {
    if (attempt > 0) stats.redeliveries++;
    stats.deliveries++;
    let status = "network";
    try {
      // Stripe signs every delivery anew, with the time of that delivery.
      const signature = await signatureFor(payload, config.stripeWebhookSecret);
      const response = await fetch(`${config.functionsUrl}/stripe-webhook`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
        body: payload,
        signal: AbortSignal.timeout(20_000),
      });
      const text = await response.text();
      status = String(response.status);
      if (response.status === 200) {
        const body = JSON.parse(text) as { outcome: string; duplicate: boolean };
        stats.ok++;
        if (body.duplicate) stats.duplicateAnswers++;
        stats.outcomes[body.outcome] = (stats.outcomes[body.outcome] ?? 0) + 1;
        stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
        return true;
      }
    } catch (error) {
      status = error instanceof DOMException && error.name === "TimeoutError"
        ? "timeout"
        : "network";
    }
    stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
    if (Date.now() > deadline) return false;
    // Stripe backs off exponentially (hours, in reality); compressed here.
    await sleep(Math.min(500 * 2 ** attempt, 8_000) * (0.8 + Math.random() * 0.4));
  }
}

function paymentEvent(booking: BookingSeed, index: number, run: string): string {
  return JSON.stringify(stripeEvent("payment_intent.succeeded", {
    id: `evt_chaos_${run}_${index}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`,
    bookingId: booking.id,
    amount: booking.amount,
    currency: booking.currency,
    paymentIntentId: `pi_chaos_${run}_${index}`,
  }));
}

// ---- the scenario -------------------------------------------------------------------------------

interface BookingSeed {
  id: string;
  amount: number;
  currency: string;
}

interface FinalRow {
  id: string;
  status: string;
  guestly_sync_status: string;
  guestly_sync_attempts: number;
  guestly_reservation_id: string | null;
  guestly_sync_gave_up_at: Date | null;
  guestly_sync_next_attempt_at: Date | null;
  guestly_sync_error: string | null;
  stripe_payment_intent_id: string | null;
  logged: number;
  alerts: number;
  ledger: number;
  ledger_confirmed: number;
}

interface ChaosAction {
  at: number;
  what: string;
  detail: string;
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

interface Result {
  ok: boolean;
  command: string;
  date: string;
  machine: string;
  settings: Record<string, string>;
  bookings: number;
  durationSeconds: number;
  phases: Record<string, number>;
  counts: Record<string, number | string>;
  webhook: DeliveryStats;
  faultsSeen: Record<string, number>;
  chaos: ChaosAction[];
  checks: Check[];
  problems: string[];
}

async function machine(): Promise<string> {
  const cores = navigator.hardwareConcurrency;
  const memKb = Number(
    /MemTotal:\s+(\d+)/.exec(await Deno.readTextFile("/proc/meminfo").catch(() => ""))?.[1] ?? 0,
  );
  const os = /PRETTY_NAME="([^"]+)"/.exec(
    await Deno.readTextFile("/etc/os-release").catch(() => ""),
  )?.[1] ?? Deno.build.os;
  const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "")).split(" ")
    .slice(0, 3).join(" ");
  return `${cores} cores (nproc), ${(memKb / 1024 / 1024).toFixed(1)} GiB RAM, ${os}, ` +
    `Deno ${Deno.version.deno}, load average at start ${load || "?"}`;
}

async function run(): Promise<Result> {
  const config = loadStackConfig();
  if (!config.stateDir.endsWith("/.local/chaos-stack")) {
    throw new Error(`refusing to use ${config.stateDir} as the chaos stack's state directory`);
  }
  const machineText = await machine();
  const command = `npm run chaos${Deno.args.length ? ` -- ${Deno.args.join(" ")}` : ""}`;
  const settings: Record<string, string> = {
    ports:
      `api ${config.apiPort}, db ${config.dbPort}, sandbox ${config.sandboxPort}, mail ${config.mailPort}`,
    GUESTLY_REQUEST_TIMEOUT_MS: Deno.env.get("GUESTLY_REQUEST_TIMEOUT_MS")!,
    GUESTLY_SANDBOX_RATE_SCALE: Deno.env.get("GUESTLY_SANDBOX_RATE_SCALE")!,
    GUESTLY_RATE_LIMITS: Deno.env.get("GUESTLY_RATE_LIMITS")!,
    webhook: `${options.rate}/s, ${options.concurrency} concurrent`,
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
  const faults = (body: unknown) =>
    httpJson(`${sandboxUrl}/__sandbox/faults`, { method: "POST", body: JSON.stringify(body) });
  const stats: DeliveryStats = {
    events: 0,
    deliveries: 0,
    redeliveries: 0,
    ok: 0,
    duplicateAnswers: 0,
    byStatus: {},
    lost: [],
    outcomes: {},
  };
  const runId = crypto.randomUUID().slice(0, 8);
  const n = options.bookings;
  let ids: string[] = [];

  try {
    // -- bookings waiting for payment, spread over the seeded properties -----------------------
    t = Date.now();
    const properties = (await sql`select id from public.properties order by id`).map((r) =>
      r.id as string
    );
    if (properties.length === 0) throw new Error("the seed created no properties");
    const currencies = ["usd", "eur", "gbp"];
    const rows = Array.from({ length: n }, (_, i) => {
      const checkIn = new Date(Date.UTC(2027, 0, 1) + (i % 700) * 86_400_000);
      const nights = 1 + (i % 7);
      return {
        property_id: properties[i % properties.length],
        guest_first_name: "Chaos",
        guest_last_name: `Guest ${i + 1}`,
        guest_email: `chaos-${runId}-${i + 1}@example.com`,
        guest_phone: "+15555550123",
        check_in: checkIn.toISOString().slice(0, 10),
        check_out: new Date(checkIn.getTime() + nights * 86_400_000).toISOString().slice(0, 10),
        guests_count: 1 + (i % 4),
        amount_total: 10_000 + Math.floor(Math.random() * 190_000),
        currency: currencies[i % currencies.length],
      };
    });
    const seeds: BookingSeed[] = [];
    for (let i = 0; i < rows.length; i += 250) {
      const inserted = await sql`insert into public.bookings ${sql(rows.slice(i, i + 250))}
                                 returning id, amount_total, currency`;
      for (const r of inserted) {
        seeds.push({ id: r.id, amount: Number(r.amount_total), currency: r.currency });
      }
    }
    ids = seeds.map((s) => s.id);
    mark("insert", t);
    progress(`${n} bookings inserted (pending_payment) over ${properties.length} properties`);

    // -- faults on --------------------------------------------------------------------------------
    await faults({ errorRate: 0.3, hangRate: 0.1, hangMs: 4000, lostResponseRate: 0.05 });
    act("faults on", "errorRate 0.3, hangRate 0.1 (hangMs 4000), lostResponseRate 0.05");

    // -- pay everything at a steady rate, chaos on a schedule tied to progress ------------------
    t = Date.now();
    const payDeadline = started + options.maxRunMs - options.settleMs - 60_000;
    let dispatched = 0;
    const storm = async () => {
      await faults({ storm429: { durationMs: 2000 } });
      act("429 storm", "every Guestly API request answers 429 (Retry-After: 1) for 2 s");
    };
    const killFunctions = async (round: number) => {
      const killed: string[] = [];
      for (const name of ["guestly-sync", "stripe-webhook"]) {
        const answer = await httpJson(`${config.apiUrl}/__gateway/kill/${name}`, {
          method: "POST",
        }) as { pid: number | null };
        killed.push(`${name} (pid ${answer.pid})`);
      }
      act(`kill functions #${round}`, `SIGKILL ${killed.join(", ")}; the gateway restarts them`);
    };
    const wipeQueue = async () => {
      // The worker drains the queue every 200 ms: wait (≤ 5 s) for a moment it holds requests.
      const until = Date.now() + 5_000;
      let deleted = 0;
      while (deleted === 0 && Date.now() < until) {
        const result = await admin`delete from net.http_request_queue`;
        deleted = result.count;
        if (deleted === 0) await sleep(10);
      }
      act(
        "pg_net queue emptied",
        `delete from net.http_request_queue → ${deleted} request(s) lost`,
      );
    };
    const crashPostgres = async () => {
      await killPostgres(config);
      act("Postgres SIGKILL", "postmaster killed; down for 3 s");
      await sleep(3_000);
      const t0 = Date.now();
      for (let i = 0;; i++) {
        try {
          await startPostgres(config);
          break;
        } catch (error) {
          if (i >= 5) throw error;
          progress(`start after crash failed (${String(error).split("\n")[0]}); retrying`);
          await sleep(2_000);
        }
      }
      act("Postgres started", `crash recovery done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    };

    const plan: Array<{ at: number; run: () => Promise<void> }> = [
      { at: 0.10, run: () => storm() },
      { at: 0.20, run: () => killFunctions(1) },
      { at: 0.30, run: () => wipeQueue() },
      { at: 0.40, run: () => storm() },
      { at: 0.50, run: () => killFunctions(2) },
      { at: 0.60, run: () => crashPostgres() },
      { at: 0.70, run: () => storm() },
      { at: 0.80, run: () => killFunctions(3) },
    ];
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

    const inFlight = new Set<Promise<void>>();
    const interval = 1000 / options.rate;
    let lastReport = Date.now();
    for (const [i, seed] of seeds.entries()) {
      const due = t + i * interval;
      if (due > Date.now()) await sleep(due - Date.now());
      while (inFlight.size >= options.concurrency) await Promise.race(inFlight);
      const task = deliverUntilAccepted(config, paymentEvent(seed, i, runId), stats, payDeadline)
        .then((accepted) => {
          if (!accepted) stats.lost.push(seed.id);
        })
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
      dispatched = i + 1;
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        progress(
          `paid ${stats.ok}/${n} (dispatched ${dispatched}, deliveries ${stats.deliveries}, ` +
            `re-sent ${stats.redeliveries})`,
        );
      }
    }
    await Promise.all(inFlight);
    await chaosLoop;
    mark("payments (faults on)", t);
    progress(
      `all ${n} events delivered: ${stats.deliveries} deliveries, ${stats.redeliveries} re-sent, ` +
        `${stats.lost.length} never accepted`,
    );

    // -- faults off, settle ----------------------------------------------------------------------
    await httpJson(`${sandboxUrl}/__sandbox/faults`, { method: "DELETE" });
    act("faults off", "Guestly sandbox answers normally again");
    t = Date.now();
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
               count(*) filter (where guestly_sync_lease_until > now())::int as leased
          from public.bookings where id = any(${ids}::uuid[])`;
      } catch (error) {
        progress(`settle: database query failed (${error}); trying again`);
        if (Date.now() > settleDeadline) throw error;
        continue;
      }
      if (c.pending === 0 && c.retrying === 0) {
        progress(`settled: ${c.synced} synced, ${c.unpaid} unpaid`);
        break;
      }
      if (Date.now() > settleDeadline) {
        problems.push(
          `not settled within the time limit: ${c.pending} pending, ${c.retrying} failed and retrying, ${c.leased} leased`,
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
      // The cron job's body with the clock moved past every retry time and grace period.
      const [s] = await sql`
        select guestly.sweep_due_syncs(as_of => now() + interval '10 minutes') as invoked`;
      sweeps++;
      sweptRows += s.invoked;
    }
    // Let the last answers land (nothing may arrive after the check).
    await sleep(3_000);
    mark("settle (faults off)", t);
    act(
      "settle",
      `${sweeps} sweep calls with the clock moved 10 min ahead, ${sweptRows} re-invocations`,
    );

    // -- collect ----------------------------------------------------------------------------------
    const bookings = await sql<FinalRow[]>`
      select b.id, b.status, b.guestly_sync_status, b.guestly_sync_attempts,
             b.guestly_reservation_id, b.guestly_sync_gave_up_at, b.guestly_sync_next_attempt_at,
             b.guestly_sync_error, b.stripe_payment_intent_id,
             (select count(*) from guestly.sync_attempts a where a.booking_id = b.id)::int as logged,
             (select count(*) from guestly.admin_alerts a
               where a.booking_id = b.id and a.kind = 'sync_failed')::int as alerts,
             (select count(*) from payments.stripe_events e where e.booking_id = b.id)::int
               as ledger,
             (select count(*) from payments.stripe_events e
               where e.booking_id = b.id and e.outcome = 'confirmed')::int as ledger_confirmed
        from public.bookings b where b.id = any(${ids}::uuid[])`;
    const reservations = await httpJson(`${sandboxUrl}/__sandbox/reservations`) as Array<{
      reservationId: string;
      status: string;
      customFields: Array<{ fieldId: string; value: string }>;
    }>;
    const tokens = await httpJson(`${sandboxUrl}/__sandbox/tokens`) as { minted: number };
    const requests = await httpJson(`${sandboxUrl}/__sandbox/requests`) as Array<{
      path: string;
      status: number;
      fault: string | null;
    }>;
    const gateway = await httpJson(`${config.apiUrl}/__gateway/status`) as Array<{
      name: string;
      restarts: number;
    }>;
    const [attemptStats] = await sql`
      select count(*)::int as attempts,
             count(*) filter (where operation = 'lookup')::int as lookups,
             count(*) filter (where outcome = 'unknown')::int as unknown,
             count(*) filter (where outcome = 'retryable')::int as retryable,
             count(*) filter (where http_status = 429)::int as limited
        from guestly.sync_attempts where booking_id = any(${ids}::uuid[])`;
    const [alertsTotal] = await admin`
      select count(*)::int as n from guestly.admin_alerts where kind = 'sync_failed'`;

    // -- check ------------------------------------------------------------------------------------
    const perBooking = new Map<string, string[]>();
    for (const r of reservations) {
      const ref = r.customFields?.find((f) => ids.includes(f.value))?.value;
      if (ref) perBooking.set(ref, [...(perBooking.get(ref) ?? []), r.reservationId]);
    }
    const paid = bookings.filter((b) => b.status === "confirmed");
    const synced = bookings.filter((b) => b.guestly_sync_status === "synced");
    const failed = bookings.filter((b) => b.guestly_sync_status === "failed");
    const failedFinal = failed.filter((b) => b.guestly_sync_gave_up_at !== null);
    const stuck = bookings.filter((b) =>
      b.status !== "pending_payment" &&
      (b.guestly_sync_status === "pending" ||
        (b.guestly_sync_status === "failed" && b.guestly_sync_next_attempt_at !== null))
    );
    const duplicates = [...perBooking.entries()].filter(([, list]) => list.length > 1);
    const withoutReservation = ids.filter((id) => !perBooking.has(id));
    const wrongId = synced.filter((b) =>
      (perBooking.get(b.id) ?? []).length === 1 &&
      perBooking.get(b.id)![0] !== b.guestly_reservation_id
    );
    const counterMismatch = bookings.filter((b) => b.logged !== b.guestly_sync_attempts);
    const alertOnNonFailed = bookings.filter((b) =>
      b.alerts > 0 && !(b.guestly_sync_status === "failed" && b.guestly_sync_gave_up_at)
    );
    const failedWithoutOneAlert = failedFinal.filter((b) => b.alerts !== 1);
    const ledgerWrong = bookings.filter((b) => b.ledger !== 1 || b.ledger_confirmed !== 1);
    const foreign = reservations.length - [...perBooking.values()].flat().length;

    const faultsSeen: Record<string, number> = {
      "requests to Guestly API": requests.filter((r) => r.path.startsWith("/v1/")).length,
      "5xx injected": requests.filter((r) => r.fault?.startsWith("error(")).length,
      "hangs (past the 2 s timeout)": requests.filter((r) => r.fault === "hang").length,
      "lost responses (done, answer dropped)": requests.filter((r) =>
        r.fault?.startsWith("lostResponse")
      ).length,
      "429 storm answers": requests.filter((r) => r.fault === "storm429").length,
      "429 real rate limit": requests.filter((r) => r.status === 429 && !r.fault).length,
      "token requests": requests.filter((r) => r.path === "/oauth2/token").length,
    };
    const sample = (rows: Array<{ id: string }>) =>
      rows.slice(0, 5).map((r) => r.id).join(", ") + (rows.length > 5 ? ", …" : "");
    const kills = chaos.filter((c) => c.what.startsWith("kill functions")).length;
    const checks: Check[] = [
      {
        name: "every payment event accepted (re-sent until 200)",
        ok: stats.lost.length === 0,
        detail: `${stats.events - stats.lost.length}/${stats.events} accepted`,
      },
      {
        name: "every booking paid, one ledger row each (confirmed)",
        ok: paid.length === n && ledgerWrong.length === 0,
        detail: `${paid.length}/${n} confirmed; ${ledgerWrong.length} with ≠ 1 ledger row ${
          sample(ledgerWrong)
        }`,
      },
      {
        name: "every paid booking synced",
        ok: synced.length === n,
        detail:
          `${synced.length}/${n} synced, ${failed.length} failed (${failedFinal.length} final)`,
      },
      {
        name: "nothing stuck pending or waiting for a retry",
        ok: stuck.length === 0,
        detail: `${stuck.length} ${sample(stuck)}`,
      },
      {
        name: "exactly one Guestly reservation per booking",
        ok: duplicates.length === 0 && withoutReservation.length === 0 && wrongId.length === 0,
        detail: `${duplicates.length} duplicated, ${withoutReservation.length} missing, ` +
          `${wrongId.length} with another id than recorded${
            duplicates.length ? `: ${duplicates.slice(0, 5).map(([id]) => id).join(", ")}` : ""
          }`,
      },
      {
        name: "attempt log == guestly_sync_attempts for every booking",
        ok: counterMismatch.length === 0,
        detail: `${counterMismatch.length} mismatched ${sample(counterMismatch)}`,
      },
      {
        name: "at most one token minted",
        ok: tokens.minted <= 1,
        detail: `${tokens.minted} minted`,
      },
      {
        name: "sync_failed alerts only for final failures, one each",
        ok: alertOnNonFailed.length === 0 && failedWithoutOneAlert.length === 0,
        detail: `${alertsTotal.n} alerts; ${alertOnNonFailed.length} on non-failed bookings, ` +
          `${failedWithoutOneAlert.length} final failures without exactly one`,
      },
      {
        name: "all chaos actions done",
        ok: kills === 3 && chaos.some((c) => c.what === "Postgres started") &&
          chaos.some((c) => c.what === "pg_net queue emptied") &&
          chaos.filter((c) => c.what === "429 storm").length === 3,
        detail: `${kills} function kill rounds, Postgres crash ${
          chaos.some((c) => c.what === "Postgres started") ? "done" : "NOT done"
        }, queue wipe ${
          chaos.some((c) => c.what === "pg_net queue emptied") ? "done" : "NOT done"
        }`,
      },
      {
        name: "no problems during the run",
        ok: problems.length === 0,
        detail: problems.length ? problems.join("; ") : "none",
      },
      {
        name: "the run stopped by itself within 15 min",
        ok: Date.now() - started <= options.maxRunMs + 60_000,
        detail: `${((Date.now() - started) / 1000).toFixed(0)} s`,
      },
    ];
    const counts: Record<string, number | string> = {
      "bookings": n,
      "paid (confirmed)": paid.length,
      "synced": synced.length,
      "failed (final)": `${failed.length} (${failedFinal.length})`,
      "stuck pending / retrying": stuck.length,
      "sandbox reservations (total / ours)": `${reservations.length} / ${
        [...perBooking.values()].flat().length
      }`,
      "bookings with exactly one reservation": [...perBooking.values()].filter((l) =>
        l.length === 1
      ).length,
      "duplicate reservations": duplicates.reduce((sum, [, l]) => sum + l.length - 1, 0),
      "reservations matching no booking": foreign,
      "attempts logged (lookups / unknown outcome / retryable / 429)":
        `${attemptStats.attempts} (${attemptStats.lookups} / ${attemptStats.unknown} / ${attemptStats.retryable} / ${attemptStats.limited})`,
      "bookings whose attempt log ≠ counter": counterMismatch.length,
      "tokens minted": tokens.minted,
      "sync_failed alerts": alertsTotal.n,
      "function restarts (gateway)": gateway.map((g) => `${g.name} ${g.restarts}`).join(", "),
    };
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

// ---- output ---------------------------------------------------------------------------------

function table(rows: Array<[string, string]>, head: [string, string]): string {
  const esc = (s: string) => s.replaceAll("|", "\\|");
  return [
    `| ${head[0]} | ${head[1]} |`,
    "|---|---|",
    ...rows.map(([a, b]) => `| ${esc(a)} | ${esc(b)} |`),
  ].join("\n");
}

function report(r: Result): string {
  const w = r.webhook;
  return [
    `Result: **${r.ok ? "PASS" : "FAIL"}** — ${r.bookings} bookings, ${r.durationSeconds} s.`,
    "",
    `- Command: \`${r.command}\``,
    `- Date: ${r.date}`,
    `- Machine: ${r.machine}`,
    `- Settings: ${Object.entries(r.settings).map(([k, v]) => `${k} = ${v}`).join("; ")}`,
    "",
    "### Checks",
    "",
    table(r.checks.map((c) => [`${c.ok ? "✔" : "✘"} ${c.name}`, c.detail]), ["check", "result"]),
    "",
    "### Summary",
    "",
    table(Object.entries(r.counts).map(([k, v]) => [k, String(v)]), ["", "count"]),
    "",
    "### Webhook deliveries",
    "",
    table([
      ["events", String(w.events)],
      ["deliveries (incl. re-sends)", String(w.deliveries)],
      ["re-deliveries", String(w.redeliveries)],
      ["answers by status", Object.entries(w.byStatus).map(([k, v]) => `${k}: ${v}`).join(", ")],
      ["200 answered as duplicate (recorded, answer lost)", String(w.duplicateAnswers)],
      ["outcomes", Object.entries(w.outcomes).map(([k, v]) => `${k}: ${v}`).join(", ")],
      ["never accepted", String(w.lost.length)],
    ], ["", "count"]),
    "",
    "### Faults seen in the sandbox request log",
    "",
    table(Object.entries(r.faultsSeen).map(([k, v]) => [k, String(v)]), ["", "count"]),
    "",
    "### Chaos actions",
    "",
    table(r.chaos.map((c) => [`${c.at.toFixed(1)} s  ${c.what}`, c.detail]), ["when", "what"]),
    "",
    "### Phases",
    "",
    table(Object.entries(r.phases).map(([k, v]) => [k, `${v.toFixed(1)} s`]), ["phase", "took"]),
  ].join("\n");
}

const HEADER = `# Reliability: the chaos run

\`npm run chaos\` (scripts/chaos.ts) brings up a **separate** local stack (\`.local/chaos-stack\`,
ports 26321/26322/26324/26330, deleted and created fresh), inserts N bookings (default 500)
waiting for payment over the three seeded properties, and pays each through a signed
\`payment_intent.succeeded\` event POSTed to \`stripe-webhook\` at a steady rate (5/s, 8 in flight).
Meanwhile the Guestly sandbox answers 30 % of API requests with 500/502/503, hangs 10 % for 4 s
(past the 2 s client timeout), performs 5 % and then drops the connection (lost response), and
has three 2-second 429 storms. The function processes (guestly-sync and stripe-webhook) are
SIGKILLed three times (the gateway restarts them), Postgres is SIGKILLed once and started again
(crash recovery also empties pg_net's unlogged queue), and pg_net's queue is emptied once by hand.
Webhook deliveries that fail (5xx, connection refused, timeouts while Postgres is down) are
re-sent with backoff until 200, as Stripe does.

Then the faults go off and the system settles: instead of waiting for the once-a-minute pg_cron
job and the 1–5 min retry times, the sweep's SQL body is called every 3 s with the clock moved
10 minutes ahead (\`guestly.sweep_due_syncs(as_of => now() + interval '10 minutes')\`), at most
8 minutes. Leases of killed invocations run out by themselves (claim_sync's lease_seconds) by
design; the run waits them out.

The sandbox runs at 4× Guesty's rate limits (\`GUESTLY_SANDBOX_RATE_SCALE=4\`: 60/s, 480/min,
20,000/h) and our limiter at \`GUESTLY_RATE_LIMITS=56,460,19600\` — the same headroom below them
as production's 14/115/4,900 against 15/120/5,000 — so 500 bookings fit into a few minutes.

Everything below this line is written by the run itself.

---

`;

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
