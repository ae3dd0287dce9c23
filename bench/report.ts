// docs/performance.md from one bench run's results: every figure, its target, met or missed and
// by how much.
import type { DrainResult } from "./drain.ts";
import type { LatencyResult } from "./latency.ts";
import { type Cell, CONDITIONS, type WebhookResult } from "./webhook.ts";
import type { TriggerResult } from "./trigger.ts";
import type { SweepResult } from "./sweep.ts";
import type { ReturnPathResult } from "./return-path.ts";
import type { HoldsResult } from "./holds.ts";
import { fmt } from "./lib.ts";

export interface BenchResults {
  command: string;
  date: string;
  durationSeconds: number;
  machine: Record<string, string>;
  loadBefore: string;
  loadAfter: string;
  settings: Record<string, string>;
  drain?: DrainResult;
  latency?: LatencyResult;
  webhook?: WebhookResult;
  trigger?: TriggerResult;
  sweep?: SweepResult;
  returnPath?: ReturnPathResult;
  holds?: HoldsResult;
  errors: string[];
}

interface Verdict {
  met: boolean;
  text: string;
}

/** "at most" (le) or "at least" (ge) `target`; the margin in the figure's unit and in %. */
export function verdict(value: number, target: number, kind: "le" | "ge", unit: string): Verdict {
  if (!Number.isFinite(value)) return { met: false, text: "**missed** (no figure)" };
  const met = kind === "le" ? value <= target : value >= target;
  const diff = Math.abs(value - target);
  const pct = target !== 0 ? ` (${fmt((diff / target) * 100, 0)} %)` : "";
  const digits = unit === "" ? 2 : 1;
  return met
    ? { met, text: `met, ${fmt(diff, digits)}${unit} ${kind === "le" ? "under" : "over"}` }
    : { met, text: `**missed by ${fmt(diff, digits)}${unit}**${pct}` };
}

const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;

const WEBHOOK_LABEL: Record<string, string> = {
  ours: "**stripe-webhook**",
  floor: "floor (signature + 1 INSERT)",
  baseline: "baseline (inline)",
};
const CONDITION_LABEL: Record<string, string> = {
  healthy: "healthy",
  down: "down (errorRate 1)",
  slow: "slow (latencyMs 2000)",
};
/** stripe-webhook may take at most this many times the floor's answer time. */
const FLOOR_RATIO_TARGET = 1.3;

