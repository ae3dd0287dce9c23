// guestly-sync tells the database its settings (GUESTLY_HOLD_MINUTES among them) on its first
// request after a start (supabase/functions/_shared/guestly/function-state.ts). Tools that need
// the database to know them — the demo, the chaos run, the bench, tests — make that request
// (an empty body: answered 400, reported all the same) and wait for the report.
import type postgres from "postgres";
import type { StackConfig } from "./config.ts";
import { localKeys } from "../keys.ts";

/**
 * The hold minutes the database uses once guestly-sync (at `functionsUrl`) has reported;
 * `expected`: wait until it is that value. Throws after `timeoutMs` without a report.
 */
export async function reportedHoldMinutes(
  config: Pick<StackConfig, "functionsUrl">,
  sql: postgres.Sql,
  options: { expected?: number; timeoutMs?: number } = {},
): Promise<number> {
  const key = (await localKeys()).serviceRoleKey;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (true) {
    const response = await fetch(`${config.functionsUrl}/guestly-sync`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
      body: "{}",
    }).catch(() => null);
    await response?.body?.cancel();
    const [row] = await sql`
      select guestly.hold_minutes() as minutes,
             exists (select 1 from guestly.function_state
                      where function_name = 'guestly-sync') as reported`;
    const minutes = row.minutes as number;
    if (row.reported && (options.expected === undefined || minutes === options.expected)) {
      return minutes;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `guestly-sync did not report GUESTLY_HOLD_MINUTES${
          options.expected === undefined ? "" : `=${options.expected}`
        } (reported: ${row.reported ? minutes : "nothing"})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}
