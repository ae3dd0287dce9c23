// Guestly sandbox: a local stand-in for the "Guestly" PMS, whose API is modelled on
// Guesty's Open API (OAuth2 client-credentials tokens, reservations-v3, rate limits), with a
// fault layer that behaves like the gateways in front of it. Local test infrastructure only --
// never deployed. See README.md.
//
// This file wires the concerns together: auth.ts (tokens, rate limits), reservations.ts,
// modifications.ts (dates, guests, relocate), guests.ts (guest profiles), payments.ts
// (recorded payments, refunds, money totals), faults.ts, admin.ts (inspector), calendar.ts
// (availability, holds, the calendar API), http.ts (request context, answers), state.ts.
// New APIs (calendars, webhooks) add a module with a `route…(method, path)` and one line in
// `routeV1` below.

import http from "node:http";
import type net from "node:net";
import { admitV1, handleToken, newAuthState } from "./auth.ts";
import { handleAdmin } from "./admin.ts";
import { routeCalendar } from "./calendar.ts";
import { routeGuests } from "./guests.ts";
import { routePayments } from "./payments.ts";
import { configureWebhooks, routeWebhooks } from "./webhooks.ts";
import { defaultFaults, handleWithFaults } from "./faults.ts";
import { BadRequest, type Ctx, errBody, isAdminPath, json, readBody, send } from "./http.ts";
import {
  answerLegacy,
  isLegacyReservations,
  type Route,
  routeLegacyRead,
  routeReservations,
} from "./reservations.ts";
import {
  DEFAULT_CLIENTS,
  DEFAULT_LIMITS,
  DEFAULT_LISTINGS,
  MAX_LOG,
  type RateLimits,
  type SandboxState,
  seededRandom,
} from "./state.ts";
import { ValidationError } from "./validate.ts";
import { sandboxNeedsOwnProcess, startSandboxProcess } from "./own-process.ts";

export { DEFAULT_CLIENTS, DEFAULT_LIMITS, DEFAULT_LISTINGS, seededRandom };
export type { RateLimits, RequestLogEntry, Reservation } from "./state.ts";
export type { FailSpec, Faults } from "./faults.ts";

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
  /** Random source in [0, 1) for every rate-based fault. Default Math.random. */
  random?: () => number;
  /** Shorthand for `random: seededRandom(seed)`. */
  seed?: number;
  /** The webhook signing secret (`whsec_…`); default random. See webhooks.ts. */
  webhookSecret?: string;
  /** Multiplies the Svix-like webhook retry schedule (tests: e.g. 0.001). Default 1. */
  webhookRetryScale?: number;
}

