// Measurement 1: webhook answer time, our stripe-webhook (records + confirms, never calls Guestly)
// beside a baseline that creates the Guestly reservation inline (bench/baseline-webhook), with the
// sandbox healthy, down (errorRate 1) and 2 s slow (latencyMs 2000). Closed loop at a fixed
// concurrency; every event pays its own pending booking (amount and currency match).
//
// Side by side: the run is split into rounds; each round visits the three conditions in a rotated
// order, and inside each condition our webhook and the baseline alternate in chunks. So drift in
// the machine's load (other people's runs) lands on every cell alike. Between blocks the
// background syncs are allowed to finish, so one block's Guestly retries never overlap the next.
import type { StackConfig } from "../local/stack/config.ts";
import { functionsEnv } from "../local/stack/env.ts";
import { startService, stopService } from "../local/stack/services.ts";
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
export type Webhook = "ours" | "baseline";
export const CONDITIONS: Condition[] = ["healthy", "down", "slow"];
const FAULTS: Record<Condition, Record<string, unknown>> = {
  healthy: {},
  down: { errorRate: 1 },
  slow: { latencyMs: 2000 },
};

export interface Cell {
  webhook: Webhook;
  condition: Condition;
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
  concurrency: number;
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

export async function measureWebhooks(
  config: StackConfig,
  sql: Sql,
  options: {
    eventsPerCell: number;
    baselineSlowEvents: number;
    rounds: number;
    concurrency: number;
    chunksPerBlock: number;
    diagnosticEvents: number;
    sandboxLimits: string;
    clientLimits: string;
  },
): Promise<WebhookResult> {
  const box = sandbox(config);
  const logDir = `${config.stateDir}/logs/bench-gateway`;
  await Deno.mkdir(logDir, { recursive: true });
  const toml = `${config.stateDir}/bench-gateway.toml`;
  await Deno.writeTextFile(toml, "[functions.baseline-webhook]\nverify_jwt = false\n");
  const baselineUrl = `http://127.0.0.1:${BASELINE_PORT}/functions/v1/baseline-webhook`;
  const oursUrl = `${config.functionsUrl}/stripe-webhook`;
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
    const oursLog = `${config.stateDir}/logs/stripe-webhook.log`;
    const baselineLog = `${logDir}/baseline-webhook.log`;
    const oursOffset = await fileSize(oursLog);
    const baselineOffset = await fileSize(baselineLog);
    const url = (w: Webhook) => w === "ours" ? oursUrl : baselineUrl;

    // Warm-up (not counted): both function processes load their modules, pools fill.
    progress("webhook: warm-up");
    for (const w of ["ours", "baseline"] as Webhook[]) {
      const warm = await insertPendingBookings(sql, 40, `warm-${w}`, {
        leased: w === "baseline",
      });
      await closedLoop(
        url(w),
        warm.map(paymentPayload),
        config.stripeWebhookSecret,
        options.concurrency,
      );
      await waitSettled(sql, w === "ours" ? warm.map((b) => b.id) : [], 60_000);
      await neutralize(sql, warm.map((b) => b.id));
    }

    const samples = new Map<string, Sample[]>();
    const key = (w: Webhook, c: Condition) => `${w}/${c}`;
    for (let round = 0; round < options.rounds; round++) {
      const order = CONDITIONS.map((_, i) => CONDITIONS[(i + round) % CONDITIONS.length]);
      for (const [position, condition] of order.entries()) {
        const perRound = (total: number) =>
          Math.floor(total / options.rounds) + (round < total % options.rounds ? 1 : 0);
        const ours = await insertPendingBookings(
          sql,
          perRound(options.eventsPerCell),
          `m1-ours-${condition}`,
        );
        const baseline = await insertPendingBookings(
          sql,
          perRound(condition === "slow" ? options.baselineSlowEvents : options.eventsPerCell),
          `m1-base-${condition}`,
          { leased: true },
        );
        const oursChunks = chunks(ours, options.chunksPerBlock);
        const baseChunks = chunks(baseline, options.chunksPerBlock);
        await box.clearFaults();
        await box.faults(FAULTS[condition]);
        progress(
          `webhook: round ${round + 1}/${options.rounds} ${condition}: ${ours.length} ours, ` +
            `${baseline.length} baseline`,
        );
        const baselineFirst = (round + position) % 2 === 1;
        for (let i = 0; i < Math.max(oursChunks.length, baseChunks.length); i++) {
          const pair: [Webhook, PendingBooking[] | undefined][] = [
            ["ours", oursChunks[i]],
            ["baseline", baseChunks[i]],
          ];
          if (baselineFirst) pair.reverse();
          for (const [w, chunk] of pair) {
            if (!chunk?.length) continue;
            const payloads = chunk.map(paymentPayload);
            const deliveries = await closedLoop(
              url(w),
              payloads,
              config.stripeWebhookSecret,
              options.concurrency,
            );
            const list = samples.get(key(w, condition)) ?? [];
            deliveries.forEach((delivery, j) =>
              list.push({ eventId: JSON.parse(payloads[j]).id, delivery, round })
            );
            samples.set(key(w, condition), list);
          }
        }
        // The block is measured: let its background syncs finish before the next block.
        await box.clearFaults();
        const settled = await waitSettled(sql, ours.map((b) => b.id), 120_000);
        if (!settled) progress(`webhook: ${condition} block did not settle within 120 s`);
        await neutralize(sql, [...ours, ...baseline].map((b) => b.id));
      }
    }

    // Diagnostics, Guestly healthy: one request at a time (no queueing), and concurrency 8
    // straight to the function's own port (no gateway hop).
    const diagnosticRuns: { what: string; url: string; n: number; concurrency: number }[] = [];
    const directPort = (await (await fetch(`${config.apiUrl}/__gateway/status`)).json() as {
      name: string;
      port: number;
    }[]).find((f) => f.name === "stripe-webhook")?.port;
    diagnosticRuns.push({
      what: "stripe-webhook, concurrency 1, via the gateway",
      url: oursUrl,
      n: options.diagnosticEvents,
      concurrency: 1,
    });
    if (directPort) {
      diagnosticRuns.push({
        what: `stripe-webhook, concurrency ${options.concurrency}, straight to its process`,
        url: `http://127.0.0.1:${directPort}/stripe-webhook`,
        n: options.diagnosticEvents,
        concurrency: options.concurrency,
      });
    }
    const diagnosticSamples: { what: string; eventIds: string[]; deliveries: Delivery[] }[] = [];
    await box.clearFaults();
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
        eventIds: payloads.map((p) => JSON.parse(p).id),
        deliveries,
      });
      await waitSettled(sql, bookings.map((b) => b.id), 120_000);
      await neutralize(sql, bookings.map((b) => b.id));
    }

    const oursServer = await serverTimes(oursLog, oursOffset);
    const diagnostics: Diagnostic[] = diagnosticSamples.map((d) => {
      const server = d.eventIds.map((id) => oursServer.get(id))
        .filter((v): v is number => v !== undefined);
      const ms = d.deliveries.map((x) => x.ms);
      return {
        what: d.what,
        n: ms.length,
        p50: percentile(ms, 0.5),
        p99: percentile(ms, 0.99),
        serverP50: percentile(server, 0.5),
        serverP99: percentile(server, 0.99),
      };
    });
    const baselineServer = await serverTimes(baselineLog, baselineOffset);
    const cells: Cell[] = [];
    for (const w of ["ours", "baseline"] as Webhook[]) {
      for (const condition of CONDITIONS) {
        const list = samples.get(key(w, condition)) ?? [];
        const ms = list.map((s) => s.delivery.ms);
        const server = list
          .map((s) => (w === "ours" ? oursServer : baselineServer).get(s.eventId))
          .filter((v): v is number => v !== undefined);
        const statuses: Record<string, number> = {};
        for (const s of list) {
          statuses[s.delivery.status] = (statuses[s.delivery.status] ?? 0) + 1;
        }
        cells.push({
          webhook: w,
          condition,
          n: list.length,
          p50: percentile(ms, 0.5),
          p90: percentile(ms, 0.9),
          p99: percentile(ms, 0.99),
          max: Math.max(...ms),
          serverP50: percentile(server, 0.5),
          serverP99: percentile(server, 0.99),
          statuses,
          roundP99: Array.from(
            { length: options.rounds },
            (_, r) => percentile(list.filter((s) => s.round === r).map((s) => s.delivery.ms), 0.99),
          ),
        });
      }
    }
    return {
      concurrency: options.concurrency,
      rounds: options.rounds,
      cells,
      sandboxLimits: options.sandboxLimits,
      clientLimits: options.clientLimits,
      diagnostics,
    };
  } finally {
    await box.clearFaults().catch(() => {});
    await stopService(config, "bench-baseline-gateway");
  }
}
