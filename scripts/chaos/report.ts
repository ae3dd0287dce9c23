// The chaos run's written result: a Markdown report (docs/reliability.md) or JSON.

import type { ChaosAction } from "./fault-plan.ts";
import type { DeliveryStats } from "./load.ts";
import type { Check } from "./verify.ts";

export interface Result {
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
  faultsSeen: Record<string, number | string>;
  chaos: ChaosAction[];
  checks: Check[];
  problems: string[];
}

export async function machine(): Promise<string> {
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

function table(rows: Array<[string, string]>, head: [string, string]): string {
  const esc = (s: string) => s.replaceAll("|", "\\|");
  return [
    `| ${head[0]} | ${head[1]} |`,
    "|---|---|",
    ...rows.map(([a, b]) => `| ${esc(a)} | ${esc(b)} |`),
  ].join("\n");
}

export function report(r: Result): string {
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

export const HEADER = `# Reliability: the chaos run

\`npm run chaos\` (scripts/chaos.ts, modules in scripts/chaos/) brings up a **separate** local
stack (\`.local/chaos-stack\`, ports 26321/26322/26324/26330, deleted and created fresh), inserts N
bookings (default 500) waiting for payment over the three seeded properties, and pays each through
a signed \`payment_intent.succeeded\` event POSTed to \`stripe-webhook\` at a steady rate (5/s, 8
in flight). Meanwhile the Guestly sandbox answers 30 % of API requests with 500/502/503, hangs 10 %
for 4 s (past the 2 s client timeout), performs 5 % and then drops the connection (lost response),
and has three 2-second 429 storms. On top, it behaves like a lying gateway for the creates that get
past those faults (\`--commit-faults\`, default 0.45 of all creates before the other faults and the
storms take their share; the run checks that at least 30 % of the creates sent while the faults are
on, outside the 429 storms, met it): it commits and then answers 502/503, commits and answers 504
after 1 s, or holds the create for 5 s (past the client timeout) and commits it then; and one
create per 50 bookings that arrives on a reused keep-alive connection (\`--drop-reused\`) is
committed and its connection dropped. The function processes (guestly-sync and stripe-webhook) are
SIGKILLed three times (the gateway restarts them), Postgres is SIGKILLed once and started again
(crash recovery also empties pg_net's unlogged queue), and pg_net's queue is emptied once by hand.
Webhook deliveries that fail (5xx, connection refused, timeouts while Postgres is down) are re-sent
with backoff until 200, as Stripe does. \`--seed N\` makes the sandbox's fault draws replayable.

Then the faults go off and the system settles: instead of waiting for the once-a-minute pg_cron
job and the 1–5 min retry times, the sweep's SQL body is called every 3 s with the clock moved
2 hours ahead, past the backoff's 1 h cap (\`guestly.sweep_due_syncs(as_of => now() + interval '2 hours')\`), at most
8 minutes. Leases of killed invocations run out by themselves (claim_sync's lease_seconds) by
design; the run waits them out.

With \`GUESTLY_HOLD_MINUTES=10\` (the default here) every booking first holds its nights in Guestly:
the faults are on before the bookings are inserted, so the holds are placed under them while the
payments arrive, and each payment must confirm its hold (one reservation, no second create).

Then the Guestly side: a host cancels, moves or resizes every 7th synced stay in the sandbox while
its webhooks are dropped (20 %), duplicated (20 %) and reordered (the next 10) and its API fails
again for 10 s (the webhook's reads of the changed stays meet it); the system settles again,
\`npm run sync:reconcile -- --fix\` catches what no webhook brought, and every booking must match
its Guestly reservation (status, dates, guests).

The sandbox runs at 4× Guesty's rate limits (\`GUESTLY_SANDBOX_RATE_SCALE=4\`: 60/s, 480/min,
20,000/h) and our limiter at \`GUESTLY_RATE_LIMITS=56,460,19600\` — the same headroom below them
as production's 14/115/4,900 against 15/120/5,000 — so 500 bookings fit into a few minutes.

Everything below this line is written by the run itself.

---

`;
