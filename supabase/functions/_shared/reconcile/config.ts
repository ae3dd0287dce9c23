// Settings of the reconciliation (guestly-reconcile and `npm run sync:reconcile`): Guestly's
// (the same variables as guestly-sync), and how long a fresh change is left alone.
import { z } from "zod";
import { parseEnv } from "../env.ts";
import { GuestlyEnv } from "../guestly/config.ts";

export const ReconcileEnv = z.object({
  // A change younger than this may still have its webhook or sync on the way: not drift yet.
  // Guesty retries a webhook for hours, but applying a late one after the run changes nothing.
  GUESTLY_RECONCILE_SETTLE_MINUTES: z.string().optional().transform((v, ctx) => {
    if (v === undefined || v === "") return 10;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) {
      ctx.addIssue({ code: "custom", message: "must be a whole number of minutes (0 or more)" });
      return z.NEVER;
    }
    return n;
  }),
  // The run stops and records itself (failed: the admin is emailed) before the platform's wall
  // clock kills the function silently: 150 s on the free plan, 400 s on paid plans.
  GUESTLY_RECONCILE_TIME_BUDGET_SECONDS: z.string().optional().transform((v, ctx) => {
    if (v === undefined || v === "") return 120;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 10 || n > 390) {
      ctx.addIssue({
        code: "custom",
        message: "must be a whole number of seconds from 10 to 390 (below the 400 s wall clock)",
      });
      return z.NEVER;
    }
    return n;
  }),
});

export interface ReconcileConfig {
  guestly: GuestlyEnv;
  settleMs: number;
  /** How long a run in the function may take (the CLI's own runs have no limit). */
  timeBudgetMs?: number;
}

export function parseReconcileEnv(env: Record<string, string | undefined>): ReconcileConfig {
  const guestly = parseEnv(GuestlyEnv, env);
  const own = parseEnv(ReconcileEnv, env);
  return {
    guestly,
    settleMs: own.GUESTLY_RECONCILE_SETTLE_MINUTES * 60_000,
    timeBudgetMs: own.GUESTLY_RECONCILE_TIME_BUDGET_SECONDS * 1000,
  };
}
