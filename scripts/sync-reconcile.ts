// `npm run sync:reconcile [-- --fix] [--json] [--booking <id>]… [--settle-minutes N]
// [--via-function]`: compares the bookings that should be in Guestly with the reservations
// there, records the run (guestly_reconcile) and prints its result. Without --fix it only
// reports; with --fix it heals the safe drift as the daily job does (a sync episode that looks
// up before it creates, a status or content re-sent, a change Guestly made applied as its webhook
// would have been). By default the same core as guestly-reconcile runs here; --via-function asks
// the deployed function instead (SUPABASE_URL and SUPABASE_SECRET_KEY; the local stack's when
// unset) and waits for its answer.
//
// Guestly settings and the database come from the same variables as `guestly:webhook`
// (GUESTLY_BASE_URL, …, SUPABASE_DB_URL); without GUESTLY_BASE_URL, the local stack's.
import postgres from "postgres";
import { jsonLogger } from "../supabase/functions/_shared/log.ts";
import { ReconcileEnv } from "../supabase/functions/_shared/reconcile/config.ts";
import { summarize } from "../supabase/functions/_shared/reconcile/handler.ts";
import { runReconciliation } from "../supabase/functions/_shared/reconcile/run.ts";
import { reconcileDeps } from "../supabase/functions/_shared/reconcile/wiring.ts";
import { parseEnv } from "../supabase/functions/_shared/env.ts";
import { resolveSettings } from "./guestly-webhook.ts";
import { formatReconcileRun, readReconcileRun } from "./sync-status-reconcile.ts";

const USAGE = "usage: npm run sync:reconcile [-- --fix] [--json] [--booking <id>]… " +
  "[--settle-minutes N] [--via-function]";

export interface Args {
  fix: boolean;
  json: boolean;
  viaFunction: boolean;
  bookingIds?: string[];
  settleMinutes?: number;
}

export function parseArgs(args: string[]): Args {
  const out: Args = { fix: false, json: false, viaFunction: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--fix") out.fix = true;
    else if (a === "--json") out.json = true;
    else if (a === "--via-function") out.viaFunction = true;
    else if (a === "--booking") {
      const id = args[++i];
      if (!id || !/^[0-9a-f-]{36}$/i.test(id)) throw new Error("--booking needs a booking id");
      // Postgres writes uuids in lower case; the comparison with them is by text.
      out.bookingIds = [...(out.bookingIds ?? []), id.toLowerCase()];
    } else if (a === "--settle-minutes") {
      const n = Number(args[++i]);
      if (!Number.isInteger(n) || n < 0) throw new Error("--settle-minutes needs a number ≥ 0");
      out.settleMinutes = n;
    } else throw new Error(`unknown argument ${a}`);
  }
  return out;
}

async function viaFunction(args: Args, env: Record<string, string | undefined>) {
  let url = env.SUPABASE_URL ? `${env.SUPABASE_URL.replace(/\/$/, "")}/functions/v1` : null;
  let key = env.SUPABASE_SECRET_KEY ?? null;
  if (!url || !key) {
    const { loadStackConfig } = await import("../local/stack/config.ts");
    const { stackApiKeys } = await import("../local/keys.ts");
    const stack = loadStackConfig();
    url ??= stack.functionsUrl;
    key ??= (await stackApiKeys(stack.stateDir)).secretKey;
  }
  const response = await fetch(`${url}/guestly-reconcile`, {
    method: "POST",
    headers: { "Content-Type": "application/json", apikey: key, Authorization: `Bearer ${key}` },
    body: JSON.stringify({
      fix: args.fix,
      triggeredBy: "cli",
      wait: true,
      ...(args.bookingIds ? { bookingIds: args.bookingIds } : {}),
      ...(args.settleMinutes !== undefined ? { settleMinutes: args.settleMinutes } : {}),
    }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`guestly-reconcile answered ${response.status}: ${text}`);
  return JSON.parse(text) as { run_id: string };
}

export async function main(argv: string[], env: Record<string, string | undefined>) {
  const args = parseArgs(argv);
  const settings = await resolveSettings(env);
  const sql = postgres(settings.env.SUPABASE_DB_URL, {
    max: 2,
    onnotice: () => {},
    prepare: false,
  });
  try {
    let summary: Record<string, unknown>;
    if (args.viaFunction) {
      summary = await viaFunction(args, env);
    } else {
      const own = parseEnv(ReconcileEnv, env);
      const settleMinutes = args.settleMinutes ?? own.GUESTLY_RECONCILE_SETTLE_MINUTES;
      // Structured logs go to stderr: stdout is the result.
      const log = jsonLogger((line) => console.error(line), { fn: "sync:reconcile" });
      const deps = reconcileDeps(
        { guestly: settings.env, settleMs: settleMinutes * 60_000 },
        sql,
        log,
      );
      const result = await runReconciliation(deps, {
        fix: args.fix,
        triggeredBy: "cli",
        settleMs: settleMinutes * 60_000,
        bookingIds: args.bookingIds,
      });
      summary = summarize(result);
      if (!result.started) {
        throw new Error(`another run is in progress (${result.runId}): try again when it ends`);
      }
    }
    const run = await readReconcileRun(sql, summary.run_id as string);
    if (args.json) console.log(JSON.stringify({ ...summary, result: run }, null, 2));
    else {
      console.log(`Guestly: ${settings.description}\n`);
      console.log(formatReconcileRun(run));
      if (!args.fix && run && Object.keys(run.counts).length) {
        console.log("\n(report only: run again with --fix to heal what is safe to heal)");
      }
    }
    return summary;
  } finally {
    await sql.end();
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args, Deno.env.toObject());
  } catch (error) {
    console.error(`error: ${(error as Error).message}\n${USAGE}`);
    Deno.exit(1);
  }
}
