// Measurement 1: webhook answer time, our stripe-webhook (records + confirms, never calls Guestly)
// beside the floor (bench/floor-webhook: signature check + one INSERT, the least any webhook on
// this stack can do) and a baseline that creates the Guestly reservation inline
// (bench/baseline-webhook), with the sandbox healthy, down (errorRate 1) and 2 s slow (latencyMs
// 2000). Closed loops at concurrency 1 and 8 (the baseline at the highest one only); every event
// of ours and the baseline pays its own pending booking (amount and currency match).
//
// Side by side: the run is split into rounds; each round visits the three conditions in a rotated
// order, inside each condition both concurrencies, and inside each of those the webhooks alternate
// in chunks in a rotated order. So drift in the machine's load (other people's runs) lands on every
// cell alike. Between blocks the background syncs are allowed to finish, so one block's Guestly
// retries never overlap the next.
import type { StackConfig } from "../local/stack/config.ts";
import { functionsEnv } from "../local/stack/env.ts";
import { servicePid, startService, stopService } from "../local/stack/services.ts";
import { fetchFunctionDependencies } from "../local/stack/function-deps.ts";
import {
  closedLoop,
  type Delivery,
  insertPendingBookings,
  neutralize,
  paymentPayload,
  type PendingBooking,
  percentile,
  progress,
  sandbox,
  type Sql,
  waitSettled,
} from "./lib.ts";

export type Condition = "healthy" | "down" | "slow";
export type Webhook = "ours" | "floor" | "baseline";
const WEBHOOKS: Webhook[] = ["ours", "floor", "baseline"];
export const CONDITIONS: Condition[] = ["healthy", "down", "slow"];
const FAULTS: Record<Condition, Record<string, unknown>> = {
  healthy: {},
  down: { errorRate: 1 },
  slow: { latencyMs: 2000 },
};

export interface Cell {
  webhook: Webhook;
  condition: Condition;
  concurrency: number;
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Server-side time the handler logged (ms, integer), from request to answer. */
  serverP50: number;
  serverP99: number;
  statuses: Record<string, number>;
  /** p99 of each round, in round order. */
  roundP99: number[];
}

export interface WebhookResult {
  /** Every closed loop's concurrency, lowest first; the baseline runs at the last one only. */
  concurrencies: number[];
  rounds: number;
  cells: Cell[];
  sandboxLimits: string;
  clientLimits: string;
  /** Diagnostics (no target): where our webhook's answer time goes, Guestly healthy. */
  diagnostics: Diagnostic[];
}

export interface Diagnostic {
  what: string;
  n: number;
  p50: number;
  p99: number;
  serverP50: number;
  serverP99: number;
}

interface Sample {
  eventId: string;
  delivery: Delivery;
  round: number;
}

const BASELINE_PORT = 27323;

