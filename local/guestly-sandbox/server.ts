// Guestly sandbox: a local stand-in for the "Guestly" PMS, whose API is modelled on
// Guesty's Open API (OAuth2 client-credentials tokens, reservations-v3, rate limits).
// Local test infrastructure only -- never deployed. See README.md.

import http from "node:http";
import { Buffer } from "node:buffer";
import {
  type CreateReservationInput,
  type ReservationStatus,
  validateCreate,
  validateStatusUpdate,
  ValidationError,
} from "./validate.ts";

export interface RateLimits {
  perSecond: number;
  perMinute: number;
  perHour: number;
}

export interface GuestlySandboxOptions {
  /** 0 = random free port. Default 0. */
  port?: number;
  /** Default 127.0.0.1. */
  hostname?: string;
  /** Default { perSecond: 15, perMinute: 120, perHour: 5000 }. */
  limits?: RateLimits;
  /** Max tokens minted per client per rolling 24 h. Default 5. */
  tokensPerDay?: number;
  /** Default 86400. */
  tokenTtlSeconds?: number;
  /** client_id -> client_secret. Default {"sandbox-client-id": "sandbox-client-secret"}. */
  clients?: Record<string, string>;
  /** Known listing ids. Default: four 24-hex ids (DEFAULT_LISTINGS). */
  listings?: string[];
  /** Suppress per-request console logging. */
  quiet?: boolean;
}

export interface GuestlySandbox {
  url: string;
  port: number;
  close(): Promise<void>;
}

export const DEFAULT_LIMITS: RateLimits = { perSecond: 15, perMinute: 120, perHour: 5000 };
export const DEFAULT_CLIENTS: Record<string, string> = {
  "sandbox-client-id": "sandbox-client-secret",
};
export const DEFAULT_LISTINGS: readonly string[] = [
  "64f1a2b3c4d5e6f7a8b9c0d1",
  "64f1a2b3c4d5e6f7a8b9c0d2",
  "64f1a2b3c4d5e6f7a8b9c0d3",
  "64f1a2b3c4d5e6f7a8b9c0d4",
];

export interface FailSpec {
  /** HTTP status to answer with; 0 = drop the connection without answering. */
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Faults {
  errorRate: number;
  latencyMs: number;
  hangRate: number;
  hangMs: number;
  lostResponseRate: number;
  storm429: { untilMs: number } | null;
  failNext: FailSpec[];
  rejectGuestEmails: string[];
}

export interface Reservation extends CreateReservationInput {
  _id: string;
  reservationId: string;
  confirmationCode: string;
  canceledBy?: string;
  cancellationReason?: string;
  createdAt: string;
  lastUpdatedAt: string;
}

export interface RequestLogEntry {
  time: string;
  method: string;
  path: string;
  query: string;
  status: number; // 0 = no response (connection dropped)
  fault: string | null;
  durationMs: number;
  clientId: string | null;
}

interface TokenRecord {
  clientId: string;
  mintedAt: number;
  expiresAt: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MAX_LOG = 10_000;
const MAX_BODY = 1024 * 1024;

function defaultFaults(): Faults {
  return {
    errorRate: 0,
    latencyMs: 0,
    hangRate: 0,
    hangMs: 60_000,
    lostResponseRate: 0,
    storm429: null,
    failNext: [],
    rejectGuestEmails: [],
  };
}

function randomHex(bytes: number): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function randomToken(): string {
  const b = crypto.getRandomValues(new Uint8Array(36));
  return btoa(String.fromCharCode(...b)).replaceAll("+", "-").replaceAll("/", "_").replaceAll(
    "=",
    "",
  );
}

const ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
function randomCode(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return "GY-" + Array.from(b, (x) => ALNUM[x % ALNUM.length]).join("");
}

/** Index of the first element > since in an ascending array. */
function firstAfter(arr: number[], since: number): number {
  let lo = 0, hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid] > since) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function errBody(code: string, message: string, extra: Record<string, unknown> = {}) {
  return { error: { code, message, ...extra } };
}

function escapeHtml(s: unknown): string {
  return String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v > 0;
}

function isRate(v: unknown): v is number {
  return typeof v === "number" && v >= 0 && v <= 1;
}

function isNonNegNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0;
}

