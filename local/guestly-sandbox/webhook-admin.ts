// The admin side of webhooks and of changes a host makes in Guestly, under /__sandbox (no auth):
// register a subscription without a token (the local stack does), the delivery log, the
// delivery faults and settings, and the host's own changes — cancel, change dates, change the
// guest count — which go straight into the store (past auth, limits and faults, like the OTA
// reservations) and emit their webhook like any other change. The inspector's buttons post here.

import { BadRequest, type Ctx, errBody, escapeHtml, json, parseJsonBody, send } from "./http.ts";
import type { Reservation, SandboxState } from "./state.ts";
import { blocksCalendar, checkAvailability } from "./calendar.ts";
import { validateDatesChange, validateGuestsChange } from "./modifications.ts";
import { refreshMoney, round2 } from "./payments.ts";
import { RESERVATION_NOT_FOUND } from "./reservations.ts";
import { reservationChanged } from "./webhook-delivery.ts";
import {
  defaultWebhookFaults,
  mergeWebhookConfig,
  mergeWebhookFaults,
  subscribe,
  webhooks,
} from "./webhooks.ts";
import { ValidationError } from "./validate.ts";

const FINISHED = ["canceled", "declined", "expired", "closed"];
const DAY_MS = 86_400_000;
const nights = (from: string, to: string) =>
  Math.round((Date.parse(to) - Date.parse(from)) / DAY_MS);

type HostAction = "host-cancel" | "host-change-dates" | "host-change-guests";

/** A host's change; returns the answer (status, body). Throws ValidationError for bad input. */
function hostChange(
  state: SandboxState,
  r: Reservation,
  action: HostAction,
  body: Record<string, unknown>,
): { status: number; body: unknown } {
  if (FINISHED.includes(r.status)) {
    return {
      status: 422,
      body: errBody("RESERVATION_NOT_MODIFIABLE", `status: reservation is ${r.status}`, {
        field: "status",
      }),
    };
  }
  if (action === "host-cancel") {
    r.status = "canceled";
    r.canceledBy = typeof body.canceledBy === "string" ? body.canceledBy : "host";
    if (typeof body.cancellationReason === "string") {
      r.cancellationReason = body.cancellationReason;
    }
  } else if (action === "host-change-dates") {
    const change = validateDatesChange({
      checkInDateLocalized: body.checkIn ?? body.checkInDateLocalized,
      checkOutDateLocalized: body.checkOut ?? body.checkOutDateLocalized,
      ...(body.ignoreCalendar === true || body.ignoreCalendar === "true"
        ? { ignoreCalendar: true }
        : {}),
    }, r);
    if (blocksCalendar(r) && !change.ignoreCalendar) {
      const refused = checkAvailability(state, { listingId: r.listingId, ...change }, r._id);
      if (refused) return refused;
    }
    // Re-priced at the old nightly rate, as the API's date change does (modifications.ts).
    const before = nights(r.checkInDateLocalized, r.checkOutDateLocalized);
    const after = nights(change.checkInDateLocalized, change.checkOutDateLocalized);
    r.money.fareAccommodation = round2(r.money.fareAccommodation / before * after);
    r.checkInDateLocalized = change.checkInDateLocalized;
    r.checkOutDateLocalized = change.checkOutDateLocalized;
    refreshMoney(r);
  } else {
    const raw = body.guestsCount;
    const guestsCount = typeof raw === "string" ? Number(raw) : raw;
    r.guestsCount = validateGuestsChange({ guestsCount }).guestsCount;
  }
  r.lastUpdatedAt = new Date().toISOString();
  reservationChanged(state, r._id);
  return { status: 200, body: r };
}