function webhookSection(w: WebhookResult, summary: string[][]): string[] {
  const top = Math.max(...w.concurrencies);
  const low = Math.min(...w.concurrencies);
  const cell = (webhook: string, condition: string, concurrency = top) =>
    w.cells.find((c) =>
      c.webhook === webhook && c.condition === condition && c.concurrency === concurrency
    ) as Cell;
  const statuses = (c: Cell) =>
    Object.entries(c.statuses).map(([s, n]) => `${s === "0" ? "no answer" : s}: ${n}`).join(", ");
  const lines = [
    "## 1. Webhook answer time",
    "",
    `Signed \`payment_intent.succeeded\` events (the recorded fixture shape, ~3 KB), closed loops at`,
    `concurrency ${
      w.concurrencies.join(" and ")
    }, measured by the sender from request sent to answer`,
    "read (signing excluded). Three webhooks, each behind the same local gateway code (one extra HTTP",
    "hop each): **stripe-webhook**; the **floor** (bench/floor-webhook: the same Stripe signature",
    "check on the raw body and one INSERT of the event into a bench-only table, nothing else — the",
    "least a correct webhook on this stack can do, with our functions' connection setup); and the",
    `inline **baseline** (creates the Guestly reservation before answering; concurrency ${top} only).`,
    "Every event of ours and the baseline pays its own pending booking (matching amount and",
    `currency). ${w.rounds} rounds; each round visits healthy, down and slow in a rotated order,`,
    "inside each condition both concurrencies, and inside each of those the webhooks alternate in",
    "chunks in a rotated order — so the machine's drifting load (other runs share it) lands on every",
    "cell alike, and the ratio to the floor is fair even when the absolute times are not. After each",
    `block the background syncs finish before the next one starts. Sandbox limits ${w.sandboxLimits},`,
    `function limiter \`GUESTLY_RATE_LIMITS=${w.clientLimits}\` (100× Guesty's, so neither limits a`,
    `flood; the headroom is the production one). "server" is the handler's own logged time (integer ms).`,
    "",
    row([
      "webhook",
      "concurrency",
      "Guestly",
      "n",
      "p50 ms",
      "p90 ms",
      "p99 ms",
      "max ms",
      "server p50/p99 ms",
      "p99 per round ms",
      "answers",
    ]),
    row(Array(11).fill("---")),
  ];
  for (const c of w.cells) {
    lines.push(row([
      WEBHOOK_LABEL[c.webhook],
      c.concurrency,
      CONDITION_LABEL[c.condition],
      c.n,
      fmt(c.p50),
      fmt(c.p90),
      fmt(c.p99),
      fmt(c.max),
      `${fmt(c.serverP50, 0)} / ${fmt(c.serverP99, 0)}`,
      c.roundP99.map((v) => fmt(v, 0)).join(", "),
      statuses(c),
    ]));
  }
  lines.push(
    "",
    "stripe-webhook ÷ floor, same rounds (the targets: p99 at the highest concurrency, p50 one at a",
    `time, each ≤ ${FLOOR_RATIO_TARGET}):`,
    "",
    row([
      "concurrency",
      "Guestly",
      "p50 ÷ floor p50",
      "p99 ÷ floor p99",
      "server p50 ours / floor ms",
    ]),
    row(Array(5).fill("---")),
  );
  for (const concurrency of w.concurrencies) {
    for (const condition of CONDITIONS) {
      const ours = cell("ours", condition, concurrency);
      const floor = cell("floor", condition, concurrency);
      lines.push(row([
        concurrency,
        CONDITION_LABEL[condition],
        fmt(ours.p50 / floor.p50, 2),
        fmt(ours.p99 / floor.p99, 2),
        `${fmt(ours.serverP50, 0)} / ${fmt(floor.serverP50, 0)}`,
      ]));
    }
  }
  // The targets: p99 at the top concurrency, p50 one at a time, in every Guestly condition.
  for (const [stat, concurrency] of [["p99", top], ["p50", low]] as const) {
    for (const condition of CONDITIONS) {
      const ours = cell("ours", condition, concurrency)[stat];
      const floor = cell("floor", condition, concurrency)[stat];
      summary.push([
        `1. stripe-webhook ${stat} ÷ floor ${stat}, concurrency ${concurrency}, Guestly ${condition}`,
        `${fmt(ours / floor, 2)} (${fmt(ours)} / ${fmt(floor)} ms)`,
        `≤ ${FLOOR_RATIO_TARGET}`,
        verdict(ours / floor, FLOOR_RATIO_TARGET, "le", "").text,
      ]);
    }
  }
  const healthy = cell("ours", "healthy");
  const down = cell("ours", "down");
  const slow = cell("ours", "slow");
  summary.push([
    `1. p99 down ÷ p99 healthy (stripe-webhook, concurrency ${top})`,
    fmt(down.p99 / healthy.p99, 2),
    "≤ 1.1",
    verdict(down.p99 / healthy.p99, 1.1, "le", "").text,
  ]);
  summary.push([
    `1. p99 slow ÷ p99 healthy (stripe-webhook, concurrency ${top})`,
    fmt(slow.p99 / healthy.p99, 2),
    "(no target; same idea)",
    "—",
  ]);
  if (w.diagnostics.length) {
    lines.push(
      "",
      "Where our answer time goes (diagnostics, Guestly healthy, no target):",
      "",
      row(["run", "n", "p50 ms", "p99 ms", "server p50/p99 ms"]),
      row(Array(5).fill("---")),
      ...w.diagnostics.map((d) =>
        row([
          d.what,
          d.n,
          fmt(d.p50),
          fmt(d.p99),
          `${fmt(d.serverP50, 0)} / ${fmt(d.serverP99, 0)}`,
        ])
      ),
    );
  }
  lines.push(
    "",
    `Absolute times are the machine's, not the webhook's: ${top} requests in flight on 2 cores that`,
    "also run Postgres, the gateways, every function process, the pg_net worker, the sandbox, this",
    "load generator and other people's runs queue for CPU. The floor pays the same queueing, so the",
    "ratio is what our webhook adds. Where it goes, measured beside the bench on this machine",
    "(issue 23: targeted, interleaved, repeated; medians):",
    "",
    "- **The sync each payment wakes.** CPU per payment by process in a closed loop at concurrency",
    "  1 (400 events, their syncs included): guestly-sync 13.6 ms, the stack's gateway 7.3 (it",
    "  proxies the webhook, the sync's invocation and Guestly's webhook echo of our create),",
    "  guestly-webhook 5.3 (that echo), the sandbox 4.2, the pg_net worker 3.1, stripe-webhook 2.7,",
    "  Postgres 1.7: about 38 ms of CPU per payment, some 5 ms of it the webhook's. An event came",
    "  every 19 ms, so the pipeline alone kept both cores busy; the floor causes none of it. On",
    "  Supabase only the Postgres and pg_net shares run on the database's machine; here all of it",
    "  shares 2 cores with the webhook. It is the product's real work (the reservation follows",
    "  within milliseconds, measurement 2), so the rows above keep it; the diagnostics with the",
    "  pg_net worker paused show the webhook without it, and those beside the floor show what",
    "  waiting behind the syncs in the stack's one gateway process costs.",
    "- **The webhook's own work.** Without syncs, straight to each function's process, ours uses",
    "  1.8 ms of CPU per event against the floor's 1.2 at concurrency 1 (1.1 against 0.6 at 8):",
    "  about 0.1 ms is TypeScript (zod, a fuller log line), 0.1–0.2 ms the 13-parameter call in",
    "  postgres.js. In Postgres, payments.record_stripe_event's body takes 0.47 ms per event",
    "  (sequential, one session) against 0.007 ms for the floor's INSERT: confirming the booking",
    "  0.25 ms (an UPDATE that cannot be HOT — the row has 7 indexes — plus the sync trigger's",
    "  episode bookkeeping, its function_invocations row and the pg_net enqueue), the ledger row's",
    "  second write 0.14 ms (0.055 of it the guestly.payments trigger), the first 0.05 ms.",
    "- **At concurrency 8 the machine is CPU-bound**, so the ratio tends to the ratio of CPU per",
    "  event, and ours does about twice the floor's work even without the sync: ≤ 1.3 is out of",
    "  reach while the webhook confirms the booking inside Stripe's request. Only answering after",
    "  storing the event (an inbox: the floor's INSERT, the booking confirmed after the answer)",
    "  would reach it — a design change with its own costs, not made.",
    "",
    "What the changes for issue 23 bought (record_stripe_event per call, 300 sequential calls,",
    "5 interleaved runs, median): the local pg_net stand-in collects query-string parameters",
    "inside http_post as pg_net's own SQL does (it called a separate SQL function, planned on",
    "every call; pg_net's encoders are C, so the platform spends no more) 0.583 → 0.505 ms;",
    "invoke_function reads both Vault secrets in one query 0.505 → 0.470 ms (on Supabase the",
    "view decrypts, so it saves more there). Not done: writing the ledger row once instead of",
    "insert + update (at most 0.09 ms: its triggers would move from UPDATE to INSERT while",
    "record_stripe_event changes for issue 24).",
  );
  const bSlow = cell("baseline", "slow");
  const bDown = cell("baseline", "down");
  lines.push(
    "",
    `Baseline, for contrast: with Guestly slow its p99 is ${fmt(bSlow.p99)} ms ` +
      `(${fmt(bSlow.p99 / cell("baseline", "healthy").p99, 0)}× its healthy p99), and with ` +
      `Guestly down it answers ${bDown.statuses["500"] ?? 0} of ${bDown.n} payments with 500 ` +
      `(the booking is confirmed, the reservation is not: only Stripe's redelivery would retry). ` +
      `Its slow cell has fewer events (each holds a worker 2 s).`,
  );
  return lines;
}