class BadRequest extends Error {}

interface Ctx {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  body: string;
  entry: RequestLogEntry;
  start: number;
  headers: Record<string, string>;
}

export async function startGuestlySandbox(
  options: GuestlySandboxOptions = {},
): Promise<GuestlySandbox> {
  const hostname = options.hostname ?? "127.0.0.1";
  const tokensPerDay = options.tokensPerDay ?? 5;
  const tokenTtlSeconds = options.tokenTtlSeconds ?? 86_400;
  const clients = { ...(options.clients ?? DEFAULT_CLIENTS) };
  const quiet = options.quiet ?? false;

  let limits: RateLimits = { ...(options.limits ?? DEFAULT_LIMITS) };
  let listings = new Set<string>(options.listings ?? DEFAULT_LISTINGS);

  let reservations = new Map<string, Reservation>();
  let requestLog: RequestLogEntry[] = [];
  let faults = defaultFaults();
  let rateWindows = new Map<string, number[]>(); // clientId -> ascending timestamps (last hour)
  let mintHistory = new Map<string, number[]>(); // clientId -> mint timestamps (last 24 h)
  let mintTotals = new Map<string, number>();
  let tokens = new Map<string, TokenRecord>();

  const timers = new Set<ReturnType<typeof setTimeout>>();
  let closed = false;

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (closed) return; // never resolves; the handler is abandoned
      const id = setTimeout(() => {
        timers.delete(id);
        resolve();
      }, ms);
      timers.add(id);
    });
  }

  // ---- response helpers -------------------------------------------------------------

  function finish(ctx: Ctx, status: number) {
    ctx.entry.status = status;
    ctx.entry.durationMs = Math.round((performance.now() - ctx.start) * 10) / 10;
    // Inspector/admin calls are not logged (the auto-refreshing HTML page would flood the log).
    if (ctx.url.pathname === "/__sandbox" || ctx.url.pathname.startsWith("/__sandbox/")) return;
    requestLog.push(ctx.entry);
    if (requestLog.length > MAX_LOG) requestLog = requestLog.slice(-MAX_LOG);
    if (!quiet) {
      console.log(
        `[guestly-sandbox] ${ctx.entry.method} ${ctx.url.pathname}${ctx.url.search} -> ${
          status || "DROPPED"
        }${ctx.entry.fault ? ` (fault: ${ctx.entry.fault})` : ""} ${ctx.entry.durationMs}ms`,
      );
    }
  }

  function send(
    ctx: Ctx,
    status: number,
    payload: string,
    contentType: string,
    headers: Record<string, string> = {},
  ) {
    if (ctx.res.headersSent || ctx.res.destroyed) return;
    const all: Record<string, string> = {
      "Content-Type": contentType,
      "Content-Length": String(Buffer.byteLength(payload)),
      // No keep-alive: Deno's fetch silently re-sends a request once when a *reused*
      // connection drops without an answer, which would turn one lost response into a
      // duplicate create. Fresh connections keep lostResponse/hang deterministic.
      "Connection": "close",
      ...ctx.headers,
      ...headers,
    };
    ctx.res.writeHead(status, all);
    ctx.res.end(payload);
    finish(ctx, status);
  }

  function json(ctx: Ctx, status: number, body: unknown, headers: Record<string, string> = {}) {
    send(ctx, status, JSON.stringify(body), "application/json; charset=utf-8", headers);
  }

  function drop(ctx: Ctx, fault: string) {
    ctx.entry.fault = fault;
    ctx.req.socket.destroy();
    finish(ctx, 0);
  }

  // ---- auth & rate limiting -------------------------------------------------------

  function limitHeaders(): Record<string, string> {
    return {
      "X-RateLimit-Limit-Second": String(limits.perSecond),
      "X-RateLimit-Limit-Minute": String(limits.perMinute),
      "X-RateLimit-Limit-Hour": String(limits.perHour),
    };
  }

  /** Returns null when allowed (slot consumed), or the Retry-After seconds. */
  function rateCheck(ctx: Ctx, clientId: string): number | null {
    const now = Date.now();
    let arr = rateWindows.get(clientId) ?? [];
    const hourStart = firstAfter(arr, now - HOUR);
    if (hourStart > 0) arr = arr.slice(hourStart);
    rateWindows.set(clientId, arr);

    const windows = [
      { name: "Second", ms: SECOND, limit: limits.perSecond },
      { name: "Minute", ms: MINUTE, limit: limits.perMinute },
      { name: "Hour", ms: HOUR, limit: limits.perHour },
    ];
    let retryMs = 0;
    const counts = windows.map((w) => {
      const idx = firstAfter(arr, now - w.ms);
      const count = arr.length - idx;
      if (count >= w.limit) {
        // A slot frees when the entry that keeps us at the limit leaves the window.
        const freeing = arr[idx + Math.max(0, count - w.limit)];
        retryMs = Math.max(retryMs, freeing + w.ms - now);
      }
      return count;
    });
    const allowed = retryMs === 0;
    if (allowed) arr.push(now);
    const headers = limitHeaders();
    windows.forEach((w, i) => {
      const used = counts[i] + (allowed ? 1 : 0);
      headers[`X-RateLimit-Remaining-${w.name}`] = String(Math.max(0, w.limit - used));
    });
    Object.assign(ctx.headers, headers);
    return allowed ? null : Math.max(1, Math.ceil(retryMs / 1000));
  }

  function authenticate(ctx: Ctx): string | null {
    const auth = ctx.req.headers["authorization"];
    const m = typeof auth === "string" ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
    if (!m) {
      json(ctx, 401, errBody("UNAUTHORIZED", "missing bearer token"));
      return null;
    }
    const rec = tokens.get(m[1]);
    if (!rec) {
      json(ctx, 401, errBody("UNAUTHORIZED", "unknown access token"));
      return null;
    }
    if (rec.expiresAt <= Date.now()) {
      json(ctx, 401, errBody("UNAUTHORIZED", "access token expired"));
      return null;
    }
    return rec.clientId;
  }

  // ---- token endpoint ---------------------------------------------------------------

  function handleToken(ctx: Ctx) {
    if (ctx.req.method !== "POST") {
      return json(ctx, 405, errBody("METHOD_NOT_ALLOWED", "use POST"));
    }
    let params: Record<string, string>;
    const ct = String(ctx.req.headers["content-type"] ?? "");
    if (ct.includes("application/json")) {
      try {
        const parsed = JSON.parse(ctx.body || "{}");
        params = Object.fromEntries(
          Object.entries(parsed ?? {}).map(([k, v]) => [k, String(v)]),
        );
      } catch {
        return json(ctx, 400, { error: "invalid_request", error_description: "invalid JSON" });
      }
    } else {
      params = Object.fromEntries(new URLSearchParams(ctx.body));
    }
    if (!params.grant_type) {
      return json(ctx, 400, {
        error: "invalid_request",
        error_description: "grant_type is required",
      });
    }
    if (params.grant_type !== "client_credentials") {
      return json(ctx, 400, {
        error: "unsupported_grant_type",
        error_description: "only client_credentials is supported",
      });
    }
    if (params.scope !== "open-api") {
      return json(ctx, 400, {
        error: "invalid_scope",
        error_description: "scope must be open-api",
      });
    }
    const clientId = params.client_id;
    if (!clientId || !(clientId in clients) || clients[clientId] !== params.client_secret) {
      return json(ctx, 401, {
        error: "invalid_client",
        error_description: "client authentication failed",
      });
    }
    ctx.entry.clientId = clientId;
    const now = Date.now();
    const mints = (mintHistory.get(clientId) ?? []).filter((t) => t > now - DAY);
    mintHistory.set(clientId, mints);
    if (mints.length >= tokensPerDay) {
      const oldest = mints[mints.length - tokensPerDay];
      const retry = Math.max(1, Math.ceil((oldest + DAY - now) / 1000));
      return json(
        ctx,
        429,
        errBody(
          "TOO_MANY_REQUESTS",
          `token mint limit reached (${tokensPerDay} per 24 h); reuse your token`,
        ),
        { "Retry-After": String(retry) },
      );
    }
    mints.push(now);
    mintTotals.set(clientId, (mintTotals.get(clientId) ?? 0) + 1);
    const token = randomToken();
    tokens.set(token, { clientId, mintedAt: now, expiresAt: now + tokenTtlSeconds * 1000 });
    json(ctx, 200, {
      token_type: "Bearer",
      expires_in: tokenTtlSeconds,
      access_token: token,
      scope: "open-api",
    });
  }

  // ---- faults -----------------------------------------------------------------------

  /** Applies pre-operation faults. Returns true if the request was answered/dropped. */
  async function applyFaults(ctx: Ctx): Promise<boolean> {
    if (faults.latencyMs > 0) await sleep(faults.latencyMs);

    const next = faults.failNext.shift();
    if (next) {
      ctx.entry.fault = `failNext(${next.status})`;
      if (next.status === 0) {
        drop(ctx, ctx.entry.fault);
        return true;
      }
      const headers = { ...(next.headers ?? {}) };
      if (next.status === 429 && !Object.keys(headers).some((h) => /^retry-after$/i.test(h))) {
        headers["Retry-After"] = "1";
      }
      if (typeof next.body === "string" && !/json/i.test(headers["Content-Type"] ?? "json")) {
        send(ctx, next.status, next.body, "text/plain; charset=utf-8", headers);
      } else {
        const body = next.body !== undefined
          ? next.body
          : next.status === 429
          ? errBody("TOO_MANY_REQUESTS", "injected fault")
          : errBody("INTERNAL_ERROR", "injected fault");
        json(ctx, next.status, body, headers);
      }
      return true;
    }

    if (faults.storm429) {
      if (Date.now() < faults.storm429.untilMs) {
        ctx.entry.fault = "storm429";
        json(ctx, 429, errBody("TOO_MANY_REQUESTS", "rate limit storm (injected)"), {
          "Retry-After": "1",
        });
        return true;
      }
      faults.storm429 = null;
    }

    if (faults.hangRate > 0 && Math.random() < faults.hangRate) {
      ctx.entry.fault = "hang";
      await sleep(faults.hangMs);
      drop(ctx, "hang");
      return true;
    }

    if (faults.errorRate > 0 && Math.random() < faults.errorRate) {
      const status = [500, 502, 503][Math.floor(Math.random() * 3)];
      ctx.entry.fault = `error(${status})`;
      if (status === 503) {
        send(ctx, 503, "Service Unavailable", "text/plain; charset=utf-8");
      } else json(ctx, status, errBody("INTERNAL_ERROR", "injected fault"));
      return true;
    }
    return false;
  }

  function maybeLoseResponse(ctx: Ctx, status: number, body: unknown) {
    if (faults.lostResponseRate > 0 && Math.random() < faults.lostResponseRate) {
      drop(ctx, `lostResponse(${status})`);
    } else json(ctx, status, body);
  }

  function updateFaults(patch: unknown) {
    if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
      throw new BadRequest("body must be a JSON object");
    }
    const p = patch as Record<string, unknown>;
    const next: Faults = { ...faults, failNext: [...faults.failNext] };
    for (const [k, v] of Object.entries(p)) {
      switch (k) {
        case "errorRate":
        case "hangRate":
        case "lostResponseRate":
          if (!isRate(v)) throw new BadRequest(`${k} must be a number in 0..1`);
          next[k] = v;
          break;
        case "latencyMs":
        case "hangMs":
          if (!isNonNegNumber(v)) throw new BadRequest(`${k} must be a number >= 0`);
          next[k] = v;
          break;
        case "storm429": {
          if (v === null) {
            next.storm429 = null;
            break;
          }
          const s = v as Record<string, unknown>;
          if (typeof s === "object" && isNonNegNumber(s.untilMs)) {
            next.storm429 = { untilMs: s.untilMs };
          } else if (typeof s === "object" && isNonNegNumber(s.durationMs)) {
            next.storm429 = { untilMs: Date.now() + s.durationMs };
          } else throw new BadRequest("storm429 must be {untilMs} or {durationMs} or null");
          break;
        }
        case "failNext":
          if (
            !Array.isArray(v) ||
            !v.every((f) =>
              typeof f === "object" && f !== null && typeof f.status === "number" &&
              (f.status === 0 || (f.status >= 100 && f.status <= 599))
            )
          ) {
            throw new BadRequest("failNext must be an array of {status, body?, headers?}");
          }
          next.failNext = v.map((f) => ({ ...f }));
          break;
        case "rejectGuestEmails":
          if (!Array.isArray(v) || !v.every((e) => typeof e === "string")) {
            throw new BadRequest("rejectGuestEmails must be an array of strings");
          }
          next.rejectGuestEmails = [...v];
          break;
        default:
          throw new BadRequest(`unknown fault key: ${k}`);
      }
    }
    faults = next;
  }

  // ---- reservations ------------------------------------------------------------------

  function parseJsonBody(ctx: Ctx): unknown {
    try {
      return JSON.parse(ctx.body);
    } catch {
      throw new BadRequest("request body must be valid JSON");
    }
  }

  function handleCreate(ctx: Ctx) {
    const input = validateCreate(parseJsonBody(ctx), listings);
    const email = input.guest.email.toLowerCase();
    if (faults.rejectGuestEmails.some((e) => e.toLowerCase() === email)) {
      ctx.entry.fault = "rejectGuestEmail";
      throw new ValidationError("guest.email", "rejected by Guestly");
    }
    let id = randomHex(12);
    while (reservations.has(id)) id = randomHex(12);
    const codes = new Set([...reservations.values()].map((r) => r.confirmationCode));
    let code = randomCode();
    while (codes.has(code)) code = randomCode();
    const now = new Date().toISOString();
    const reservation: Reservation = {
      _id: id,
      reservationId: id,
      confirmationCode: code,
      ...input,
      createdAt: now,
      lastUpdatedAt: now,
    };
    reservations.set(id, reservation);
    maybeLoseResponse(ctx, 201, reservation);
  }

  function handleStatus(ctx: Ctx, id: string) {
    const r = reservations.get(id);
    if (!r) return json(ctx, 404, "Reservation not found");
    const upd = validateStatusUpdate(parseJsonBody(ctx));
    r.status = upd.status as ReservationStatus;
    if (upd.canceledBy !== undefined) r.canceledBy = upd.canceledBy;
    if (upd.cancellationReason !== undefined) r.cancellationReason = upd.cancellationReason;
    r.lastUpdatedAt = new Date().toISOString();
    maybeLoseResponse(ctx, 200, r);
  }

  const SIMPLE_FILTERS = ["confirmationCode", "status", "source", "listingId"] as const;

  function handleSearch(ctx: Ctx) {
    const preds: ((r: Reservation) => boolean)[] = [];
    for (const [key, value] of ctx.url.searchParams) {
      const m = /^filter\[(.+)\]$/.exec(key);
      if (!m) {
        if (key.startsWith("filter")) {
          return json(ctx, 400, errBody("BAD_REQUEST", `unsupported filter: ${key}`));
        }
        continue;
      }
      const name = m[1];
      if ((SIMPLE_FILTERS as readonly string[]).includes(name)) {
        const f = name as typeof SIMPLE_FILTERS[number];
        preds.push((r) => r[f] === value);
      } else if (name.startsWith("customFields.") && name.length > "customFields.".length) {
        const fieldId = name.slice("customFields.".length);
        preds.push((r) => r.customFields.some((c) => c.fieldId === fieldId && c.value === value));
      } else {
        return json(ctx, 400, errBody("BAD_REQUEST", `unsupported filter: ${key}`));
      }
    }
    const intParam = (name: string, def: number): number => {
      const raw = ctx.url.searchParams.get(name);
      if (raw === null || raw === "") return def;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) throw new BadRequest(`${name} must be an integer >= 0`);
      return n;
    };
    const limit = Math.min(100, Math.max(1, intParam("limit", 25)));
    const skip = intParam("skip", 0);
    const matches = [...reservations.values()].filter((r) => preds.every((p) => p(r)));
    json(ctx, 200, {
      results: matches.slice(skip, skip + limit),
      count: matches.length,
      limit,
      skip,
    });
  }

  async function handleV1(ctx: Ctx) {
    Object.assign(ctx.headers, limitHeaders());
    const clientId = authenticate(ctx);
    if (!clientId) return;
    ctx.entry.clientId = clientId;
    const retry = rateCheck(ctx, clientId);
    if (retry !== null) {
      return json(ctx, 429, errBody("TOO_MANY_REQUESTS", "rate limit exceeded"), {
        "Retry-After": String(retry),
      });
    }
    const path = ctx.url.pathname.replace(/\/+$/, "");
    const method = ctx.req.method ?? "GET";

    if (path === "/v1/reservations" || path.startsWith("/v1/reservations/")) {
      return json(
        ctx,
        410,
        errBody("GONE", "legacy reservations API removed; use reservations-v3"),
      );
    }
    if (path === "/v1/reservations-v3" || path.startsWith("/v1/reservations-v3/")) {
      if (await applyFaults(ctx)) return;
      const parts = path.split("/").slice(3); // after "", "v1", "reservations-v3"
      if (parts.length === 0) {
        if (method === "POST") return handleCreate(ctx);
        return json(ctx, 405, errBody("METHOD_NOT_ALLOWED", `${method} not allowed`));
      }
      if (parts.length === 1 && parts[0] === "search") {
        if (method === "GET") return handleSearch(ctx);
        return json(ctx, 405, errBody("METHOD_NOT_ALLOWED", `${method} not allowed`));
      }
      if (parts.length === 1 && method === "GET") {
        const r = reservations.get(parts[0]);
        return r ? json(ctx, 200, r) : json(ctx, 404, "Reservation not found");
      }
      if (parts.length === 2 && parts[1] === "status") {
        if (method === "PUT") return handleStatus(ctx, parts[0]);
        return json(ctx, 405, errBody("METHOD_NOT_ALLOWED", `${method} not allowed`));
      }
    }
    json(ctx, 404, errBody("NOT_FOUND", `no route for ${method} ${ctx.url.pathname}`));
  }

  // ---- admin / inspector --------------------------------------------------------------

  function tokenStats() {
    const now = Date.now();
    const perClient: Record<string, { minted: number; mintedLast24h: number; active: number }> = {};
    for (const id of new Set([...Object.keys(clients), ...mintTotals.keys()])) {
      perClient[id] = {
        minted: mintTotals.get(id) ?? 0,
        mintedLast24h: (mintHistory.get(id) ?? []).filter((t) => t > now - DAY).length,
        active: 0,
      };
    }
    let active = 0;
    for (const t of tokens.values()) {
      if (t.expiresAt > now) {
        active++;
        if (perClient[t.clientId]) perClient[t.clientId].active++;
      }
    }
    const minted = [...mintTotals.values()].reduce((a, b) => a + b, 0);
    return { minted, active, perClient };
  }

  function renderHtml(): string {
    const rows = [...reservations.values()].reverse().map((r) =>
      `<tr><td>${escapeHtml(r.confirmationCode)}</td><td><code>${
        escapeHtml(r._id)
      }</code></td><td>${escapeHtml(r.status)}</td><td><code>${
        escapeHtml(r.listingId)
      }</code></td>` +
      `<td>${escapeHtml(r.checkInDateLocalized)} → ${escapeHtml(r.checkOutDateLocalized)}</td>` +
      `<td>${escapeHtml(r.guest.firstName)} ${escapeHtml(r.guest.lastName)}<br><small>${
        escapeHtml(r.guest.email)
      }</small></td><td>${escapeHtml(r.source)}</td><td><small>${
        escapeHtml(r.customFields.map((c) => `${c.fieldId}=${c.value}`).join(", "))
      }</small></td><td><small>${escapeHtml(r.createdAt)}</small></td></tr>`
    ).join("\n");
    const reqs = requestLog.slice(-100).reverse().map((e) =>
      `<tr class="${e.status === 0 || e.status >= 500 ? "bad" : e.status >= 400 ? "warn" : ""}">` +
      `<td><small>${escapeHtml(e.time)}</small></td><td>${escapeHtml(e.method)}</td>` +
      `<td><code>${escapeHtml(e.path + e.query)}</code></td><td>${e.status || "DROPPED"}</td><td>${
        escapeHtml(e.fault ?? "")
      }</td><td>${e.durationMs}</td></tr>`
    ).join("\n");
    return `<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>Guestly sandbox</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:2rem;font-size:14px}
td,th{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.bad{background:#fde2e2}.warn{background:#fff4d6}
pre{background:#f6f6f6;padding:.5rem}
</style></head><body>
<h1>Guestly sandbox</h1>
<p>Auto-refreshes every 2 s. Limits: ${limits.perSecond}/s, ${limits.perMinute}/min, ${limits.perHour}/h.
Tokens: <code>${escapeHtml(JSON.stringify(tokenStats()))}</code></p>
<p>Faults: <code>${escapeHtml(JSON.stringify(faults))}</code></p>
<h2>Reservations (${reservations.size})</h2>
<table><tr><th>Code</th><th>_id</th><th>Status</th><th>Listing</th><th>Dates</th><th>Guest</th><th>Source</th><th>Custom fields</th><th>Created</th></tr>
${rows}</table>
<h2>Last 100 requests (newest first)</h2>
<table><tr><th>Time</th><th>Method</th><th>Path</th><th>Status</th><th>Fault</th><th>ms</th></tr>
${reqs}</table>
</body></html>`;
  }

  function handleAdmin(ctx: Ctx) {
    const path = ctx.url.pathname.replace(/\/+$/, "") || "/";
    const method = ctx.req.method ?? "GET";
    const route = `${method} ${path}`;
    switch (route) {
      case "GET /__sandbox":
        return send(ctx, 200, renderHtml(), "text/html; charset=utf-8");
      case "GET /__sandbox/health":
        return json(ctx, 200, { ok: true });
      case "GET /__sandbox/reservations":
        return json(ctx, 200, [...reservations.values()]);
      case "GET /__sandbox/requests":
        return json(ctx, 200, requestLog);
      case "GET /__sandbox/tokens":
        return json(ctx, 200, tokenStats());
      case "POST /__sandbox/expire-tokens": {
        const now = Date.now();
        let expired = 0;
        for (const t of tokens.values()) {
          if (t.expiresAt > now) {
            t.expiresAt = now;
            expired++;
          }
        }
        return json(ctx, 200, { expired });
      }
      case "POST /__sandbox/reset":
        reservations = new Map();
        requestLog = [];
        faults = defaultFaults();
        rateWindows = new Map();
        mintHistory = new Map();
        mintTotals = new Map();
        tokens = new Map();
        return json(ctx, 200, { ok: true });
      case "GET /__sandbox/faults":
        return json(ctx, 200, faults);
      case "POST /__sandbox/faults":
        updateFaults(parseJsonBody(ctx));
        return json(ctx, 200, faults);
      case "DELETE /__sandbox/faults":
        faults = defaultFaults();
        return json(ctx, 200, faults);
      case "GET /__sandbox/config":
        return json(ctx, 200, { limits, listings: [...listings] });
      case "POST /__sandbox/config": {
        const body = parseJsonBody(ctx) as Record<string, unknown> | null;
        if (typeof body !== "object" || body === null) {
          throw new BadRequest("body must be a JSON object");
        }
        if (body.limits !== undefined) {
          const l = body.limits as Record<string, unknown>;
          if (typeof l !== "object" || l === null) throw new BadRequest("limits must be an object");
          const nl = { ...limits };
          for (const k of ["perSecond", "perMinute", "perHour"] as const) {
            if (l[k] === undefined) continue;
            if (!isPositiveInt(l[k])) {
              throw new BadRequest(`limits.${k} must be a positive integer`);
            }
            nl[k] = l[k] as number;
          }
          limits = nl;
        }
        if (body.listings !== undefined) {
          const ls = body.listings;
          if (!Array.isArray(ls) || !ls.every((x) => typeof x === "string" && x !== "")) {
            throw new BadRequest("listings must be an array of non-empty strings");
          }
          listings = new Set(ls);
        }
        return json(ctx, 200, { limits, listings: [...listings] });
      }
    }
    json(ctx, 404, errBody("NOT_FOUND", `no sandbox route for ${route}`));
  }

  // ---- dispatch ----------------------------------------------------------------------

  async function dispatch(ctx: Ctx) {
    const path = ctx.url.pathname;
    if (path === "/oauth2/token") return handleToken(ctx);
    if (path === "/v1" || path.startsWith("/v1/")) return await handleV1(ctx);
    if (path === "/__sandbox" || path.startsWith("/__sandbox/")) return handleAdmin(ctx);
    if (path === "/" && ctx.req.method === "GET") {
      return send(ctx, 302, "", "text/plain", { Location: "/__sandbox/" });
    }
    json(ctx, 404, errBody("NOT_FOUND", `no route for ${ctx.req.method} ${path}`));
  }

  function readBody(req: http.IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) {
          reject(new BadRequest("request body too large"));
          return;
        }
        chunks.push(c);
      });
      req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      req.on("error", reject);
    });
  }

  async function onRequest(req: http.IncomingMessage, res: http.ServerResponse) {
    const start = performance.now();
    const url = new URL(req.url ?? "/", "http://sandbox.local");
    const ctx: Ctx = {
      req,
      res,
      url,
      body: "",
      start,
      headers: {},
      entry: {
        time: new Date().toISOString(),
        method: req.method ?? "GET",
        path: url.pathname,
        query: url.search,
        status: 0,
        fault: null,
        durationMs: 0,
        clientId: null,
      },
    };
    try {
      ctx.body = await readBody(req);
      await dispatch(ctx);
    } catch (e) {
      if (e instanceof ValidationError) {
        json(ctx, 422, errBody("VALIDATION_ERROR", e.message, { field: e.field }));
      } else if (e instanceof BadRequest) {
        json(ctx, 400, errBody("BAD_REQUEST", e.message));
      } else {
        if (!quiet) console.error("[guestly-sandbox] handler error", e);
        json(ctx, 500, errBody("INTERNAL_ERROR", "sandbox bug: " + String(e)));
      }
    }
  }

  const server = http.createServer((req, res) => {
    onRequest(req, res).catch(() => {});
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : (options.port ?? 0);
  const hostForUrl = hostname.includes(":") ? `[${hostname}]` : hostname;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${hostForUrl}:${port}`,
    port,
    close() {
      if (closing) return closing;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      closing = new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
