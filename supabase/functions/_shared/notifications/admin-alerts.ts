// The admin alert email, as a pure function of what guestly.alert_email_context returns.
// Everything interpolated into HTML is escaped; nothing secret is ever an input here (the retry
// link arrives already signed). The output must be identical for identical input: Resend
// rejects a repeated idempotency key whose payload differs.
import { moneyAlertEmail } from "./money-alerts.ts";
import { syncStalledSections, syncStalledSubject } from "./sync-stalled.ts";
import { doubleBookingSections, doubleBookingSubject } from "./double-booking.ts";
import {
  GUESTLY_CHANGE_KINDS,
  guestlyChangeSections,
  guestlyChangeSubject,
} from "./guestly-changes.ts";
import {
  abandonedRunSections,
  abandonedRunSubject,
  reconciliationSections,
  reconciliationSubject,
} from "./reconciliation.ts";
import { minorToMajor } from "../currency.ts";

export interface AlertAttempt {
  attempt: number;
  operation: string;
  started_at: string;
  duration_ms: number;
  http_status: number | null;
  outcome: string;
  error: string | null;
}

export interface AlertBooking {
  id: string;
  status: string;
  guest_first_name: string;
  guest_last_name: string;
  guest_email: string;
  check_in: string;
  check_out: string;
  guests_count: number;
  amount_total: number | string;
  currency: string;
  stripe_payment_intent_id: string | null;
  property_name: string | null;
}

export interface AlertContext {
  alert: {
    id: string;
    kind: "sync_failed" | "payment_mismatch" | string;
    booking_id: string | null;
    details: Record<string, unknown>;
    created_at: string;
  };
  booking: AlertBooking | null;
  /** Attempts of this alert's episode; `attempts` holds the latest ones only. */
  attempts_total: number;
  attempts: AlertAttempt[];
}

export interface RetryLink {
  url: string;
  expiresAt: Date;
}

export interface AlertEmail {
  subject: string;
  text: string;
  html: string;
}

