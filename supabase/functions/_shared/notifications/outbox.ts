// Delivery of the guestly.admin_alerts outbox. Each alert is claimed (a lease, so two senders
// never hold it at once), rendered, sent with the alert id as Resend's idempotency key, then
// marked sent or failed (backoff computed in SQL). A crash between "sent" and "marked" resends
// after the lease with the same key and the same bytes: Resend answers with the first email.
import type { Resend } from "resend";
import type { Logger } from "../log.ts";
import { type AlertContext, type AlertEmail, renderAlertEmail } from "./admin-alerts.ts";
import { retryLinkFor } from "./retry-token.ts";

export interface ClaimedAlert {
  id: string;
  kind: string;
  booking_id: string | null;
  created_at: string;
  send_attempts: number;
}

export interface AlertStore {
  claimDue(batchSize: number): Promise<ClaimedAlert[]>;
  context(alertId: string): Promise<AlertContext | null>;
  markSent(alertId: string, providerMessageId: string | null): Promise<void>;
  /** Returns when the alert is due again. */
  markFailed(alertId: string, error: string): Promise<string | null>;
}

export interface OutgoingEmail extends AlertEmail {
  from: string;
  to: string[];
}

export type SendResult = { ok: true; id: string | null } | { ok: false; error: string };

export interface Mailer {
  send(email: OutgoingEmail, idempotencyKey: string): Promise<SendResult>;
}

export interface DeliveryDeps {
  store: AlertStore;
  mailer: Mailer;
  from: string;
  to: string[];
  supabaseUrl: string;
  /** Empty: emails go out without the one-click link (CLI and SQL still shown). */
  retryLinkSecret: string;
  /** RETRY_LINK_BASE_URL, parsed: links open that page instead of the function. */
  retryLinkBaseUrl?: string | null;
  log: Logger;
  batchSize?: number;
  /** Bound on one invocation's work; what is left stays due for the next wake-up. */
  maxAlerts?: number;
  /** Pause between two sends: Resend allows 2 requests/s per team by default. */
  spacingMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface DeliverySummary {
  sent: string[];
  failed: Array<{ id: string; error: string; nextAttemptAt: string | null }>;
}

export async function buildAlertEmail(
  ctx: AlertContext,
  deps: Pick<DeliveryDeps, "supabaseUrl" | "retryLinkSecret" | "retryLinkBaseUrl">,
): Promise<AlertEmail> {
  const bookingId = ctx.booking?.id ?? ctx.alert.booking_id;
  const linkAllowed = ctx.alert.details.retry_link !== false;
  const link = ctx.alert.kind === "sync_failed" && bookingId && deps.retryLinkSecret && linkAllowed
    ? await retryLinkFor(
      deps.supabaseUrl,
      {
        id: ctx.alert.id,
        bookingId,
        createdAt: ctx.alert.created_at,
      },
      deps.retryLinkSecret,
      deps.retryLinkBaseUrl ?? null,
    )
    : null;
  return renderAlertEmail(ctx, link);
}

export async function deliverDueAlerts(deps: DeliveryDeps): Promise<DeliverySummary> {
  const summary: DeliverySummary = { sent: [], failed: [] };
  const max = deps.maxAlerts ?? 100;
  const handled = new Set<string>();
  while (handled.size < max) {
    const batch = await deps.store.claimDue(Math.min(deps.batchSize ?? 20, max - handled.size));
    if (batch.length === 0) break;
    for (const alert of batch) {
      // A lease shorter than one send could hand an alert back within this loop.
      if (handled.has(alert.id)) continue;
      if (handled.size > 0 && deps.spacingMs && deps.sleep) await deps.sleep(deps.spacingMs);
      handled.add(alert.id);
      await deliverOne(alert, deps, summary);
    }
  }
  return summary;
}

async function deliverOne(alert: ClaimedAlert, deps: DeliveryDeps, summary: DeliverySummary) {
  let error: string;
  try {
    const ctx = await deps.store.context(alert.id);
    if (!ctx) return; // deleted meanwhile: nothing to send
    const email = await buildAlertEmail(ctx, deps);
    const result = await deps.mailer.send({ ...email, from: deps.from, to: deps.to }, alert.id);
    if (result.ok) {
      await deps.store.markSent(alert.id, result.id);
      summary.sent.push(alert.id);
      deps.log.info("admin_alert.sent", {
        alert_id: alert.id,
        kind: alert.kind,
        booking_id: alert.booking_id,
        send_attempt: alert.send_attempts,
        message_id: result.id,
      });
      return;
    }
    error = result.error;
  } catch (caught) {
    error = caught instanceof Error ? caught.message : String(caught);
  }
  const nextAttemptAt = await deps.store.markFailed(alert.id, error);
  summary.failed.push({ id: alert.id, error, nextAttemptAt });
  deps.log.warn("admin_alert.send_failed", {
    alert_id: alert.id,
    kind: alert.kind,
    booking_id: alert.booking_id,
    send_attempt: alert.send_attempts,
    next_attempt_at: nextAttemptAt,
    error,
  });
}

/** Resend answers errors as values; none of them throws. */
export function resendMailer(resend: Resend): Mailer {
  return {
    async send(email, idempotencyKey) {
      const { data, error } = await resend.emails.send(
        {
          from: email.from,
          to: email.to,
          subject: email.subject,
          html: email.html,
          text: email.text,
        },
        { idempotencyKey },
      );
      if (!error) return { ok: true, id: data?.id ?? null };
      const e = error as { name?: string; message?: string; statusCode?: number | null };
      // The key was already used with other bytes (the booking changed between two tries):
      // the first request was accepted, so the admin has an email. Sending again would double it.
      if (e.name === "invalid_idempotent_request") return { ok: true, id: null };
      return {
        ok: false,
        error: `Resend ${e.statusCode ?? "(no response)"} ${e.name ?? "error"}: ${
          e.message ?? "unknown error"
        }`,
      };
    },
  };
}

export function parseRecipients(value: string | undefined): string[] {
  return (value ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
}
