// GUESTLY_STALL_ALERT_MINUTES: after how long a paid booking that owes Guestly a sync, with no
// attempt getting anywhere, is alerted as `sync_stalled`. guestly-sync reports it to the database
// (function-state.ts), where the stall detector reads it; 15 until the function has reported.
import { z } from "zod";
import { parseEnv } from "../env.ts";

export const StallEnv = z.object({
  GUESTLY_STALL_ALERT_MINUTES: z.string().optional().transform((v, ctx) => {
    if (v === undefined || v === "") return 15;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0 || n > 100_000) {
      ctx.addIssue({ code: "custom", message: "must be a positive whole number of minutes" });
      return z.NEVER;
    }
    return n;
  }),
});

export function parseStallEnv(env: Record<string, string | undefined>): number {
  return parseEnv(StallEnv, env).GUESTLY_STALL_ALERT_MINUTES;
}
