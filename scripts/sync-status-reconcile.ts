// The reconciliation's part of `npm run sync:status` (and of `sync:reconcile`'s output): the
// last run's result from guestly_reconcile.run_result(). Formatting is a pure function.
import type postgres from "postgres";

export interface ReconcileItem {
  id: number;
  kind: string;
  booking_id: string | null;
  reservation_id: string | null;
  details: Record<string, unknown>;
  action: string;
  action_detail: string | null;
}

export interface ReconcileRun {
  run: {
    id: string;
    started_at: string;
    finished_at: string | null;
    triggered_by: string;
    fix: boolean;
    status: string;
    reservations_seen: number | null;
    bookings_checked: number | null;
    requests_used: number | null;
    error: string | null;
    alert_id: string | null;
  };
  counts: Record<string, number>;
  actions: Record<string, number>;
  items: ReconcileItem[];
}

export const ITEMS_SHOWN = 15;

export async function readReconcileRun(
  sql: postgres.Sql,
  runId: string | null = null,
): Promise<ReconcileRun | null> {
  const [row] = await sql`select guestly_reconcile.run_result(${runId}::uuid) as r`;
  return (row?.r as ReconcileRun | null) ?? null;
}

function describeItem(i: ReconcileItem): string {
  const d = i.details ?? {};
  const what = i.kind === "missed_webhook" || i.kind === "content_differs"
    ? Array.isArray(d.differs) && d.differs.length
      ? `${(d.differs as string[]).join(", ")}: booking ${JSON.stringify(d.booking)} · Guestly ${
        JSON.stringify(d.guestly)
      }`
      : `booking ${d.booking_status ?? "?"} · Guestly ${d.guestly_status ?? "?"}`
    : i.kind === "status_differs"
    ? `booking ${d.booking_status ?? "?"} · Guestly ${d.guestly_status ?? "?"}`
    : i.kind === "not_ours"
    ? `${d.reason ?? "not ours"} (reference ${d.booking_ref ?? "none"})`
    : i.kind === "duplicate"
    ? `the booking holds ${d.booking_reservation_id ?? "?"}`
    : String(d.guestly ?? "");
  return `${i.kind} · booking ${i.booking_id ?? "-"} · reservation ${
    i.reservation_id ?? "-"
  } · ${what}` +
    ` → ${i.action}${i.action_detail ? ` (${i.action_detail})` : ""}`;
}

export function formatReconcileRun(r: ReconcileRun | null): string {
  if (!r) {
    return "Reconciliation\n  no run yet (daily at 03:17 UTC, or npm run sync:reconcile)";
  }
  const run = r.run;
  const drift = Object.values(r.counts).reduce((a, b) => a + b, 0);
  const out = [
    "Reconciliation (last run)",
    `  ${run.started_at} · ${run.triggered_by}${
      run.fix ? " --fix" : " (report only)"
    } · ${run.status}` +
    `${run.finished_at ? ` at ${run.finished_at}` : ""}`,
    `  ${run.reservations_seen ?? "?"} reservations in Guestly, ${run.bookings_checked ?? "?"} ` +
    `bookings checked, ${run.requests_used ?? "?"} Guestly requests`,
  ];
  if (run.error) out.push(`  error: ${run.error}`);
  if (drift === 0) {
    out.push(run.status === "running" ? "  still running" : "  no drift");
    return out.join("\n");
  }
  out.push(
    `  drift ${drift}: ${Object.entries(r.counts).map(([k, n]) => `${k} ${n}`).join(" · ")}`,
    `  ${Object.entries(r.actions).map(([k, n]) => `${k} ${n}`).join(" · ")}`,
  );
  const needs = r.items.filter((i) => i.action !== "healed");
  const shown = [...needs, ...r.items.filter((i) => i.action === "healed")].slice(0, ITEMS_SHOWN);
  for (const i of shown) out.push(`    ${describeItem(i)}`);
  if (r.items.length > shown.length) {
    out.push(
      `    … ${r.items.length - shown.length} more (select * from guestly_reconcile.drift_items)`,
    );
  }
  return out.join("\n");
}
