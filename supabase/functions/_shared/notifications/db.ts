// The database edge of alert delivery and retry links: only the SQL functions of the guestly
// schema, never ad-hoc UPDATEs.
import type { Sql } from "../db.ts";
import type { AlertContext } from "./admin-alerts.ts";
import type { AlertStore } from "./outbox.ts";
import type { PreviewResult, RedeemResult } from "./handlers.ts";

export function postgresAlertStore(sql: Sql): AlertStore {
  return {
    async claimDue(batchSize) {
      const rows = await sql`
        select id, kind, booking_id, created_at, send_attempts
          from guestly.claim_due_alerts(${batchSize})`;
      return rows.map((r) => ({
        id: r.id as string,
        kind: r.kind as string,
        booking_id: r.booking_id as string | null,
        created_at: new Date(r.created_at as string).toISOString(),
        send_attempts: r.send_attempts as number,
      }));
    },
    async context(alertId) {
      const [row] = await sql`select guestly.alert_email_context(${alertId}::uuid) as ctx`;
      return (row?.ctx as AlertContext | null) ?? null;
    },
    async markSent(alertId, providerMessageId) {
      await sql`select guestly.mark_alert_sent(${alertId}::uuid, ${providerMessageId})`;
    },
    async markFailed(alertId, error) {
      const [row] = await sql`select guestly.mark_alert_failed(${alertId}::uuid, ${error}) as due`;
      return row?.due ? new Date(row.due as string).toISOString() : null;
    },
  };
}

/** Marks the link used and starts the retry (public.guestly_retry_sync) in one transaction. */
export function postgresRedeemRetryLink(sql: Sql) {
  return async (linkId: string, bookingId: string): Promise<RedeemResult> => {
    try {
      const [row] = await sql`
        select guestly.redeem_retry_link(${linkId}::uuid, ${bookingId}::uuid) as result`;
      return row.result as RedeemResult;
    } catch (error) {
      // guestly_retry_sync raises no_data_found for an unknown booking (and nothing is kept).
      if ((error as { code?: string }).code === "P0002") return { ok: false, reason: "not_found" };
      throw error;
    }
  };
}

/** What the retry would start from (guestly.preview_retry_link): reads only, changes nothing. */
export function postgresPreviewRetryLink(sql: Sql) {
  return async (linkId: string, bookingId: string): Promise<PreviewResult> => {
    const [row] = await sql`
      select guestly.preview_retry_link(${linkId}::uuid, ${bookingId}::uuid) as result`;
    return row.result as PreviewResult;
  };
}
