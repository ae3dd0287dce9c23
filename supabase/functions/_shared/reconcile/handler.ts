// HTTP edge of guestly-reconcile: the daily cron (pg_net, with the project's secret key) and
// operators. The run takes minutes (it waits for background slots of the rate limiter), longer
// than pg_net waits for an answer, so it is accepted with 202 and runs after the answer; with
// `wait: true` (the CLI) the answer is the run's result.
import { z } from "zod";
import { json, readJsonBody } from "../http.ts";
import type { Logger } from "../log.ts";
import { refuseUnlessServicePost, type ServiceKeys } from "../service-keys.ts";
import type { RunOptions, RunResult } from "./run.ts";

export const ReconcileRequest = z.object({
  fix: z.boolean().default(false),
  triggeredBy: z.enum(["cron", "cli", "function"]).default("function"),
  wait: z.boolean().default(false),
  settleMinutes: z.number().int().min(0).optional(),
  bookingIds: z.array(z.string().uuid()).min(1).max(1000).optional(),
}).strict();

export interface ReconcileHandlerDeps {
  serviceKeys: ServiceKeys;
  /**
   * False when the sync is off (GUESTLY_SYNC_ENABLED not true) or in test mode: what Guestly
   * holds then says nothing about drift, and a heal would start syncs that do not run.
   */
  enabled: boolean;
  run: (options: RunOptions) => Promise<RunResult>;
  defaultSettleMs: number;
  /** The run's time budget inside the function (below the platform's wall clock). */
  timeBudgetMs?: number;
  log: Logger;
  afterResponse: (work: Promise<unknown>) => void;
}

/** What a caller sees of a run (the items are in the database; sync:status shows them). */
export function summarize(result: RunResult) {
  if (!result.started) return { started: false, reason: result.reason, run_id: result.runId };
  const byKind: Record<string, number> = {};
  for (const item of result.items) byKind[item.kind] = (byKind[item.kind] ?? 0) + 1;
  return {
    started: true,
    run_id: result.runId,
    status: result.finish.status,
    drift: result.finish.drift,
    by_kind: byKind,
    alert_id: result.finish.alertId,
    reservations_seen: result.counts.reservationsSeen,
    bookings_checked: result.counts.bookingsChecked,
    requests_used: result.counts.requestsUsed,
  };
}

export function createReconcileHandler(deps: ReconcileHandlerDeps) {
  return async (request: Request): Promise<Response> => {
    const refused = await refuseUnlessServicePost(
      deps.serviceKeys,
      request,
      (hint) => deps.log.warn("guestly.reconcile.unauthorized", { hint }),
    );
    if (refused) return refused;
    const body = await readJsonBody(request);
    if (!body.ok) return body.response;
    const parsed = ReconcileRequest.safeParse(body.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue.path.join(".") || "body";
      return json(400, { error: `${field}: ${issue.message}`, field });
    }
    const r = parsed.data;
    if (!deps.enabled) {
      deps.log.info("guestly.reconcile.disabled", { fix: r.fix, triggered_by: r.triggeredBy });
      return json(200, {
        outcome: "skipped",
        reason: "GUESTLY_SYNC_ENABLED is not true, or GUESTLY_TEST_MODE is on",
      });
    }
    const options: RunOptions = {
      fix: r.fix,
      triggeredBy: r.triggeredBy,
      settleMs: r.settleMinutes === undefined ? deps.defaultSettleMs : r.settleMinutes * 60_000,
      bookingIds: r.bookingIds,
      timeBudgetMs: deps.timeBudgetMs,
    };
    const work = deps.run(options);
    if (r.wait) {
      try {
        const result = await work;
        return json(result.started ? 200 : 409, summarize(result));
      } catch (error) {
        deps.log.error("guestly.reconcile.crashed", {
          error: error instanceof Error ? error.message : String(error),
        });
        return json(500, { error: "reconciliation failed unexpectedly (see the function's logs)" });
      }
    }
    deps.afterResponse(work.catch((error) =>
      deps.log.error("guestly.reconcile.crashed", {
        error: error instanceof Error ? error.message : String(error),
      })
    ));
    return json(202, { accepted: true, fix: r.fix });
  };
}
