// Inspector and admin endpoints under /__sandbox (no auth; never logged in the request log).

import { expireTokens, tokenStats } from "./auth.ts";
import { defaultFaults, mergeFaults } from "./faults.ts";
import {
  BadRequest,
  type Ctx,
  errBody,
  escapeHtml,
  isNonNegInt,
  isPositiveInt,
  json,
  parseJsonBody,
  send,
} from "./http.ts";
import { allReservations, insertReservation, RESERVATION_NOT_FOUND } from "./reservations.ts";
import { allPayments } from "./payments.ts";
import { checkAvailability, expireHolds, liveByListing } from "./calendar.ts";
import { validateCreate } from "./validate.ts";
import { handleWebhookAdmin, hostActionsCell, webhooksSection } from "./webhook-admin.ts";
import { reservationChanged } from "./webhook-delivery.ts";
import { resetWebhooks } from "./webhooks.ts";
import {
  type Payment,
  type RequestLogEntry,
  resetState,
  type SandboxState,
  seededRandom,
} from "./state.ts";

function paymentsCell(payments: Payment[]): string {
  return payments.map((p) =>
    `${escapeHtml(p.amount)} ${escapeHtml(p.currency)} <b>${escapeHtml(p.status)}</b> ` +
    `${escapeHtml(p.paymentMethod.method)}${p.note ? ` <code>${escapeHtml(p.note)}</code>` : ""}${
      p.refundedAmount ? ` (refunded ${escapeHtml(p.refundedAmount)})` : ""
    }`
  ).join("<br>");
}

/**
 * The request log, filtered by the query: `method`, `path` (exact) and `pathPrefix`, so a test
 * can assert "exactly one POST to …/payments".
 */
function filteredRequests(state: SandboxState, query: URLSearchParams): RequestLogEntry[] {
  const method = query.get("method")?.toUpperCase();
  const path = query.get("path");
  const prefix = query.get("pathPrefix");
  return state.requestLog.filter((e) =>
    (!method || e.method === method) && (!path || e.path === path) &&
    (!prefix || e.path.startsWith(prefix))
  );
}