function chunks<T>(items: T[], parts: number): T[][] {
  const size = Math.ceil(items.length / parts);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** event id → the `ms` the handler logged for it, from a function's log written since `offset`. */
async function serverTimes(file: string, offset: number): Promise<Map<string, number>> {
  const text = await Deno.readTextFile(file).catch(() => "");
  const out = new Map<string, number>();
  for (const line of text.slice(offset).split("\n")) {
    const start = line.indexOf("{");
    if (start < 0 || !line.includes('"ms"')) continue;
    try {
      const entry = JSON.parse(line.slice(start)) as { event_id?: string; ms?: number };
      if (entry.event_id && typeof entry.ms === "number") out.set(entry.event_id, entry.ms);
    } catch { /* not a log entry */ }
  }
  return out;
}

const fileSize = async (file: string) => (await Deno.stat(file).catch(() => ({ size: 0 }))).size;

const FLOOR_TABLE_DDL = [
  "create schema if not exists bench",
  `create table if not exists bench.floor_stripe_events (
     id text primary key,
     type text not null,
     payload jsonb not null,
     received_at timestamptz not null default now())`,
];

export async function measureWebhooks(
  config: StackConfig,
  sql: Sql,
  options: {
    /** Events per cell of ours and the floor, per concurrency (same order as `concurrencies`). */
    eventsPerCell: number[];
    /** The baseline's events per condition (it runs at the highest concurrency only). */
    baselineEvents: number;
    baselineSlowEvents: number;
    rounds: number;
    concurrencies: number[];
    chunksPerBlock: number;
    diagnosticEvents: number;
    sandboxLimits: string;
    clientLimits: string;
  },
): Promise<WebhookResult> {
  const box = sandbox(config);
  const top = Math.max(...options.concurrencies);
  const logDir = `${config.stateDir}/logs/bench-gateway`;
  await Deno.mkdir(logDir, { recursive: true });
  const toml = `${config.stateDir}/bench-gateway.toml`;
  await Deno.writeTextFile(
    toml,
    "[functions.baseline-webhook]\nverify_jwt = false\n[functions.floor-webhook]\nverify_jwt = false\n" +
      "[functions.stripe-webhook-beside-floor]\nverify_jwt = false\n",
  );
  const benchUrl = (name: string) => `http://127.0.0.1:${BASELINE_PORT}/functions/v1/${name}`;
  const oursUrl = `${config.functionsUrl}/stripe-webhook`;
  for (const statement of FLOOR_TABLE_DDL) await sql.unsafe(statement);
  // A cold machine: the bench's functions' imports, before their gateway starts them.
  await fetchFunctionDependencies({
    functionsDir: new URL(".", import.meta.url).pathname.replace(/\/$/, ""),
    progress,
  });
  await startService(config, {
    name: "bench-baseline-gateway",
    script: "bench/baseline-gateway.ts",
    env: {
      ...await functionsEnv(config),
      BENCH_GATEWAY_PORT: String(BASELINE_PORT),
      BENCH_GATEWAY_TOML: toml,
      BENCH_GATEWAY_LOG_DIR: logDir,
    },
    readyUrl: `http://127.0.0.1:${BASELINE_PORT}/__gateway/status`,
  });
  try {
    const logs: Record<Webhook, string> = {
      ours: `${config.stateDir}/logs/stripe-webhook.log`,
      floor: `${logDir}/floor-webhook.log`,
      baseline: `${logDir}/baseline-webhook.log`,
    };
    const offsets = {} as Record<Webhook, number>;
    for (const w of WEBHOOKS) offsets[w] = await fileSize(logs[w]);
    const url = (w: Webhook) =>
      w === "ours" ? oursUrl : benchUrl(w === "floor" ? "floor-webhook" : "baseline-webhook");
    // The floor stores any signed event: it needs no booking.
    const floorEvents = (n: number) =>
      Array.from({ length: n }, () => ({ id: crypto.randomUUID(), amount: 100, currency: "eur" }));

    // Warm-up (not counted): every function process loads its modules, pools fill.
    progress("webhook: warm-up");
    for (const w of WEBHOOKS) {
      const warm = w === "floor"
        ? floorEvents(40)
        : await insertPendingBookings(sql, 40, `warm-${w}`, { leased: w === "baseline" });
      await closedLoop(url(w), warm.map(paymentPayload), config.stripeWebhookSecret, top);
      if (w === "floor") continue;
      await waitSettled(sql, w === "ours" ? warm.map((b) => b.id) : [], 60_000);
      await neutralize(sql, warm.map((b) => b.id));
    }

    const samples = new Map<string, Sample[]>();
    const key = (w: Webhook, c: Condition, k: number) => `${w}/${c}/${k}`;
    for (let round = 0; round < options.rounds; round++) {
      const order = CONDITIONS.map((_, i) => CONDITIONS[(i + round) % CONDITIONS.length]);
      for (const [position, condition] of order.entries()) {
        const perRound = (total: number) =>
          Math.floor(total / options.rounds) + (round < total % options.rounds ? 1 : 0);
        await box.clearFaults();
        await box.faults(FAULTS[condition]);
        const blockBookings: string[] = [];
        const oursBookings: string[] = [];
        const levels = round % 2 === 0
          ? options.concurrencies
          : [...options.concurrencies].reverse();
        for (const concurrency of levels) {
          const events = options.eventsPerCell[options.concurrencies.indexOf(concurrency)];
          const batches = new Map<Webhook, PendingBooking[]>();
          batches.set(
            "ours",
            await insertPendingBookings(sql, perRound(events), `m1-ours-${condition}`),
          );
          batches.set("floor", floorEvents(perRound(events)));
          if (concurrency === top) {
            batches.set(
              "baseline",
              await insertPendingBookings(
                sql,
                perRound(
                  condition === "slow" ? options.baselineSlowEvents : options.baselineEvents,
                ),
                `m1-base-${condition}`,
                { leased: true },
              ),
            );
          }
          for (const w of ["ours", "baseline"] as Webhook[]) {
            for (const b of batches.get(w) ?? []) blockBookings.push(b.id);
          }
          for (const b of batches.get("ours")!) oursBookings.push(b.id);
          progress(
            `webhook: round ${round + 1}/${options.rounds} ${condition}, concurrency ` +
              `${concurrency}: ${
                [...batches].map(([w, list]) => `${list.length} ${w}`).join(", ")
              }`,
          );
          // Rotate who goes first in each chunk, so no webhook always follows the same one.
          const present = WEBHOOKS.filter((w) => batches.has(w));
          const shift = (round + position) % present.length;
          const rotation = present.map((_, i) => present[(i + shift) % present.length]);
          const split = new Map(
            [...batches].map(([w, list]) => [w, chunks(list, options.chunksPerBlock)]),
          );
          for (let i = 0; i < options.chunksPerBlock; i++) {
            for (const w of rotation) {
              const chunk = split.get(w)?.[i];
              if (!chunk?.length) continue;
              const payloads = chunk.map(paymentPayload);
              const deliveries = await closedLoop(
                url(w),
                payloads,
                config.stripeWebhookSecret,
                concurrency,
              );
              const list = samples.get(key(w, condition, concurrency)) ?? [];
              deliveries.forEach((delivery, j) =>
                list.push({ eventId: JSON.parse(payloads[j]).id, delivery, round })
              );
              samples.set(key(w, condition, concurrency), list);
            }
          }
        }
        // The block is measured: let its background syncs finish before the next block.
        await box.clearFaults();
        const settled = await waitSettled(sql, oursBookings, 120_000);
        if (!settled) progress(`webhook: ${condition} block did not settle within 120 s`);
        await neutralize(sql, blockBookings);
      }
    }

    // Diagnostic, Guestly healthy: concurrency `top` straight to the function's own port (no
    // gateway hop).
    const diagnosticRuns: { what: string; url: string; n: number; concurrency: number }[] = [];
    const directPort = (await (await fetch(`${config.apiUrl}/__gateway/status`)).json() as {
      name: string;
      port: number;
    }[]).find((f) => f.name === "stripe-webhook")?.port;
    if (directPort && options.diagnosticEvents > 0) {
      diagnosticRuns.push({
        what: `stripe-webhook, concurrency ${top}, straight to its process`,
        url: `http://127.0.0.1:${directPort}/stripe-webhook`,
        n: options.diagnosticEvents,
        concurrency: top,
      });
    }
    const diagnosticSamples: {
      what: string;
      /** The log with this run's server times. */
      log: string;
      eventIds: string[];
      deliveries: Delivery[];
    }[] = [];
    /** Ours and the floor in alternating chunks of `n` events each (rotated every chunk). */
    const interleaved = async (oursUrl: string, n: number, concurrency: number) => {
      const bookings = await insertPendingBookings(sql, n, "m1-diag");
      const lists: [Webhook, string, string[]][] = [
        ["ours", oursUrl, bookings.map(paymentPayload)],
        ["floor", url("floor"), floorEvents(n).map(paymentPayload)],
      ];
      const results = new Map<Webhook, { eventIds: string[]; deliveries: Delivery[] }>();
      const split = lists.map(([w, to, payloads]) =>
        [w, to, chunks(payloads, options.chunksPerBlock)] as const
      );
      for (let i = 0; i < options.chunksPerBlock; i++) {
        for (const [w, to, parts] of i % 2 === 0 ? split : [...split].reverse()) {
          const part = parts[i] ?? [];
          const deliveries = await closedLoop(to, part, config.stripeWebhookSecret, concurrency);
          const so = results.get(w) ?? { eventIds: [], deliveries: [] };
          so.eventIds.push(...part.map((p) => JSON.parse(p).id));
          so.deliveries.push(...deliveries);
          results.set(w, so);
        }
      }
      return { bookings, results };
    };
    const sizeAt = (concurrency: number) =>
      concurrency === top ? options.diagnosticEvents : Math.ceil(options.diagnosticEvents / 2);
    await box.clearFaults();
    // Diagnostic, Guestly healthy: ours and the floor interleaved as above, with the pg_net
    // worker paused (SIGSTOP), so no payment wakes a sync while the block runs — the requests
    // wait in pg_net's queue and go out when it resumes. What ours ÷ floor is then is our
    // webhook's own cost; the difference to the rows above is the sync the payments woke.
    const worker = await servicePid(config, "pg-net-worker");
    for (const concurrency of worker && options.diagnosticEvents > 0 ? options.concurrencies : []) {
      const n = sizeAt(concurrency);
      progress(`webhook: diagnostic: pg_net worker paused, concurrency ${concurrency}: ${n} each`);
      Deno.kill(worker!, "SIGSTOP");
      let run;
      try {
        run = await interleaved(url("ours"), n, concurrency);
      } finally {
        Deno.kill(worker!, "SIGCONT");
      }
      for (const [w, r] of run.results) {
        diagnosticSamples.push({
          what: `${w === "ours" ? "stripe-webhook" : "floor"}, concurrency ${concurrency}, ` +
            "pg_net worker paused (no sync runs during the block)",
          log: logs[w],
          ...r,
        });
      }
      await waitSettled(sql, run.bookings.map((b) => b.id), 120_000);
      await neutralize(sql, run.bookings.map((b) => b.id));
    }
    // Diagnostic, Guestly healthy, syncs running: ours through the floor's gateway process (a
    // copy of stripe-webhook there), so both wait in the same gateway and neither behind the
    // syncs' invocations, which still run on the same cores.
    const besideLog = `${logDir}/stripe-webhook-beside-floor.log`;
    const besideOffset = await fileSize(besideLog);
    for (const concurrency of options.diagnosticEvents > 0 ? options.concurrencies : []) {
      const n = sizeAt(concurrency);
      progress(`webhook: diagnostic: ours beside the floor, concurrency ${concurrency}: ${n} each`);
      const run = await interleaved(benchUrl("stripe-webhook-beside-floor"), n, concurrency);
      for (const [w, r] of run.results) {
        diagnosticSamples.push({
          what: `${w === "ours" ? "stripe-webhook" : "floor"}, concurrency ${concurrency}, ` +
            "both behind the floor's gateway process, syncs running",
          log: w === "ours" ? besideLog : logs.floor,
          ...r,
        });
      }
      await waitSettled(sql, run.bookings.map((b) => b.id), 120_000);
      await neutralize(sql, run.bookings.map((b) => b.id));
    }
    for (const d of diagnosticRuns) {
      progress(`webhook: diagnostic: ${d.what}`);
      const bookings = await insertPendingBookings(sql, d.n, "m1-diag");
      const payloads = bookings.map(paymentPayload);
      const deliveries = await closedLoop(
        d.url,
        payloads,
        config.stripeWebhookSecret,
        d.concurrency,
      );
      diagnosticSamples.push({
        what: d.what,
        log: logs.ours,
        eventIds: payloads.map((p) => JSON.parse(p).id),
        deliveries,
      });
      await waitSettled(sql, bookings.map((b) => b.id), 120_000);
      await neutralize(sql, bookings.map((b) => b.id));
    }

    const server = {} as Record<Webhook, Map<string, number>>;
    for (const w of WEBHOOKS) server[w] = await serverTimes(logs[w], offsets[w]);
    const besideTimes = await serverTimes(besideLog, besideOffset);
    const logTimes = (log: string) =>
      log === besideLog ? besideTimes : server[WEBHOOKS.find((w) => logs[w] === log)!];
    const diagnostics: Diagnostic[] = diagnosticSamples.map((d) => {
      const times = d.eventIds.map((id) => logTimes(d.log).get(id))
        .filter((v): v is number => v !== undefined);
      const ms = d.deliveries.map((x) => x.ms);
      return {
        what: d.what,
        n: ms.length,
        p50: percentile(ms, 0.5),
        p99: percentile(ms, 0.99),
        serverP50: percentile(times, 0.5),
        serverP99: percentile(times, 0.99),
      };
    });
    const cells: Cell[] = [];
    for (const concurrency of options.concurrencies) {
      for (const w of WEBHOOKS) {
        if (w === "baseline" && concurrency !== top) continue;
        for (const condition of CONDITIONS) {
          const list = samples.get(key(w, condition, concurrency)) ?? [];
          const ms = list.map((s) => s.delivery.ms);
          const times = list.map((s) => server[w].get(s.eventId))
            .filter((v): v is number => v !== undefined);
          const statuses: Record<string, number> = {};
          for (const s of list) {
            statuses[s.delivery.status] = (statuses[s.delivery.status] ?? 0) + 1;
          }
          cells.push({
            webhook: w,
            condition,
            concurrency,
            n: list.length,
            p50: percentile(ms, 0.5),
            p90: percentile(ms, 0.9),
            p99: percentile(ms, 0.99),
            max: Math.max(...ms),
            serverP50: percentile(times, 0.5),
            serverP99: percentile(times, 0.99),
            statuses,
            roundP99: Array.from(
              { length: options.rounds },
              (_, r) =>
                percentile(list.filter((s) => s.round === r).map((s) => s.delivery.ms), 0.99),
            ),
          });
        }
      }
    }
    return {
      concurrencies: options.concurrencies,
      rounds: options.rounds,
      cells,
      sandboxLimits: options.sandboxLimits,
      clientLimits: options.clientLimits,
      diagnostics,
    };
  } finally {
    await box.clearFaults().catch(() => {});
    await stopService(config, "bench-baseline-gateway");
    await sql.unsafe("drop schema if exists bench cascade").catch(() => {});
  }
}
