// HTTP edges of notify-admin (woken by the database with the service_role key) and retry-link
// (opened by an admin from an email: authenticated by its own signed, expiring, one-use token).
import { bearerMatches, json } from "../http.ts";
import type { Logger } from "../log.ts";
import { escapeHtml } from "./admin-alerts.ts";
import type { DeliverySummary } from "./outbox.ts";
import { verifyRetryToken } from "./retry-token.ts";

export interface NotifyAdminHandlerDeps {
  serviceRoleKey: string;
  /** Null when configuration is incomplete: nothing is claimed, so no attempt is burnt. */
  configError: string | null;
  deliver: () => Promise<DeliverySummary>;
  log: Logger;
}

export function createNotifyAdminHandler(deps: NotifyAdminHandlerDeps) {
  return async (request: Request): Promise<Response> => {
    if (request.method !== "POST") {
      return json(405, { error: "method not allowed: use POST" }, { Allow: "POST" });
    }
    if (!bearerMatches(request, deps.serviceRoleKey)) {
      // Alerts stay in the outbox (npm run sync:status lists them); say why in the logs.
      deps.log.error("admin_alert.unauthorized", {
        hint: "the caller's key is not SUPABASE_SERVICE_ROLE_KEY (Vault secret service_role_key?)",
      });
      return json(401, { error: "unauthorized: the service_role key is required" });
    }
    await request.body?.cancel();
    if (deps.configError) {
      deps.log.error("admin_alert.misconfigured", { error: deps.configError });
      return json(500, { error: deps.configError });
    }
    try {
      const summary = await deps.deliver();
      return json(200, { sent: summary.sent.length, failed: summary.failed });
    } catch (error) {
      // Database unreachable: the alerts stay due and the cron wake-up comes back.
      const message = error instanceof Error ? error.message : String(error);
      deps.log.error("admin_alert.delivery_crashed", { error: message });
      return json(500, { error: "delivery failed unexpectedly; due alerts will be retried" });
    }
  };
}

/** What redeeming a link in the database answered (guestly.redeem_retry_link). */
export type RedeemResult =
  | { ok: true; request_id?: number | null }
  | { ok: false; reason: "link_used"; used_at?: string }
  | { ok: false; reason: "already_synced"; reservation_id?: string | null }
  | { ok: false; reason: "not_paid" }
  | { ok: false; reason: "not_found" };

export interface RetryLinkHandlerDeps {
  /** Empty: every link is refused (no secret, no way to check a signature). */
  secret: string;
  now: () => number;
  redeem: (linkId: string, bookingId: string) => Promise<RedeemResult>;
  log: Logger;
}

function page(status: number, title: string, message: string): Response {
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:40em;margin:3em auto">
<h1 style="font-size:20px">${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
</body></html>
`;
  return new Response(html, {
    status,
    headers: {
      "Content-Type": "text/html; charset=utf-8",
      "Cache-Control": "no-store",
      // The token is in the URL: never hand it to another site.
      "Referrer-Policy": "no-referrer",
      "X-Robots-Tag": "noindex",
    },
  });
}

const REFUSED: Record<string, string> = {
  malformed: "This retry link is malformed or incomplete. Copy the whole link from the email, " +
    "or retry from the command line shown in the email.",
  forged: "This retry link is not valid: its signature does not match. " +
    "Use the link from the alert email, or retry from the command line.",
  expired: "This retry link has expired (links are valid for 72 hours). " +
    "Retry from the command line or SQL shown in the email.",
};

export function createRetryLinkHandler(deps: RetryLinkHandlerDeps) {
  return async (request: Request): Promise<Response> => {
    // HEAD is answered without side effects (some mail scanners probe links that way).
    if (request.method === "HEAD") return new Response(null, { status: 200 });
    if (request.method !== "GET" && request.method !== "POST") {
      return page(405, "Method not allowed", "Open the link in a browser.");
    }
    if (!deps.secret) {
      deps.log.error("retry_link.misconfigured", { error: "RETRY_LINK_SECRET is not set" });
      return page(403, "Retry links are disabled", "RETRY_LINK_SECRET is not configured.");
    }
    const token = new URL(request.url).searchParams.get("token");
    const check = await verifyRetryToken(token, deps.secret, deps.now());
    if (!check.ok) {
      deps.log.warn("retry_link.refused", { reason: check.reason });
      return page(403, "Retry link refused", REFUSED[check.reason]);
    }
    const { alertId, bookingId } = check.payload;
    let result: RedeemResult;
    try {
      result = await deps.redeem(alertId, bookingId);
    } catch (error) {
      deps.log.error("retry_link.crashed", {
        alert_id: alertId,
        booking_id: bookingId,
        error: error instanceof Error ? error.message : String(error),
      });
      return page(
        500,
        "Retry could not start",
        "Something went wrong; the link was not used up. Try again in a minute, or retry from " +
          "the command line.",
      );
    }
    deps.log.info("retry_link.used", {
      alert_id: alertId,
      booking_id: bookingId,
      outcome: result.ok ? "started" : result.reason,
    });
    if (result.ok) {
      return page(
        200,
        `Retry started for booking ${bookingId}`,
        `Retry started for booking ${bookingId}. A new sync round is running; if it fails ` +
          "again you will get a new alert. Check progress with npm run sync:status.",
      );
    }
    switch (result.reason) {
      case "link_used":
        return page(
          403,
          "Retry link already used",
          `This retry link was already used${
            result.used_at ? ` at ${result.used_at}` : ""
          }. Each link works once; retry again from the command line if needed: ` +
            `npm run sync:retry -- ${bookingId}`,
        );
      case "already_synced":
        return page(
          200,
          `Booking ${bookingId} is already synced`,
          `Booking ${bookingId} is already synced with Guestly — nothing to do.`,
        );
      case "not_paid":
        return page(
          409,
          `Booking ${bookingId} is not paid`,
          `Booking ${bookingId} is waiting for payment; there is nothing to send to Guestly.`,
        );
      case "not_found":
        return page(404, "Booking not found", `Booking ${bookingId} no longer exists.`);
    }
  };
}