function renderHtml(state: SandboxState): string {
  const rows = allReservations(state).reverse().map((r) =>
    `<tr><td>${escapeHtml(r.confirmationCode)}</td><td><code>${escapeHtml(r._id)}</code></td><td>${
      escapeHtml(r.status)
    }</td><td><code>${escapeHtml(r.listingId)}</code></td>` +
    `<td>${escapeHtml(r.checkInDateLocalized)} → ${escapeHtml(r.checkOutDateLocalized)}</td>` +
    `<td>${escapeHtml(r.guest.firstName)} ${escapeHtml(r.guest.lastName)}<br><small>${
      escapeHtml(r.guest.email)
    }</small></td><td>${escapeHtml(r.guestsCount)}</td>` +
    `<td>${escapeHtml(r.money.fareAccommodation)} ${escapeHtml(r.money.currency)}<br><small>paid ${
      escapeHtml(r.money.totalPaid)
    }, due <b>${escapeHtml(r.money.balanceDue)}</b></small></td><td><small>${
      paymentsCell(r.money.payments)
    }</small></td><td>${escapeHtml(r.source)}</td><td><small>${
      escapeHtml(r.customFields.map((c) => `${c.fieldId}=${c.value}`).join(", "))
    }</small></td><td><small>${escapeHtml(r.createdAt)}</small></td>${hostActionsCell(r)}</tr>`
  ).join("\n");
  const reqs = state.requestLog.slice(-100).reverse().map((e) =>
    `<tr class="${e.status === 0 || e.status >= 500 ? "bad" : e.status >= 400 ? "warn" : ""}">` +
    `<td><small>${escapeHtml(e.time)}</small></td><td>${escapeHtml(e.method)}</td>` +
    `<td><code>${escapeHtml(e.path + e.query)}</code></td><td>${
      e.pending ? "…" : e.status || "DROPPED"
    }</td><td>${escapeHtml(e.fault ?? "")}</td><td>${
      e.committed === null ? "" : e.committed ? "yes" : "no"
    }</td><td>${e.connectionId}${
      e.reusedConnection ? " (reused)" : ""
    }</td><td>${e.durationMs}</td></tr>`
  ).join("\n");
  const { limits } = state;
  const calendars = [...liveByListing(state)].map(([listing, live]) =>
    `<tr><td><code>${escapeHtml(listing)}</code></td><td>${
      live.length === 0
        ? "<small>all free</small>"
        : live.map((r) =>
          `${escapeHtml(r.checkInDateLocalized)} → ${escapeHtml(r.checkOutDateLocalized)} ` +
          `<b>${escapeHtml(r.status)}</b> ${escapeHtml(r.confirmationCode)} ` +
          `<small>(${escapeHtml(r.source ?? "no source")}${
            r.reservedUntilAt ? `, held until ${escapeHtml(r.reservedUntilAt)}` : ""
          })</small>`
        ).join("<br>")
    }</td></tr>`
  ).join("\n");
  const listingOptions = [...state.listings].map((l) =>
    `<option value="${escapeHtml(l)}">${escapeHtml(l)}</option>`
  ).join("");
  return `<!doctype html>
<html><head><meta charset="utf-8">
<script>
// Reload every 2 s, except while someone is filling in the OTA form.
setInterval(() => { if (!document.activeElement?.closest?.("form")) location.reload(); }, 2000);
</script>
<title>Guestly sandbox</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:2rem;font-size:14px}
td,th{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.bad{background:#fde2e2}.warn{background:#fff4d6}
pre{background:#f6f6f6;padding:.5rem}
</style></head><body>
<h1>Guestly sandbox</h1>
<p>Refreshes every 2 s. Limits: ${limits.perSecond}/s, ${limits.perMinute}/min, ${limits.perHour}/h.
Tokens: <code>${escapeHtml(JSON.stringify(tokenStats(state)))}</code></p>
<p>Faults: <code>${escapeHtml(JSON.stringify(state.faults))}</code></p>
<h2>Calendars (nights taken: confirmed, and holds not yet expired)</h2>
<table><tr><th>Listing</th><th>Taken</th></tr>
${calendars}</table>
<form method="post" action="/__sandbox/ota-reservations/form">
<b>Add an OTA reservation</b> (a channel booking, e.g. Airbnb):
<select name="listingId">${listingOptions}</select>
<input name="checkIn" placeholder="check-in YYYY-MM-DD" required>
<input name="checkOut" placeholder="check-out YYYY-MM-DD" required>
<input name="source" value="airbnb2" size="9">
<input name="guestName" placeholder="guest name">
<label><input type="checkbox" name="ignoreCalendar" value="true"> ignore calendar</label>
<button>Add</button></form>
<h2>Reservations (${state.reservations.size})</h2>
<table><tr><th>Code</th><th>_id</th><th>Status</th><th>Listing</th><th>Dates</th><th>Guest</th><th>Guests</th><th>Money</th><th>Payments</th><th>Source</th><th>Custom fields</th><th>Created</th><th>Host</th></tr>
${rows}</table>
<h2>Last 100 requests (newest first)</h2>
<table><tr><th>Time</th><th>Method</th><th>Path</th><th>Status</th><th>Fault</th><th>Committed</th><th>Connection</th><th>ms</th></tr>
${reqs}</table>
${webhooksSection(state)}
</body></html>`;
}

/**
 * An "OTA" reservation (a channel booking, e.g. Airbnb) on chosen dates, the way a test or a
 * person simulates one: straight into the store, past auth, limits and faults. The calendar
 * is checked like any create unless `ignoreCalendar` (channels can double-book too).
 */
