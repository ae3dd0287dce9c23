// guestly-sync tells the database how it runs (the database cannot read a function's env): on
// its first authorized request and then at most once a minute, it records enabled / test mode
// and GUESTLY_STALL_ALERT_MINUTES through guestly.report_function_state. The stall detector
// uses it to say "GUESTLY_SYNC_ENABLED is not true" plainly, and as its alert threshold; the
// insert trigger reads GUESTLY_HOLD_MINUTES from it to decide whether a new booking gets a hold.
import type { Sql } from "../db.ts";
import type { Logger } from "../log.ts";

export { parseStallEnv } from "./stall-config.ts";

export interface FunctionState {
  enabled: boolean;
  testMode: boolean;
  stallAlertMinutes: number;
  /** GUESTLY_HOLD_MINUTES: the insert trigger places holds only when this is above 0. */
  holdMinutes?: number;
}

export interface HeartbeatDeps {
  report: (state: FunctionState) => Promise<void>;
  state: FunctionState;
  log: Logger;
  now?: () => number;
  intervalMs?: number;
}

/** A heartbeat that never throws and reports at most once per interval (default 60 s). */
export function functionStateHeartbeat(deps: HeartbeatDeps): () => Promise<void> {
  const now = deps.now ?? Date.now;
  const interval = deps.intervalMs ?? 60_000;
  let last = -Infinity;
  return async () => {
    if (now() - last < interval) return;
    last = now();
    try {
      await deps.report(deps.state);
    } catch (error) {
      // The sync itself may still work; the stall detector just knows less. Next request retries.
      last = -Infinity;
      deps.log.warn("guestly.function_state.report_failed", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  };
}

export function postgresFunctionStateReporter(sql: Sql, functionName = "guestly-sync") {
  return async (state: FunctionState) => {
    await sql`select guestly.report_function_state(${functionName}, ${state.enabled},
      ${state.testMode}, ${
      sql.json({
        stall_alert_minutes: state.stallAlertMinutes,
        hold_minutes: state.holdMinutes ?? 0,
      })
    })`;
  };
}
