// guestly-reconcile: the daily comparison of bookings with Guestly's reservations, asked for by
// pg_cron (guestly_reconcile.request_run, through pg_net) or an operator. Reads its configuration
// and wires the core (_shared/reconcile/) to Postgres and Guestly.
import { database } from "../_shared/db.ts";
import { handlerOrConfigurationError } from "../_shared/http.ts";
import { jsonLogger } from "../_shared/log.ts";
import { serviceKeysFrom } from "../_shared/service-keys.ts";
import { parseReconcileEnv } from "../_shared/reconcile/config.ts";
import { createReconcileHandler } from "../_shared/reconcile/handler.ts";
import { runReconciliation } from "../_shared/reconcile/run.ts";
import { reconcileDeps } from "../_shared/reconcile/wiring.ts";

const log = jsonLogger(undefined, { fn: "guestly-reconcile" });

/** The platform's runtime object (absent locally). */
const edgeRuntime = (globalThis as {
  EdgeRuntime?: { waitUntil(promise: Promise<unknown>): void };
}).EdgeRuntime;

Deno.serve(handlerOrConfigurationError(() => {
  const env = Deno.env.toObject();
  const config = parseReconcileEnv(env);
  const serviceKeys = serviceKeysFrom(env);
  for (const problem of serviceKeys.problems) {
    log.error("guestly.reconcile.misconfigured", { problem });
  }
  const sql = database(config.guestly.SUPABASE_DB_URL);
  const deps = reconcileDeps(config, sql, log);
  // On the platform the run after the answer is kept alive by waitUntil; locally (one long-lived
  // process per function) a promise that is not awaited runs on. A run that dies is marked
  // abandoned by the next one (guestly_reconcile.begin_run).
  const afterResponse = edgeRuntime
    ? (work: Promise<unknown>) => edgeRuntime.waitUntil(work)
    : (work: Promise<unknown>) => void work;
  return createReconcileHandler({
    serviceKeys,
    enabled: config.guestly.GUESTLY_SYNC_ENABLED && !config.guestly.GUESTLY_TEST_MODE,
    run: (options) => runReconciliation(deps, options),
    defaultSettleMs: config.settleMs,
    timeBudgetMs: config.timeBudgetMs,
    log,
    afterResponse,
  });
}, (error) => log.error("guestly.reconcile.misconfigured", { error })));