export interface GuestlySandbox {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Every API under /v1 that the sandbox models. */
function routeV1(method: string, path: string): Route | null {
  return routeReservations(method, path) ?? routeCalendar(method, path) ??
    routeGuests(method, path) ?? routeWebhooks(method, path);
}

async function handleV1(ctx: Ctx) {
  const path = ctx.url.pathname.replace(/\/+$/, "");
  const method = ctx.req.method ?? "GET";
  if (!admitV1(ctx)) return;
  // The legacy payment endpoints have no removal date (payments.ts); the rest of the legacy
  // reservations API is gone.
  const payments = routePayments(method, path);
  if (payments) return await handleWithFaults(ctx, payments);
  const legacyRead = routeLegacyRead(method, path);
  if (legacyRead) return await handleWithFaults(ctx, legacyRead);
  if (isLegacyReservations(path)) return answerLegacy(ctx);
  const route = routeV1(method, path);
  if (route) return await handleWithFaults(ctx, route);
  json(ctx, 404, errBody("NOT_FOUND", `no route for ${method} ${ctx.url.pathname}`));
}

async function dispatch(ctx: Ctx) {
  const path = ctx.url.pathname;
  if (path === "/oauth2/token") return handleToken(ctx);
  if (path === "/v1" || path.startsWith("/v1/")) return await handleV1(ctx);
  if (isAdminPath(path)) return handleAdmin(ctx);
  if (path === "/" && ctx.req.method === "GET") {
    return send(ctx, 302, "", "text/plain", { headers: { Location: "/__sandbox/" } });
  }
  json(ctx, 404, errBody("NOT_FOUND", `no route for ${ctx.req.method} ${path}`));
}

/**
 * Starts a sandbox in this process — or, on a Deno other than the tooling's (the hosted
 * runtime's 2.1, whose node:http cannot drop a connection), in a process of its own on the
 * tooling's Deno (own-process.ts). A `random` function cannot leave the process: with one, the
 * sandbox always runs here.
 */
export function startGuestlySandbox(options: GuestlySandboxOptions = {}): Promise<GuestlySandbox> {
  return sandboxNeedsOwnProcess(options) ? startSandboxProcess(options) : startSandboxHere(options);
}

async function startSandboxHere(options: GuestlySandboxOptions): Promise<GuestlySandbox> {
  const hostname = options.hostname ?? "127.0.0.1";
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let closed = false;

  const state: SandboxState = {
    quiet: options.quiet ?? false,
    tokensPerDay: options.tokensPerDay ?? 5,
    tokenTtlSeconds: options.tokenTtlSeconds ?? 86_400,
    clients: { ...(options.clients ?? DEFAULT_CLIENTS) },
    limits: { ...(options.limits ?? DEFAULT_LIMITS) },
    listings: new Set<string>(options.listings ?? DEFAULT_LISTINGS),
    reservations: new Map(),
    guests: new Map(),
    requestLog: [],
    faults: defaultFaults(),
    auth: newAuthState(),
    random: options.random ??
      (options.seed !== undefined ? seededRandom(options.seed) : Math.random),
    sleep(ms: number): Promise<void> {
      return new Promise((resolve) => {
        if (closed) return; // never resolves; the handler is abandoned
        const id = setTimeout(() => {
          timers.delete(id);
          resolve();
        }, ms);
        timers.add(id);
      });
    },
  };

  configureWebhooks(state, {
    secret: options.webhookSecret,
    retryScale: options.webhookRetryScale,
  });

  // Keep-alive like Guesty: one id per TCP connection, and how many requests it has served.
  const connections = new WeakMap<net.Socket, { id: number; served: number }>();
  let connectionCount = 0;

  // Answers not sent yet. On Deno 2.1 a dropped request stays pending (socket.destroy() closes
  // nothing there) and server.close() waits for it: close() ends them.
  const unanswered = new Set<http.ServerResponse>();

  async function onRequest(req: http.IncomingMessage, res: http.ServerResponse) {
    unanswered.add(res);
    const forget = () => unanswered.delete(res);
    res.on("finish", forget);
    res.on("close", forget);
    const start = performance.now();
    const url = new URL(req.url ?? "/", "http://sandbox.local");
    let conn = connections.get(req.socket);
    if (!conn) {
      conn = { id: ++connectionCount, served: 0 };
      connections.set(req.socket, conn);
    }
    const reusedConnection = conn.served > 0;
    conn.served++;
    const ctx: Ctx = {
      state,
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
        connectionId: conn.id,
        reusedConnection,
        committed: null,
        reservationId: null,
        pending: true,
      },
    };
    try {
      ctx.body = await readBody(req);
      // Logged on arrival (inspector calls are not: the auto-refreshing page would flood it),
      // so requests still being handled (a slow commit) are visible with `pending: true`.
      if (!isAdminPath(url.pathname)) {
        state.requestLog.push(ctx.entry);
        if (state.requestLog.length > MAX_LOG) {
          state.requestLog = state.requestLog.slice(-MAX_LOG);
        }
      }
      await dispatch(ctx);
    } catch (e) {
      if (e instanceof ValidationError) {
        json(ctx, 422, errBody("VALIDATION_ERROR", e.message, { field: e.field }));
      } else if (e instanceof BadRequest) {
        json(ctx, 400, errBody("BAD_REQUEST", e.message));
      } else {
        if (!state.quiet) console.error("[guestly-sandbox] handler error", e);
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
        for (const res of unanswered) {
          if (!res.headersSent) res.statusCode = 503;
          res.end();
        }
      });
      return closing;
    },
  };
}
