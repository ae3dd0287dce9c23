// What goes wrong during the chaos run: the Guestly sandbox's faults (a failing, hanging and
// lying gateway) and the scheduled actions (429 storms, killed functions, a crashed Postgres,
// a wiped pg_net queue), each tied to the share of payments dispatched so far.

import type postgres from "postgres";
import type { StackConfig } from "../../local/stack/config.ts";
import type { Options } from "./options.ts";
import { httpJson, sleep } from "./util.ts";

/** Faults on every Guestly API request; the commit faults come on top (mutations only). */
const BASE = { errorRate: 0.3, hangRate: 0.1, hangMs: 4000, lostResponseRate: 0.05 };

/**
 * The sandbox's fault settings. A create meets the commit faults only if errorRate and hang let
 * it through, so their rates are scaled up to make `options.commitFaults` the share of ALL
 * creates that meet one of them, split evenly between slowCommit, commitThen504 and
 * commitThenError (the sandbox tries them in that order, so later rates are conditional).
 */
export function sandboxFaults(options: Options, requestTimeoutMs: number) {
  const reach = (1 - BASE.hangRate) * (1 - BASE.errorRate);
  const third = Math.min(0.95, options.commitFaults / reach) / 3;
  return {
    ...BASE,
    // Past the client timeout: the caller gives up, the create commits later anyway.
    slowCommitRate: third,
    slowCommitMs: Math.round(requestTimeoutMs * 2.5),
    // Within the client timeout: the caller sees the 504.
    commitThen504Rate: third / (1 - third),
    commitThen504DelayMs: Math.round(requestTimeoutMs / 2),
    commitThenErrorRate: third / (1 - 2 * third),
    commitThenErrorStatuses: [502, 503],
    dropReusedCreates: options.dropReused,
    // Guesty's create/payment race: a payment this soon after its reservation's create is
    // answered 404 and lost. Longer than our pause (GUESTLY_PAYMENT_DELAY_MS, 2 s), so every
    // payment right after a create meets it and must be retried.
    paymentsNotReadyMs: PAYMENTS_NOT_READY_MS,
  };
}

export const PAYMENTS_NOT_READY_MS = 3000;

export function describeFaults(f: ReturnType<typeof sandboxFaults>): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  return `errorRate ${f.errorRate}, hangRate ${f.hangRate} (hangMs ${f.hangMs}), ` +
    `lostResponseRate ${f.lostResponseRate}; creates and status changes that get through: ` +
    `slowCommit ${pct(f.slowCommitRate)} (${f.slowCommitMs} ms), commitThen504 ${
      pct(f.commitThen504Rate)
    } (after ${f.commitThen504DelayMs} ms), commitThenError ${pct(f.commitThenErrorRate)} ` +
    `(${f.commitThenErrorStatuses.join("/")}); dropReusedCreates ${f.dropReusedCreates}; ` +
    `payments sooner than ${f.paymentsNotReadyMs} ms after their create lost (404)`;
}

export interface ChaosAction {
  at: number;
  what: string;
  detail: string;
}

export interface ChaosDeps {
  config: StackConfig;
  admin: postgres.Sql;
  act: (what: string, detail: string) => void;
  progress: (line: string) => void;
  killPostgres: (config: StackConfig) => Promise<unknown>;
  startPostgres: (config: StackConfig) => Promise<unknown>;
}

/** The scheduled actions: `at` is the share of payments dispatched before the action runs. */
export function chaosPlan(d: ChaosDeps): Array<{ at: number; run: () => Promise<void> }> {
  const { config, admin, act } = d;
  const faults = (body: unknown) =>
    httpJson(`${config.sandboxUrl}/__sandbox/faults`, {
      method: "POST",
      body: JSON.stringify(body),
    });
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
    act("pg_net queue emptied", `delete from net.http_request_queue → ${deleted} request(s) lost`);
  };
  const crashPostgres = async () => {
    await d.killPostgres(config);
    act("Postgres SIGKILL", "postmaster killed; down for 3 s");
    await sleep(3_000);
    const t0 = Date.now();
    for (let i = 0;; i++) {
      try {
        await d.startPostgres(config);
        break;
      } catch (error) {
        if (i >= 5) throw error;
        d.progress(`start after crash failed (${String(error).split("\n")[0]}); retrying`);
        await sleep(2_000);
      }
    }
    act("Postgres started", `crash recovery done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  };
  return [
    { at: 0.10, run: () => storm() },
    { at: 0.20, run: () => killFunctions(1) },
    { at: 0.30, run: () => wipeQueue() },
    { at: 0.40, run: () => storm() },
    { at: 0.50, run: () => killFunctions(2) },
    { at: 0.60, run: () => crashPostgres() },
    { at: 0.70, run: () => storm() },
    { at: 0.80, run: () => killFunctions(3) },
  ];
}

/** The actions the checks expect to have happened. */
export function chaosDone(chaos: ChaosAction[]) {
  return {
    kills: chaos.filter((c) => c.what.startsWith("kill functions")).length,
    postgres: chaos.some((c) => c.what === "Postgres started"),
    queueWipe: chaos.some((c) => c.what === "pg_net queue emptied"),
    storms: chaos.filter((c) => c.what === "429 storm").length,
  };
}
