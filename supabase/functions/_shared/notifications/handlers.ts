// HTTP edges of notify-admin (woken by the database with the service_role key) and retry-link
// (opened by an admin from an email: authenticated by its own signed, expiring, one-use token).
import { z } from "zod";
import { json } from "../http.ts";
import { refuseUnlessServicePost, type ServiceKeys } from "../service-keys.ts";
import type { Logger } from "../log.ts";
import { escapeHtml } from "./admin-alerts.ts";
import type { DeliverySummary } from "./outbox.ts";
import { verifyRetryToken } from "./retry-token.ts";

export interface NotifyAdminHandlerDeps {
  /** The keys the database (from Vault) presents: service_role JWT or sb_secret_. */
  serviceKeys: ServiceKeys;
  /** Null when configuration is incomplete: nothing is claimed, so no attempt is burnt. */
  configError: string | null;
  deliver: () => Promise<DeliverySummary>;
  log: Logger;
}

export function createNotifyAdminHandler(deps: NotifyAdminHandlerDeps) {
  return async (request: Request): Promise<Response> => {
    // Alerts stay in the outbox (npm run sync:status lists them); say why in the logs.
    const refused = await refuseUnlessServicePost(
      deps.serviceKeys,
      request,
      (hint) => deps.log.error("admin_alert.unauthorized", { hint }),
    );
    if (refused) return refused;
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
  | RetryLinkRefusal;

export type RetryLinkRefusal =
  | { ok: false; reason: "link_used"; used_at?: string }
  | { ok: false; reason: "already_synced"; reservation_id?: string | null }
  | { ok: false; reason: "not_paid" }
  | { ok: false; reason: "not_found" };

/** What the retry would start from (guestly.preview_retry_link); read-only. */
export type PreviewResult =
  | {
    ok: true;
    booking_status: string;
    sync_status: string;
    last_error: string | null;
    attempts: number;
    next_attempt_at: string | null;
    gave_up_at: string | null;
  }
  | RetryLinkRefusal;

export interface RetryLinkHandlerDeps {
  /** Required and strong: retryLinkConfig refuses to start the function without one. */
  secret: string;
  now: () => number;
  /** Marks the link used and starts the retry, in one transaction. Only a POST calls it. */
  redeem: (linkId: string, bookingId: string) => Promise<RedeemResult>;
  /** Reads what the retry would do; changes nothing. GET and HEAD call only this. */
  preview: (linkId: string, bookingId: string) => Promise<PreviewResult>;
  /** The function's public URL (`<SUPABASE_URL>/functions/v1/retry-link`), for the curl line. */
  functionUrl: string;
  /** Origins whose pages may call this function from a browser (RETRY_LINK_BASE_URL's). */
  allowedOrigins: string[];
  log: Logger;
}

/**
 * Hosted Supabase serves `text/html` answers to GET requests on `*.supabase.co` as
 * `text/plain` (custom domains excepted): such a page cannot show a button, so the function says
 * it in plain text, with a command that POSTs the token.
 */
export function isDefaultSupabaseDomain(request: Request): boolean {
  const host = request.headers.get("x-forwarded-host") ?? request.headers.get("host") ??
    new URL(request.url).host;
  return /(^|\.)supabase\.co(:\d+)?$/i.test(host.split(",")[0].trim());
}

type Format = "html" | "text" | "json";

interface Reply {
  status: number;
  title: string;
  lines: string[];
  /** A confirmation form: the button POSTs this token in the body. */
  form?: { token: string; button: string };
  /** Shown in place of the form where HTML is not rendered (plain text). */
  textOnly?: string[];
  data: Record<string, unknown>;
}

const PAGE_HEADERS = {
  "Cache-Control": "no-store",
  // The token is in the URL: never hand it to another site.
  "Referrer-Policy": "no-referrer",
  "X-Robots-Tag": "noindex",
  // No script, no framing (a button in a frame could be clicked through a decoy).
  "Content-Security-Policy":
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "X-Frame-Options": "DENY",
};

function render(reply: Reply, format: Format, extra: Record<string, string>): Response {
  const headers: Record<string, string> = { ...PAGE_HEADERS, ...extra };
  if (format === "json") {
    return json(
      reply.status,
      { title: reply.title, message: reply.lines.join(" "), ...reply.data },
      headers,
    );
  }
  if (format === "text") {
    const body =
      [reply.title, "", ...reply.lines, ...(reply.textOnly ? ["", ...reply.textOnly] : [])]
        .join("\n") + "\n";
    return new Response(body, {
      status: reply.status,
      headers: { ...headers, "Content-Type": "text/plain; charset=utf-8" },
    });
  }
  const paragraphs = reply.lines.map((line) => `<p>${escapeHtml(line)}</p>`).join("\n");
  // action="?": the same path without the query, so the token travels in the body only.
  const form = reply.form
    ? `<form method="post" action="?">
<input type="hidden" name="token" value="${escapeHtml(reply.form.token)}">
<button type="submit" style="font-size:16px;padding:.5em 1.2em">${
      escapeHtml(reply.form.button)
    }</button>
</form>`
    : "";
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(reply.title)}</title></head>
<body style="font-family:system-ui,sans-serif;max-width:40em;margin:3em auto">
<h1 style="font-size:20px">${escapeHtml(reply.title)}</h1>
${paragraphs}
${form}
</body></html>
`;
  return new Response(html, {
    status: reply.status,
    headers: { ...headers, "Content-Type": "text/html; charset=utf-8" },
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

function refusalReply(result: RetryLinkRefusal, bookingId: string, starting: boolean): Reply {
  switch (result.reason) {
    case "link_used":
      return {
        status: 403,
        title: "Retry link already used",
        lines: [
          `This retry link was already used${result.used_at ? ` at ${result.used_at}` : ""}: ` +
          "the retry it started then ran (see npm run sync:status). Each link works once; " +
          `retry again from the command line if needed: npm run sync:retry -- ${bookingId}`,
        ],
        data: {
          ok: false,
          reason: "link_used",
          used_at: result.used_at ?? null,
          booking_id: bookingId,
        },
      };
    case "already_synced":
      return {
        status: 200,
        title: `Booking ${bookingId} is already synced`,
        lines: [`Booking ${bookingId} is already synced with Guestly — nothing to do.`],
        data: {
          ok: false,
          reason: "already_synced",
          reservation_id: result.reservation_id ?? null,
          booking_id: bookingId,
        },
      };
    case "not_paid":
      return {
        status: 409,
        title: `Booking ${bookingId} is not paid`,
        lines: [
          `Booking ${bookingId} is waiting for payment; there is nothing to send to Guestly` +
          (starting ? "." : ", so there is nothing to retry."),
        ],
        data: { ok: false, reason: "not_paid", booking_id: bookingId },
      };
    case "not_found":
      return {
        status: 404,
        title: "Booking not found",
        lines: [`Booking ${bookingId} no longer exists.`],
        data: { ok: false, reason: "not_found", booking_id: bookingId },
      };
  }
}

const PostBody = z.object({ token: z.string().min(1).max(4096) });

/** The token from a POST body: an HTML form (`token=…`) or JSON (`{"token": "…"}`). */
async function tokenFromBody(request: Request): Promise<string | null> {
  const type = (request.headers.get("content-type") ?? "").toLowerCase();
  const text = await request.text();
  if (text.length > 16_384) return null;
  let raw: unknown;
  if (type.includes("application/json")) {
    try {
      raw = JSON.parse(text);
    } catch {
      return null;
    }
  } else if (type.includes("application/x-www-form-urlencoded") || type.includes("text/plain")) {
    raw = { token: new URLSearchParams(text).get("token") ?? undefined };
  }
  const parsed = PostBody.safeParse(raw);
  return parsed.success ? parsed.data.token : null;
}

function wantsJson(request: Request): boolean {
  const accept = request.headers.get("accept") ?? "";
  const type = request.headers.get("content-type") ?? "";
  return (/application\/json/i.test(accept) && !/text\/html/i.test(accept)) ||
    (request.method === "POST" && /application\/json/i.test(type) && !/text\/html/i.test(accept));
}

/**
 * The retry link. Only a person's deliberate action starts a retry:
 * - GET (and HEAD, OPTIONS) never change anything. GET checks the token and shows what the retry
 *   would do, with a button; mail scanners that open, probe or prefetch the link see that page.
 * - POST with the token in its body (the button's form, or the RETRY_LINK_BASE_URL page's
 *   fetch) marks the link used and starts the retry, in one transaction; a replay is refused.
 *   A token only in the URL of a POST is not enough, and a browser POST from another site
 *   (Sec-Fetch-Site) is refused unless it comes from RETRY_LINK_BASE_URL's origin.
 */
export function createRetryLinkHandler(deps: RetryLinkHandlerDeps) {
  const allowed = new Set(deps.allowedOrigins);

  function corsFor(request: Request): Record<string, string> {
    const origin = request.headers.get("origin");
    if (!origin || !allowed.has(origin)) return {};
    return { "Access-Control-Allow-Origin": origin, Vary: "Origin" };
  }

  async function check(token: string | null) {
    const result = await verifyRetryToken(token, deps.secret, deps.now());
    if (result.ok) return result;
    deps.log.warn("retry_link.refused", { reason: result.reason });
    return {
      ok: false as const,
      reply: {
        status: 403,
        title: "Retry link refused",
        lines: [REFUSED[result.reason]],
        data: { ok: false, reason: result.reason },
      },
    };
  }

  async function show(request: Request, token: string | null): Promise<Reply> {
    const checked = await check(token);
    if (!checked.ok) return checked.reply;
    const { alertId, bookingId, exp } = checked.payload;
    let preview: PreviewResult;
    try {
      preview = await deps.preview(alertId, bookingId);
    } catch (error) {
      deps.log.error("retry_link.preview_failed", {
        alert_id: alertId,
        booking_id: bookingId,
        error: error instanceof Error ? error.message : String(error),
      });
      return {
        status: 500,
        title: "Could not check this retry link",
        lines: [
          "Something went wrong; nothing was started and the link is still usable. " +
          "Try again in a minute, or retry from the command line.",
        ],
        data: { ok: false, reason: "unavailable" },
      };
    }
    deps.log.info("retry_link.viewed", {
      alert_id: alertId,
      booking_id: bookingId,
      method: request.method,
      state: preview.ok ? "ready" : preview.reason,
    });
    if (!preview.ok) return refusalReply(preview, bookingId, false);
    const expires = new Date(exp * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC";
    const lines = [
      `Booking ${bookingId} is ${preview.booking_status}; its Guestly sync is ${preview.sync_status} ` +
      `after ${preview.attempts} attempt${preview.attempts === 1 ? "" : "s"}` +
      (preview.gave_up_at ? " (no automatic retry is left)." : "."),
      `Last error: ${preview.last_error ?? "(none recorded)"}`,
      "Nothing has been started: opening this link changes nothing. Starting the retry runs a " +
      "new sync round now, even past the attempt limit — fix the cause first.",
      `This link starts the retry once, until ${expires}.`,
    ];
    const curl = `curl -X POST --data-urlencode 'token=${token}' '${deps.functionUrl}'`;
    return {
      status: 200,
      title: `Retry the Guestly sync of booking ${bookingId}?`,
      lines,
      form: { token: token!, button: "Start the retry" },
      textOnly: [
        "Supabase shows this page as plain text on its *.supabase.co domain, so it cannot offer " +
        "a button here. To start the retry, run one of:",
        `  ${curl}`,
        `  npm run sync:retry -- ${bookingId}`,
        "(A custom domain or RETRY_LINK_BASE_URL gives this link a real button: see " +
        "docs/operations.md.)",
      ],
      data: {
        ok: true,
        state: "ready",
        booking_id: bookingId,
        booking_status: preview.booking_status,
        sync_status: preview.sync_status,
        last_error: preview.last_error,
        attempts: preview.attempts,
        gave_up_at: preview.gave_up_at,
        expires_at: new Date(exp * 1000).toISOString(),
      },
    };
  }

  async function start(request: Request): Promise<Reply> {
    const site = request.headers.get("sec-fetch-site");
    const origin = request.headers.get("origin");
    if ((site === "cross-site" || site === "same-site") && !(origin && allowed.has(origin))) {
      deps.log.warn("retry_link.refused", { reason: "cross_site", origin });
      await request.body?.cancel();
      return {
        status: 403,
        title: "Retry refused",
        lines: [
          `A request from another site (${origin ?? "unknown origin"}) cannot start a ` +
          "retry. Open the link from the email and use its button; a website page that starts " +
          "retries must be the one set in RETRY_LINK_BASE_URL.",
        ],
        data: { ok: false, reason: "cross_site" },
      };
    }
    const token = await tokenFromBody(request);
    if (!token) {
      return {
        status: 400,
        title: "Retry not started",
        lines: [
          "The token must be sent in the POST body: a form field `token` " +
          '(application/x-www-form-urlencoded) or JSON {"token": "…"}. Open the link from ' +
          "the email and use its button.",
        ],
        data: { ok: false, reason: "token_missing" },
      };
    }
    const checked = await check(token);
    if (!checked.ok) return checked.reply;
    const { alertId, bookingId } = checked.payload;
    let result: RedeemResult;
    try {
      result = await deps.redeem(alertId, bookingId);
    } catch (error) {
      deps.log.error("retry_link.crashed", {
        alert_id: alertId,
        booking_id: bookingId,
        error: error instanceof Error ? error.message : String(error),
      });
      return {
        status: 500,
        title: "Retry could not start",
        lines: [
          "Something went wrong; the link was not used up. Try again in a minute, or " +
          "retry from the command line.",
        ],
        data: { ok: false, reason: "unavailable" },
      };
    }
    deps.log.info("retry_link.used", {
      alert_id: alertId,
      booking_id: bookingId,
      outcome: result.ok ? "started" : result.reason,
    });
    if (!result.ok) return refusalReply(result, bookingId, true);
    return {
      status: 200,
      title: `Retry started for booking ${bookingId}`,
      lines: [
        `Retry started for booking ${bookingId}. A new sync round is running; if it fails ` +
        "again you will get a new alert. Check progress with npm run sync:status.",
      ],
      data: { ok: true, state: "started", booking_id: bookingId },
    };
  }

  return async (request: Request): Promise<Response> => {
    const cors = corsFor(request);
    if (request.method === "OPTIONS") {
      // CORS preflight of the RETRY_LINK_BASE_URL page's fetch; no side effects.
      if (!cors["Access-Control-Allow-Origin"]) {
        return json(403, {
          error: `origin ${request.headers.get("origin") ?? "(none)"} may not call retry-link ` +
            "from a browser: set RETRY_LINK_BASE_URL to the page that does",
        }, { Vary: "Origin" });
      }
      return new Response(null, {
        status: 204,
        headers: {
          ...cors,
          "Access-Control-Allow-Methods": "GET, POST",
          "Access-Control-Allow-Headers": "content-type",
          "Access-Control-Max-Age": "600",
        },
      });
    }
    const format: Format = wantsJson(request)
      ? "json"
      : request.method === "GET" && isDefaultSupabaseDomain(request)
      ? "text"
      : "html";
    if (request.method === "GET" || request.method === "HEAD") {
      const token = new URL(request.url).searchParams.get("token");
      const response = render(await show(request, token), format, cors);
      // HEAD: the same status and headers as GET, no body, and nothing changed (scanners probe).
      return request.method === "HEAD"
        ? new Response(null, { status: response.status, headers: response.headers })
        : response;
    }
    if (request.method === "POST") return render(await start(request), format, cors);
    await request.body?.cancel();
    return render(
      {
        status: 405,
        title: "Method not allowed",
        lines: ["Open the link in a browser and use its button."],
        data: { ok: false, reason: "method_not_allowed" },
      },
      format,
      { ...cors, Allow: "GET, HEAD, POST, OPTIONS" },
    );
  };
}