export function escapeHtml(value: unknown): string {
  return String(value ?? "")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** Minor units (Stripe's) to a display amount in the currency's own format (JPY has 0 decimals). */
export function formatAmount(minor: number | string | null | undefined, currency: unknown): string {
  const code = typeof currency === "string" ? currency.toUpperCase() : "";
  const amount = Number(minor);
  if (minor === null || minor === undefined || !Number.isFinite(amount)) return "(unknown)";
  if (!/^[A-Z]{3}$/.test(code)) return `${amount} (minor units, currency unknown)`;
  try {
    // Stripe's decimals (one table: ../currency.ts), shown with the currency's own: ISK is
    // two-decimal in Stripe's minor units and shown whole.
    const formatted = new Intl.NumberFormat("en-US", { style: "currency", currency: code })
      .format(minorToMajor(amount, code)).replace(/\u00a0/g, " ");
    return formatted.includes(code) ? formatted : `${formatted} ${code}`;
  } catch {
    return `${amount} ${code} (minor units)`;
  }
}

/** UTC, to the second: the same text whoever renders it, wherever. */
export function formatTime(value: string | Date | null | undefined): string {
  if (!value) return "(unknown)";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** A string field of an alert's details, or null when absent or empty. */
export function str(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

export function shortId(id: string | null | undefined): string {
  return id ? `${id.slice(0, 8)}…` : "(deleted)";
}

export function guestName(b: AlertBooking | null): string {
  return b ? `${b.guest_first_name} ${b.guest_last_name}`.trim() : "(unknown guest)";
}

function nights(b: AlertBooking): string {
  const ms = new Date(b.check_out).getTime() - new Date(b.check_in).getTime();
  const n = Math.round(ms / 86_400_000);
  return Number.isFinite(n) ? ` (${n} night${n === 1 ? "" : "s"})` : "";
}

/** The command lines an operator can paste; booking ids are UUIDs (checked) so quoting is safe. */
export function retryCommands(bookingId: string): { cli: string; sql: string } {
  if (!/^[0-9a-f-]{36}$/i.test(bookingId)) throw new Error(`not a booking id: ${bookingId}`);
  return {
    cli: `npm run sync:retry -- ${bookingId}`,
    sql: `select guestly_retry_sync('${bookingId}');`,
  };
}

export type Row = [label: string, value: string];
export type Section = { title: string; rows?: Row[]; lines?: string[]; links?: Row[] };

export function bookingRows(ctx: AlertContext): Row[] {
  const b = ctx.booking;
  if (!b) {
    return [["Booking id", ctx.alert.booking_id ?? "(the booking no longer exists)"]];
  }
  return [
    ["Booking id", b.id],
    ["Booking status", b.status],
    ["Property", b.property_name ?? "(unknown property)"],
    ["Guest", guestName(b)],
    ["Guest email", b.guest_email],
    ["Dates", `${b.check_in} → ${b.check_out}${nights(b)}`],
    ["Guests", String(b.guests_count)],
    ["Amount", formatAmount(b.amount_total, b.currency)],
    ["Stripe payment intent", b.stripe_payment_intent_id ?? "(none)"],
  ];
}

function syncFailedSections(ctx: AlertContext, link: RetryLink | null): Section[] {
  const details = ctx.alert.details ?? {};
  const last = ctx.attempts.at(-1);
  const lastError = last?.error ?? (details.error as string | undefined) ?? "(no error text)";
  const lastRows: Row[] = [
    ["HTTP status", last?.http_status != null ? String(last.http_status) : "(no HTTP response)"],
    ["Error", lastError],
  ];
  if (last) {
    lastRows.push([
      "Attempt",
      `#${last.attempt} (${last.operation}) at ${formatTime(last.started_at)}`,
    ]);
  }
  const shown = ctx.attempts.length;
  const attemptLines = ctx.attempts.map((a) =>
    `#${a.attempt}  ${formatTime(a.started_at)}  ${a.operation}  ` +
    `${a.http_status != null ? `HTTP ${a.http_status}` : "no response"}  ${a.outcome}  ` +
    `${a.duration_ms} ms${a.error ? `  ${a.error}` : ""}`
  );
  if (shown === 0) attemptLines.push("(no HTTP attempt was recorded for this failure)");
  const bookingId = ctx.booking?.id ?? ctx.alert.booking_id;
  const retry: Section = { title: "Retry", lines: [], links: [] };
  if (bookingId) {
    const commands = retryCommands(bookingId);
    retry.lines = [
      "Fix the cause first (the error above says what Guestly rejected), then retry with one of:",
    ];
    if (link) {
      retry.links = [[
        "Retry page (opening it changes nothing; its button starts the retry, once, until " +
        formatTime(link.expiresAt) + ")",
        link.url,
      ]];
    } else if (ctx.alert.details.retry_link === false) {
      retry.lines.push(
        "(no one-click link this time: this failure follows a retry started from an email link " +
          "in the last 24 h — a mail scanner may open links, which would retry again and again)",
      );
    } else retry.lines.push("(one-click retry link disabled: RETRY_LINK_SECRET is not set)");
    retry.rows = [["CLI", commands.cli], ["SQL (Studio)", commands.sql]];
  } else {
    retry.lines = ["The booking no longer exists: there is nothing to retry."];
  }
  return [
    {
      title: "What happened",
      lines: [
        `Guestly did not accept the reservation for this paid booking. ${
          details.permanent
            ? "Guestly rejected the request (a permanent error):"
            : "The automatic retries are used up:"
        } no further automatic attempt will be made until someone retries it.`,
        `Alert written ${formatTime(ctx.alert.created_at)}.`,
      ],
    },
    { title: "Booking", rows: bookingRows(ctx) },
    { title: "Last error", rows: lastRows },
    {
      title: ctx.attempts_total > shown
        ? `Attempts (latest ${shown} of ${ctx.attempts_total})`
        : `Attempts (${ctx.attempts_total})`,
      lines: attemptLines,
    },
    retry,
  ];
}

function paymentMismatchSections(ctx: AlertContext): Section[] {
  const d = ctx.alert.details ?? {};
  return [
    {
      title: "What happened",
      lines: [
        "Stripe reported a payment whose amount or currency differs from the booking. " +
        "The booking was NOT confirmed and nothing was sent to Guestly.",
        "Check the payment in the Stripe Dashboard, then refund it or correct the booking by hand.",
        `Alert written ${formatTime(ctx.alert.created_at)}.`,
      ],
    },
    { title: "Booking", rows: bookingRows(ctx) },
    {
      title: "Payment",
      rows: [
        ["Expected", formatAmount(d.expected_amount as number, d.expected_currency)],
        ["Received", formatAmount(d.received_amount as number, d.received_currency)],
        ["Payment intent", String(d.payment_intent_id ?? "(none)")],
        ["Stripe event", `${d.event_id ?? "(unknown)"}${d.event_type ? ` (${d.event_type})` : ""}`],
      ],
    },
  ];
}

function subjectFor(ctx: AlertContext): string {
  const who = `${guestName(ctx.booking)} at ${ctx.booking?.property_name ?? "(unknown property)"}`;
  const booking = `booking ${shortId(ctx.booking?.id ?? ctx.alert.booking_id)}`;
  if (ctx.alert.kind === "sync_stalled") return syncStalledSubject(ctx, who, booking);
  if (ctx.alert.kind === "double_booking") return doubleBookingSubject(ctx);
  if (GUESTLY_CHANGE_KINDS.includes(ctx.alert.kind)) return guestlyChangeSubject(ctx);
  if (ctx.alert.kind === "reconciliation_drift") return reconciliationSubject(ctx);
  if (ctx.alert.kind === "reconciliation_abandoned") return abandonedRunSubject(ctx);
  if (ctx.alert.kind === "payment_mismatch") {
    const d = ctx.alert.details ?? {};
    return `Payment mismatch: ${booking} — ${who} (received ${
      formatAmount(d.received_amount as number, d.received_currency)
    }, expected ${formatAmount(d.expected_amount as number, d.expected_currency)})`;
  }
  return `Guestly sync failed: ${booking} — ${who}`;
}

function renderText(subject: string, sections: Section[]): string {
  const out = [subject, ""];
  for (const s of sections) {
    out.push(s.title.toUpperCase());
    for (const line of s.lines ?? []) out.push(`  ${line}`);
    const rows = s.rows ?? [];
    const width = Math.max(0, ...rows.map(([label]) => label.length));
    for (const [label, value] of rows) out.push(`  ${(label + ":").padEnd(width + 2)}${value}`);
    for (const [label, url] of s.links ?? []) out.push(`  ${label}:`, `    ${url}`);
    out.push("");
  }
  out.push("-- guestly-sync (sent once per failure episode)");
  return out.join("\n");
}

function renderHtml(subject: string, sections: Section[]): string {
  const cell = "padding:2px 12px 2px 0;vertical-align:top";
  const parts = [
    `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title>`,
    `</head><body style="font-family:system-ui,sans-serif;font-size:14px;color:#111">`,
    `<h2 style="font-size:18px">${escapeHtml(subject)}</h2>`,
  ];
  for (const s of sections) {
    parts.push(`<h3 style="font-size:15px;margin:18px 0 6px">${escapeHtml(s.title)}</h3>`);
    for (const line of s.lines ?? []) {
      const mono = /^#\d+ /.test(line) ? ' style="font-family:monospace;margin:2px 0"' : "";
      parts.push(`<p${mono}>${escapeHtml(line)}</p>`);
    }
    for (const [label, url] of s.links ?? []) {
      parts.push(
        `<p><a href="${escapeHtml(url)}" style="display:inline-block;padding:8px 14px;` +
          `background:#1d4ed8;color:#fff;border-radius:4px;text-decoration:none">` +
          `Retry now</a> <small>${escapeHtml(label)}</small></p>`,
      );
    }
    if (s.rows?.length) {
      parts.push(`<table style="border-collapse:collapse">`);
      for (const [label, value] of s.rows) {
        const code = label.startsWith("CLI") || label.startsWith("SQL");
        parts.push(
          `<tr><th style="${cell};text-align:left">${escapeHtml(label)}</th><td style="${cell}">${
            code ? `<code>${escapeHtml(value)}</code>` : escapeHtml(value)
          }</td></tr>`,
        );
      }
      parts.push(`</table>`);
    }
  }
  parts.push(
    `<p style="color:#666;font-size:12px">guestly-sync (sent once per failure episode)</p>`,
  );
  parts.push(`</body></html>`);
  return parts.join("\n");
}

/** The email for one alert. `link` is null when no retry link can be made (no secret). */
export function renderAlertEmail(ctx: AlertContext, link: RetryLink | null): AlertEmail {
  const money = moneyAlertEmail(ctx);
  const subject = (money?.subject ?? subjectFor(ctx)).replace(/[\r\n]+/g, " ");
  const sections = money
    ? money.sections
    : ctx.alert.kind === "sync_stalled"
    ? syncStalledSections(ctx)
    : ctx.alert.kind === "payment_mismatch"
    ? paymentMismatchSections(ctx)
    : ctx.alert.kind === "double_booking"
    ? doubleBookingSections(ctx)
    : GUESTLY_CHANGE_KINDS.includes(ctx.alert.kind)
    ? guestlyChangeSections(ctx)
    : ctx.alert.kind === "reconciliation_drift"
    ? reconciliationSections(ctx)
    : ctx.alert.kind === "reconciliation_abandoned"
    ? abandonedRunSections(ctx)
    : syncFailedSections(ctx, link);
  return { subject, text: renderText(subject, sections), html: renderHtml(subject, sections) };
}