export function renderReport(r: BenchResults): string {
  const summary: string[][] = [];
  const sections: string[] = [];
  if (r.webhook) sections.push(...webhookSection(r.webhook, summary), "");

  if (r.latency) {
    const l = r.latency;
    summary.push([
      "2. payment → reservation p50",
      `${fmt(l.p50)} ms`,
      "≤ 250 ms",
      verdict(l.p50, 250, "le", " ms").text,
    ]);
    summary.push([
      "2. payment → reservation p99",
      `${fmt(l.p99)} ms`,
      "≤ 1,000 ms",
      verdict(l.p99, 1000, "le", " ms").text,
    ]);
    sections.push(
      "## 2. Payment → reservation",
      "",
      `${l.sent} payments at ${l.rate}/s for ${l.seconds} s (open loop; ${l.lateStart} sends started`,
      `more than 20 ms late), each through stripe-webhook → trigger → pg_net → guestly-sync → sandbox.`,
      `Measured from the moment this process had read the webhook's 200 to the reservation's`,
      "`createdAt` in the sandbox (stamped when it stores the reservation, before answering: the",
      `sandbox's own answer time — median ${
        fmt(l.sandboxCreateMedianMs)
      } ms per create in its log —`,
      "is not in the figure; no latency fault was injected). Same limits as measurement 1.",
      "",
      row(["answered 200", "with reservation", "p50 ms", "p90 ms", "p99 ms", "max ms"]),
      row(Array(6).fill("---")),
      row([l.answered200, l.measured, fmt(l.p50), fmt(l.p90), fmt(l.p99), fmt(l.max)]),
      "",
      "At Guesty's real limits (120/min) a sustained 5 bookings/s (300/min) cannot all be created",
      "at once; the limiter would queue them. This figure is the pipeline's own latency.",
      "",
    );
  }

  if (r.drain) {
    const d = r.drain;
    const target = 0.9 * d.bindingLimitPerMinute;
    const ideal = d.bookings / (d.idealDrainSeconds / 60);
    summary.push([
      "3. backlog drain, reservations/min",
      `${fmt(d.perMinute, 0)}/min (${
        fmt((d.perMinute / d.bindingLimitPerMinute) * 100, 0)
      } % of ${d.bindingLimitPerMinute})`,
      `≥ 90 % of ${d.bindingLimitPerMinute}/min = ${fmt(target, 0)}/min`,
      verdict(d.perMinute, target, "ge", "/min").text,
    ]);
    summary.push([
      "3. failures caused by 429",
      `${d.failedBy429} (429 answers: ${d.answers429})`,
      "0",
      d.failedBy429 === 0 ? "met" : `**missed by ${d.failedBy429}**`,
    ]);
    summary.push([
      "3. tokens minted during the drain",
      String(d.tokensMinted),
      "≤ 1",
      d.tokensMinted <= 1 ? "met" : `**missed by ${d.tokensMinted - 1}**`,
    ]);
    summary.push([
      "6. peak RSS of guestly-sync (VmHWM)",
      `${fmt(d.peakRssMb)} MB`,
      "≤ 256 MB",
      verdict(d.peakRssMb, 256, "le", " MB").text,
    ]);
    summary.push([
      "6. CPU per sync",
      `${fmt(d.cpuMsPerSync, 2)} ms`,
      "≤ 2,000 ms",
      verdict(d.cpuMsPerSync, 2000, "le", " ms").text,
    ]);
    sections.push(
      "## 3. Backlog drain",
      "",
      `${
        d.bookings.toLocaleString("en-US")
      } pending bookings confirmed by ONE UPDATE on a fresh stack.`,
      `The sandbox enforces Guesty's limits × 4 (${d.sandboxLimits.perSecond}/s,`,
      `${d.sandboxLimits.perMinute}/min, ${d.sandboxLimits.perHour.toLocaleString("en-US")}/h: the`,
      `binding one for this backlog is ${d.bindingLimitPerMinute}/min); the function's limiter runs`,
      `at \`GUESTLY_RATE_LIMITS=${d.clientLimits}\`, the same headroom as production's 14,115,4900`,
      "against 15,120,5000. Nothing is sped up: rows the limiter cannot place within 100 s are",
      "deferred and come back with the cron sweep (once a minute, pg_cron 1.4).",
      "",
      row(["figure", "value"]),
      row(["---", "---"]),
      row([
        "synced / failed / still pending",
        `${d.synced} / ${d.failed} / ${d.stillPending}${d.timedOut ? " (timed out)" : ""}`,
      ]),
      row(["UPDATE → last reservation created", `${fmt(d.drainSeconds)} s`]),
      row(["throughput (reservations ÷ that time)", `${fmt(d.perMinute, 0)}/min`]),
      row(["created per minute after the UPDATE", d.perMinuteBuckets.join(", ")]),
      row(["most creates in any sliding 60 s", String(d.maxInAnyMinute)]),
      row([
        "fastest possible under the sandbox's windows",
        `${fmt(d.idealDrainSeconds)} s (${fmt(ideal, 0)}/min); this run took ${
          fmt((d.drainSeconds / d.idealDrainSeconds) * 100, 0)
        } % of it`,
      ]),
      row(["rows deferred by the limiter (then swept)", String(d.deferrals)]),
      row([
        "429 answers from the sandbox / attempts logged with 429",
        `${d.answers429} / ${d.attempts429}`,
      ]),
      row(["bookings failed after a 429", String(d.failedBy429)]),
      row([
        "created in the first minute + 429 answers",
        `${d.perMinuteBuckets[0] ?? 0} + ${d.answers429} (the limiter's minute allows ${
          d.clientLimits.split(",")[1]
        })`,
      ]),
      row(["tokens minted", String(d.tokensMinted)]),
      "",
      "## 6. Resources of the guestly-sync process during the drain",
      "",
      `One local Deno process serves every invocation (pid ${d.pid}${
        d.pidChanged ? ", **restarted during the drain**" : ", not restarted"
      });`,
      "the platform runs isolates with 256 MB and 2 s of CPU per request, so a single process",
      "holding all 1,000 concurrent invocations is the pessimistic case for memory.",
      "",
      row(["figure", "value", "platform limit"]),
      row(["---", "---", "---"]),
      row(["RSS before the drain", `${fmt(d.rssBeforeMb)} MB`, ""]),
      row(["peak RSS (VmHWM, process lifetime)", `${fmt(d.peakRssMb)} MB`, "256 MB"]),
      row(["peak RSS sampled every 250 ms", `${fmt(d.sampledPeakRssMb)} MB`, "256 MB"]),
      row(["CPU (utime+stime) during the drain", `${fmt(d.cpuSeconds, 2)} s`, ""]),
      row(["CPU per synced booking", `${fmt(d.cpuMsPerSync, 2)} ms`, "2,000 ms per request"]),
      "",
    );
  }

  if (r.trigger) {
    const t = r.trigger;
    const main = t.cases[0];
    summary.push([
      "4. trigger cost, UPDATE touching no column the sync follows (enabled ÷ disabled)",
      fmt(main.ratio, 3),
      "≤ 1.05",
      verdict(main.ratio, 1.05, "le", "").text,
    ]);
    summary.push([
      "4. trigger cost, UPDATE setting followed columns to the same values",
      fmt(t.cases[1].ratio, 3),
      "≤ 1.05",
      verdict(t.cases[1].ratio, 1.05, "le", "").text,
    ]);
    summary.push([
      "4. per-row cost of a status change that enqueues pg_net",
      `${fmt(t.cases.at(-1)!.perRowUs)} µs`,
      "(no target)",
      "—",
    ]);
    sections.push(
      "## 4. Trigger cost",
      "",
      `Table of ${
        t.tableRows.toLocaleString("en-US")
      } bookings. Every repetition: VACUUM, then one`,
      "transaction as `supabase_admin` — `ALTER TABLE … ENABLE|DISABLE TRIGGER` for",
      "`tg_bookings__enqueue_guestly_sync` and `tg_bookings__enqueue_guestly_change` (both",
      "variants pay those locks, untimed), the timed UPDATE,",
      "ROLLBACK (nothing is ever sent). Enabled and disabled alternate (ABBA) after one warm-up.",
      "The other row triggers (updated_at, pending-since) run in both variants.",
      "",
      row([
        "statement",
        "median enabled ms",
        "median disabled ms",
        "ratio",
        "extra per row",
        "all enabled / disabled ms",
      ]),
      row(Array(6).fill("---")),
      ...t.cases.map((c) =>
        row([
          c.name,
          fmt(c.medianEnabledMs),
          fmt(c.medianDisabledMs),
          fmt(c.ratio, 3),
          `${fmt(c.perRowUs, 2)} µs`,
          `${c.enabledMs.map((v) => fmt(v, 0)).join(", ")} / ${
            c.disabledMs.map((v) => fmt(v, 0)).join(", ")
          }`,
        ])
      ),
      "",
      "`UPDATE OF <columns>` triggers are not even queued when none of their columns is in the SET",
      "list; when one is but unchanged, the WHEN clause (`old.status is distinct from new.status`,",
      "or the row comparison of the followed columns) is evaluated and the function is not called.",
      "",
    );
  }

  if (r.returnPath) {
    const p = r.returnPath;
    summary.push([
      "7. Guestly change → booking updated, p99 (webhook, API read, apply)",
      `${fmt(p.p99, 0)} ms`,
      "≤ 1,000 ms",
      verdict(p.p99, 1000, "le", " ms").text,
    ]);
    sections.push(
      "## 7. Guestly change → booking updated (the return path)",
      "",
      `${p.changes} bookings already in Guestly; a host moves each stay to other dates in the sandbox`,
      `(its admin API, as the inspector's button) at ${p.rate}/s. The sandbox sends its signed`,
      "`reservation.updated.v2` webhook to guestly-webhook, which verifies and records it, reads the",
      "reservation through the API (shared token, rate limiter) and applies it to the booking.",
      "Measured from the sandbox's answer to the host change to the new dates being readable in",
      "Postgres (polled every 10 ms).",
      "",
      row(["changes", "measured", "p50 ms", "p99 ms", "max ms"]),
      row(Array(5).fill("---")),
      row([p.changes, p.measured, fmt(p.p50, 0), fmt(p.p99, 0), fmt(p.max, 0)]),
      "",
    );
  }

  if (r.holds) {
    const h = r.holds;
    summary.push([
      "8. booking insert → hold placed, p99 (Guestly healthy)",
      `${fmt(h.placed.p99, 0)} ms`,
      "≤ 1,000 ms",
      verdict(h.placed.p99, 1000, "le", " ms").text,
    ]);
    sections.push(
      "## 8. Holds (GUESTLY_HOLD_MINUTES)",
      "",
      `The functions restarted with \`GUESTLY_HOLD_MINUTES=10\` for this measurement only. ${h.count}`,
      `bookings inserted as \`pending_payment\`, one every ${
        fmt(1000 / h.rate, 0)
      } ms; each is timed`,
      "from its INSERT's return to `guestly_hold_status = 'held'` being readable in Postgres (the",
      "insert trigger, pg_net, guestly-sync at the hold priority, Guestly's create, record_success;",
      "polled every 10 ms). Then each held booking's payment, and the payment of as many bookings",
      "without a hold, at the same rate: from the webhook's 200 to the booking synced `confirmed`",
      "(held: one status PUT on the held reservation; without: the create) and its payment",
      "recorded on the reservation. Both include the 2 s pause Guesty asks for between a",
      "reservation's create or change and its payment (`GUESTLY_PAYMENT_DELAY_MS`), so the",
      "difference between the two rows is what the hold saves or costs.",
      "",
      row(["", "measured", "p50 ms", "p99 ms"]),
      row(Array(4).fill("---")),
      row([
        "insert → hold placed",
        `${h.placed.measured} of ${h.count}`,
        fmt(h.placed.p50, 0),
        fmt(h.placed.p99, 0),
      ]),
      row([
        "payment → confirmed, held booking",
        h.confirmHeld.measured,
        fmt(h.confirmHeld.p50, 0),
        fmt(h.confirmHeld.p99, 0),
      ]),
      row([
        "payment → confirmed, no hold",
        h.confirmUnheld.measured,
        fmt(h.confirmUnheld.p50, 0),
        fmt(h.confirmUnheld.p99, 0),
      ]),
      "",
    );
  }

  if (r.sweep) {
    const s = r.sweep;
    summary.push([
      "5. sweep selection at 1M bookings (median)",
      `${fmt(s.medianMs, 2)} ms`,
      "≤ 5 ms",
      verdict(s.medianMs, 5, "le", " ms").text,
    ]);
    summary.push([
      "5. plan uses bookings_guestly_sync_due_idx",
      s.usesDueIndex ? "yes (custom and generic plan)" : "no",
      "index scan",
      s.usesDueIndex ? "met" : "**missed**",
    ]);
    sections.push(
      "## 5. Sweep query at 1,000,000 bookings",
      "",
      `${s.inserted.toLocaleString("en-US")} bookings bulk-inserted (generate_series, ${
        fmt(s.insertSeconds)
      } s) after all other`,
      `measurements: table ${s.tableRows.toLocaleString("en-US")} rows, ${
        s.withNextAttempt.toLocaleString("en-US")
      } with a next attempt time, ${s.due.toLocaleString("en-US")} due`,
      "(75 % synced or cancelled, 24 % never paid, 5,000 given up — none of those has a next",
      "attempt time — plus failed rows waiting for their retry and pending rows past the grace",
      "period). ANALYZEd. The SELECT of `guestly.sweep_due_syncs`, copied verbatim with",
      "`for update skip locked` and its variables as parameters ($1 now, $2 12, $3 200), timed by",
      `the client in ${s.reps} rolled-back transactions after 3 warm-ups; the cron jobs are paused.`,
      "",
      row([
        "rows selected",
        "median ms",
        "p95 ms",
        "max ms",
        "whole sweep_due_syncs() (200 pg_net enqueues), median ms",
      ]),
      row(Array(5).fill("---")),
      row([
        s.selected,
        fmt(s.medianMs, 2),
        fmt(s.p95Ms, 2),
        fmt(s.maxMs, 2),
        fmt(s.fullSweepMedianMs, 1),
      ]),
      "",
      "EXPLAIN (ANALYZE, BUFFERS), custom plan:",
      "",
      "```",
      s.explainCustom,
      "```",
      "",
      "Generic plan (what PL/pgSQL may cache after five calls):",
      "",
      "```",
      s.explainGeneric,
      "```",
      "",
    );
  }

  const settings = Object.entries(r.settings).map(([k, v]) => `\`${k}=${v}\``).join(", ");
  const met = summary.filter((s) => /^met/.test(s[3])).length;
  const missed = summary.filter((s) => /missed/.test(s[3]));
  return [
    "# Performance",
    "",
    `Written by \`${r.command}\` (bench/run.ts) on ${r.date}; the run took ${
      fmt(r.durationSeconds / 60)
    } min.`,
    "Every figure below comes from that one run. Re-run it to refresh this page.",
    "",
    "## Machine",
    "",
    row(["", ""]),
    row(["---", "---"]),
    ...Object.entries(r.machine).map(([k, v]) => row([k, v])),
    row(["load average before / after", `${r.loadBefore} / ${r.loadAfter}`]),
    "",
    "Shared with other people's runs (test and chaos stacks): figures are noisy, which is why every",
    "comparison is measured side by side, interleaved, in the same run.",
    "",
    `The bench's own stack: \`.local/bench-stack\` (deleted first), ports 27321 (API), 27322 (DB),`,
    `27324 (mail), 27330 (sandbox), 27323 (bench gateway: floor and baseline webhooks); ${settings}.`,
    "",
    "## Summary",
    "",
    `${met} met, ${missed.length} missed${
      missed.length ? ": " + missed.map((m) => m[0]).join("; ") : ""
    }.`,
    "",
    row(["measurement", "figure", "target", "verdict"]),
    row(Array(4).fill("---")),
    ...summary.map(row),
    ...(r.errors.length
      ? ["", "Errors during the run:", "", ...r.errors.map((e) => `- ${e}`)]
      : []),
    "",
    ...sections,
  ].join("\n");
}
