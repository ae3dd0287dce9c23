// The database edge of the reconciliation: the guestly_reconcile schema's SQL functions, one
// call each (never ad-hoc writes). Errors are thrown: the run records them.
import { z } from "zod";
import type { Sql } from "../db.ts";
import { BookingSnapshot } from "./classify.ts";
import type { RunStore } from "./run.ts";

const Bookings = z.array(BookingSnapshot);

const json = (value: unknown) => JSON.stringify(value ?? {});

export function postgresRunStore(sql: Sql): RunStore {
  return {
    async begin(triggeredBy, fix, timeBudgetSeconds) {
      const [row] = await sql`
        select guestly_reconcile.begin_run(${triggeredBy}, ${fix},
          ${timeBudgetSeconds ?? null}::int) as r`;
      const r = row.r as { started: boolean; run_id: string; reason?: string };
      return { started: r.started, runId: r.run_id, reason: r.reason };
    },
    async bookings() {
      const [row] = await sql`select guestly_reconcile.bookings_to_check() as r`;
      return Bookings.parse(row.r);
    },
    async record(runId, item, action, detail) {
      await sql`
        select guestly_reconcile.record_item(${runId}::uuid, ${item.kind}, ${item.bookingId}::uuid,
          ${item.reservationId}, ${json(item.details)}::text::jsonb, ${action},
          ${detail ?? null})`;
    },
    async healMissing(runId, item) {
      const [row] = await sql`
        select guestly_reconcile.heal_missing(${runId}::uuid, ${item.bookingId}::uuid,
          ${item.reservationId}, ${json(item.details)}::text::jsonb) as r`;
      return row.r as { healed: boolean; reason?: string };
    },
    async healResend(runId, item, status) {
      const [row] = await sql`
        select guestly_reconcile.heal_resend(${runId}::uuid, ${item.kind}, ${item.bookingId}::uuid,
          ${item.reservationId}, ${status}, ${json(item.details)}::text::jsonb) as r`;
      return row.r as { healed: boolean };
    },
    async applyMissed(runId, item, stay) {
      const [row] = await sql`
        select guestly_reconcile.apply_missed_change(${runId}::uuid, ${item.reservationId},
          ${item.bookingId}::uuid, ${item.guestlyUpdatedAt ?? null}::timestamptz,
          ${json(stay)}::text::jsonb, ${json(item.details)}::text::jsonb) as r`;
      return row.r as { outcome?: string };
    },
    async finish(runId, counts, error) {
      const [row] = await sql`
        select guestly_reconcile.finish_run(${runId}::uuid, ${counts.reservationsSeen},
          ${counts.bookingsChecked}, ${counts.requestsUsed}, ${error}) as r`;
      const r = row.r as { run_id: string; status: string; drift: number; alert_id: string | null };
      return { runId: r.run_id, status: r.status, drift: r.drift, alertId: r.alert_id };
    },
  };
}