function addOtaReservation(ctx: Ctx, body: unknown, asForm = false) {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BadRequest("body must be a JSON object");
  }
  const b = body as Record<string, unknown>;
  const [first, ...rest] = String(b.guestName ?? "Channel Guest").trim().split(/\s+/);
  const input = validateCreate({
    listingId: b.listingId,
    checkInDateLocalized: b.checkIn,
    checkOutDateLocalized: b.checkOut,
    status: b.status ?? "confirmed",
    source: b.source ?? "airbnb2",
    guestsCount: b.guestsCount ?? 2,
    guest: {
      firstName: first || "Channel",
      lastName: rest.join(" ") || "Guest",
      email: b.guestEmail ?? "channel-guest@guest.airbnb.example",
    },
    ...(b.reservedUntil !== undefined ? { reservedUntil: b.reservedUntil } : {}),
  }, ctx.state.listings);
  const ignore = b.ignoreCalendar === true || b.ignoreCalendar === "true";
  const refused = ignore ? null : checkAvailability(ctx.state, input);
  const result = refused ?? insertReservation(ctx.state, { ...input, ignoreCalendar: ignore });
  if (result.reservationId) reservationChanged(ctx.state, result.reservationId);
  if (asForm) {
    if (refused) return json(ctx, refused.status, refused.body);
    return send(ctx, 303, "", "text/plain", { headers: { Location: "/__sandbox/" } });
  }
  json(ctx, result.status, result.body);
}

/**
 * Makes a hold's time run out now (tests cannot wait its reservedUntil): it stops blocking the
 * nights and becomes `expired`, as Guesty's own hold does at its end.
 */
function lapseHold(ctx: Ctx, id: string) {
  const r = ctx.state.reservations.get(id);
  if (!r) return json(ctx, 404, RESERVATION_NOT_FOUND);
  if (r.status !== "reserved") {
    return json(ctx, 409, errBody("NOT_A_HOLD", `reservation ${id} is ${r.status}, not reserved`));
  }
  const now = Date.now();
  r.reservedUntilAt = new Date(now).toISOString();
  expireHolds(ctx.state, now);
  reservationChanged(ctx.state, id);
  json(ctx, 200, r);
}

/**
 * Many reservations at once, straight into the store (no auth, limits, faults, calendar check or
 * webhooks): benchmarks that need thousands of existing reservations (the reconciliation's)
 * would otherwise spend Guesty's hourly limit creating them. `{reservations: [create bodies]}`
 * → 201 `{ids: [...]}` in the same order; a bad one is 422 naming its index, and none is stored.
 */
function seedReservations(ctx: Ctx, body: unknown) {
  const list = (body as { reservations?: unknown })?.reservations;
  if (!Array.isArray(list) || list.length === 0 || list.length > 20_000) {
    throw new BadRequest("reservations must be an array of 1 to 20000 reservation bodies");
  }
  const inputs = list.map((item, i) => {
    try {
      return validateCreate(item, ctx.state.listings);
    } catch (e) {
      if (e instanceof Error) e.message = `reservations[${i}].${e.message}`;
      throw e;
    }
  });
  const ids = inputs.map((input) => insertReservation(ctx.state, input).reservationId);
  json(ctx, 201, { ids });
}

function updateConfig(state: SandboxState, body: unknown) {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BadRequest("body must be a JSON object");
  }
  const b = body as Record<string, unknown>;
  if (b.limits !== undefined) {
    const l = b.limits as Record<string, unknown>;
    if (typeof l !== "object" || l === null) throw new BadRequest("limits must be an object");
    const nl = { ...state.limits };
    for (const k of ["perSecond", "perMinute", "perHour"] as const) {
      if (l[k] === undefined) continue;
      if (!isPositiveInt(l[k])) throw new BadRequest(`limits.${k} must be a positive integer`);
      nl[k] = l[k] as number;
    }
    state.limits = nl;
  }
  if (b.listings !== undefined) {
    const ls = b.listings;
    if (!Array.isArray(ls) || !ls.every((x) => typeof x === "string" && x !== "")) {
      throw new BadRequest("listings must be an array of non-empty strings");
    }
    state.listings = new Set(ls);
  }
  if (b.seed !== undefined) {
    if (!isNonNegInt(b.seed)) throw new BadRequest("seed must be an integer >= 0");
    state.random = seededRandom(b.seed);
  }
}