function objectBody(ctx: Ctx, form: boolean): Record<string, unknown> {
  if (!form && ctx.body.trim() === "") return {};
  const body = form ? Object.fromEntries(new URLSearchParams(ctx.body)) : parseJsonBody(ctx);
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BadRequest("body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

function deliveries(state: SandboxState, query: URLSearchParams) {
  const reservationId = query.get("reservationId");
  const messageId = query.get("messageId");
  return webhooks(state).deliveries.filter((d) =>
    (!reservationId || d.reservationId === reservationId) &&
    (!messageId || d.messageId === messageId)
  );
}

/** Handles the webhook and host-change admin routes; false when the route is not one of them. */
export function handleWebhookAdmin(ctx: Ctx, method: string, path: string): boolean {
  const { state } = ctx;
  const ws = webhooks(state);
  const host =
    /^\/__sandbox\/reservations\/([^/]+)\/(host-cancel|host-change-dates|host-change-guests)(\/form)?$/
      .exec(path);
  if (host && method === "POST") {
    const form = host[3] !== undefined;
    const r = state.reservations.get(decodeURIComponent(host[1]));
    if (!r) {
      json(ctx, 404, RESERVATION_NOT_FOUND);
      return true;
    }
    try {
      const result = hostChange(state, r, host[2] as HostAction, objectBody(ctx, form));
      if (form && result.status === 200) {
        send(ctx, 303, "", "text/plain", { headers: { Location: "/__sandbox/" } });
      } else json(ctx, result.status, result.body);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      json(ctx, 422, errBody("VALIDATION_ERROR", e.message, { field: e.field }));
    }
    return true;
  }
  switch (`${method} ${path}`) {
    case "GET /__sandbox/webhooks":
      json(ctx, 200, [...ws.subscriptions.values()]);
      return true;
    case "POST /__sandbox/webhooks": {
      const body = objectBody(ctx, false);
      const result = subscribe(state, body.url, body.events);
      json(ctx, result.status, result.body);
      return true;
    }
    case "GET /__sandbox/webhook-deliveries":
      json(ctx, 200, deliveries(state, ctx.url.searchParams));
      return true;
    case "GET /__sandbox/webhook-faults":
      json(ctx, 200, ws.faults);
      return true;
    case "POST /__sandbox/webhook-faults":
      ws.faults = mergeWebhookFaults(ws.faults, parseJsonBody(ctx));
      json(ctx, 200, ws.faults);
      return true;
    case "DELETE /__sandbox/webhook-faults":
      ws.faults = defaultWebhookFaults();
      json(ctx, 200, ws.faults);
      return true;
    case "GET /__sandbox/webhook-config":
      json(ctx, 200, ws.config);
      return true;
    case "POST /__sandbox/webhook-config":
      ws.config = mergeWebhookConfig(ws.config, parseJsonBody(ctx));
      json(ctx, 200, ws.config);
      return true;
  }
  return false;
}

/** The inspector's host buttons for one reservation (a cell of the reservations table). */
export function hostActionsCell(r: Reservation): string {
  if (FINISHED.includes(r.status)) return "<td></td>";
  const base = `/__sandbox/reservations/${encodeURIComponent(r._id)}`;
  return `<td><form method="post" action="${base}/host-cancel/form">` +
    `<button>cancel as host</button></form>` +
    `<form method="post" action="${base}/host-change-dates/form">` +
    `<input name="checkIn" size="10" value="${escapeHtml(r.checkInDateLocalized)}">` +
    `<input name="checkOut" size="10" value="${escapeHtml(r.checkOutDateLocalized)}">` +
    `<button>change dates</button></form></td>`;
}

/** The inspector's webhook section: subscriptions and the latest delivery attempts. */
export function webhooksSection(state: SandboxState): string {
  const ws = webhooks(state);
  const subs =
    [...ws.subscriptions.values()].map((s) =>
      `<li><code>${escapeHtml(s.url)}</code> — ${escapeHtml(s.events.join(", "))}</li>`
    ).join("") || "<li>none</li>";
  const rows = ws.deliveries.slice(-50).reverse().map((d) =>
    `<tr class="${d.status >= 200 && d.status < 300 ? "" : "bad"}"><td><small>${
      escapeHtml(d.sentAt)
    }</small></td><td>${escapeHtml(d.event)}</td><td><code>${
      escapeHtml(d.reservationId)
    }</code></td><td>${d.attempt}</td><td>${d.status || "—"}</td><td>${
      escapeHtml(d.fault ?? "")
    }</td><td><small>${escapeHtml(d.error ?? "")}</small></td></tr>`
  ).join("\n");
  return `<h2>Webhooks</h2><ul>${subs}</ul>
<p>Delivery faults: <code>${escapeHtml(JSON.stringify(ws.faults))}</code></p>
<table><tr><th>Sent</th><th>Event</th><th>Reservation</th><th>Attempt</th><th>Status</th><th>Fault</th><th>Error</th></tr>
${rows}</table>`;
}