export function handleAdmin(ctx: Ctx) {
  const { state } = ctx;
  const path = ctx.url.pathname.replace(/\/+$/, "") || "/";
  const method = ctx.req.method ?? "GET";
  const route = `${method} ${path}`;
  const one = /^GET \/__sandbox\/reservations\/([^/]+)$/.exec(route);
  if (one) {
    const r = state.reservations.get(decodeURIComponent(one[1]));
    return r ? json(ctx, 200, r) : json(ctx, 404, RESERVATION_NOT_FOUND);
  }
  const lapse = /^POST \/__sandbox\/reservations\/([^/]+)\/lapse-hold$/.exec(route);
  if (lapse) return lapseHold(ctx, decodeURIComponent(lapse[1]));
  // A reservation deleted in Guestly (by hand, by another integration): gone from every read and
  // search, and, as far as we know of Guesty, no webhook tells anyone (the reconciliation must
  // find it). Past auth, limits and faults, like the host's changes.
  const gone = /^DELETE \/__sandbox\/reservations\/([^/]+)$/.exec(route);
  if (gone) {
    const id = decodeURIComponent(gone[1]);
    if (!state.reservations.delete(id)) return json(ctx, 404, RESERVATION_NOT_FOUND);
    return json(ctx, 200, { deleted: id });
  }
  if (handleWebhookAdmin(ctx, method, path)) return;
  switch (route) {
    case "GET /__sandbox":
      return send(ctx, 200, renderHtml(state), "text/html; charset=utf-8");
    case "GET /__sandbox/health":
      return json(ctx, 200, { ok: true });
    case "GET /__sandbox/reservations":
      return json(ctx, 200, allReservations(state));
    case "GET /__sandbox/requests":
      return json(ctx, 200, filteredRequests(state, ctx.url.searchParams));
    case "GET /__sandbox/requests/count":
      return json(ctx, 200, { count: filteredRequests(state, ctx.url.searchParams).length });
    case "GET /__sandbox/guests":
      return json(ctx, 200, [...state.guests.values()]);
    case "GET /__sandbox/payments":
      return json(ctx, 200, allPayments(state));
    case "GET /__sandbox/tokens":
      return json(ctx, 200, tokenStats(state));
    case "POST /__sandbox/expire-tokens":
      return json(ctx, 200, { expired: expireTokens(state) });
    case "POST /__sandbox/reset":
      resetState(state);
      resetWebhooks(state);
      return json(ctx, 200, { ok: true });
    case "GET /__sandbox/faults":
      return json(ctx, 200, state.faults);
    case "POST /__sandbox/faults":
      state.faults = mergeFaults(state.faults, parseJsonBody(ctx));
      return json(ctx, 200, state.faults);
    case "DELETE /__sandbox/faults":
      state.faults = defaultFaults();
      return json(ctx, 200, state.faults);
    case "POST /__sandbox/seed-reservations":
      return seedReservations(ctx, parseJsonBody(ctx));
    case "POST /__sandbox/ota-reservations":
      return addOtaReservation(ctx, parseJsonBody(ctx));
    case "POST /__sandbox/ota-reservations/form":
      return addOtaReservation(ctx, Object.fromEntries(new URLSearchParams(ctx.body)), true);
    case "GET /__sandbox/calendars":
      return json(
        ctx,
        200,
        Object.fromEntries([...liveByListing(state)].map(([l, live]) => [l, live])),
      );
    case "GET /__sandbox/config":
      return json(ctx, 200, { limits: state.limits, listings: [...state.listings] });
    case "POST /__sandbox/config":
      updateConfig(state, parseJsonBody(ctx));
      return json(ctx, 200, { limits: state.limits, listings: [...state.listings] });
  }
  json(ctx, 404, errBody("NOT_FOUND", `no sandbox route for ${route}`));
}
