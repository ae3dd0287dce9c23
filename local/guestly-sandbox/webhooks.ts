// Webhook subscriptions, Guesty-style: `POST /v1/webhooks` {url, events}, `GET /v1/webhooks`,
// `GET|PUT|DELETE /v1/webhooks/{id}`, and the account's signing secret at
// `GET /v1/webhooks-v2/secret` (a Svix secret, `whsec_…`). What is sent to the subscribers, and
// how, is webhook-delivery.ts. Subscriptions and the secret are the account's configuration: a
// `POST /__sandbox/reset` keeps them (the stack registers once, tests reset often).
// Assumptions: docs/guestly-api.md, "Webhooks (sandbox model)".

import { Buffer } from "node:buffer";
import { BadRequest, type Ctx, errBody, isNonNegNumber, json, parseJsonBody } from "./http.ts";
import type { OpResult, Route } from "./reservations.ts";
import { newId, type SandboxState } from "./state.ts";

/** The events the sandbox emits; others may be subscribed to (Guesty has many) but never fire. */
export const RESERVATION_EVENTS = ["reservation.created.v2", "reservation.updated.v2"] as const;
export type ReservationEvent = typeof RESERVATION_EVENTS[number];

export interface Subscription {
  _id: string;
  url: string;
  events: string[];
  createdAt: string;
  updatedAt: string;
}

/** Svix-like retry schedule after a failed attempt (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h). */
export const SVIX_RETRY_SCHEDULE_MS = [
  5_000,
  300_000,
  1_800_000,
  7_200_000,
  18_000_000,
  36_000_000,
  36_000_000,
];

export interface WebhookConfig {
  /** Which header names carry id/timestamp/signature: Svix's (`svix-*`) or `webhook-*`. */
  headerFamily: "svix" | "webhook";
  /** Waits between attempts; one attempt more than entries. */
  retryScheduleMs: number[];
  /** An attempt without an answer by then counts as failed (Svix: 15 s). */
  timeoutMs: number;
}

export interface WebhookFaults {
  /** The next n messages are never delivered (no attempt, no retry). */
  dropNext: number;
  dropRate: number;
  /** The next n messages are delivered twice (same message id). */
  duplicateNext: number;
  duplicateRate: number;
  /** Every message waits this long before its first attempt. */
  delayMs: number;
  /** The next n messages are held and then delivered in reverse order. */
  reorderNext: number;
  /** Held messages are let go (reversed) after this long even if fewer than n arrived. */
  reorderHoldMs: number;
}

export function defaultWebhookFaults(): WebhookFaults {
  return {
    dropNext: 0,
    dropRate: 0,
    duplicateNext: 0,
    duplicateRate: 0,
    delayMs: 0,
    reorderNext: 0,
    reorderHoldMs: 2_000,
  };
}

export interface DeliveryAttempt {
  messageId: string;
  event: string;
  reservationId: string;
  publishedAt: string;
  subscriptionId: string;
  url: string;
  /** 1 for the first attempt of a delivery; a duplicate delivery counts from 1 again. */
  attempt: number;
  /** 0 = no answer (connection failed, timed out) or never sent (dropped). */
  status: number;
  fault: string | null;
  error: string | null;
  sentAt: string;
  durationMs: number;
  /** A later attempt follows (non-2xx with schedule left). */
  willRetry: boolean;
}

export interface HeldMessage {
  /** Delivers the message (with its retries); resolves when that is over. */
  send: () => Promise<void>;
}

export interface WebhookState {
  secret: string;
  subscriptions: Map<string, Subscription>;
  config: WebhookConfig;
  faults: WebhookFaults;
  deliveries: DeliveryAttempt[];
  /** What each reservation looked like when its last event was made (the diff gives subtypes). */
  snapshots: Map<string, Record<string, unknown>>;
  held: HeldMessage[];
  heldTimer: ReturnType<typeof setTimeout> | null;
  /** Bumped by reset: deliveries of an earlier generation stop retrying. */
  generation: number;
  lastPublishedMs: number;
  fetch: typeof fetch;
}

const states = new WeakMap<SandboxState, WebhookState>();
const MAX_DELIVERIES = 10_000;

export function newWebhookSecret(): string {
  return `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64")}`;
}

export interface WebhookOptions {
  /** The account's signing secret (`whsec_` + base64). Default: a random one. */
  secret?: string;
  /** Multiplies the Svix-like retry schedule (e.g. 0.001 in tests). Default 1. */
  retryScale?: number;
  fetch?: typeof fetch;
}

export function configureWebhooks(state: SandboxState, options: WebhookOptions = {}): void {
  const scale = options.retryScale ?? 1;
  if (!(scale > 0)) throw new Error("webhook retry scale must be > 0");
  if (options.secret !== undefined && !/^whsec_[A-Za-z0-9+/=]{16,}$/.test(options.secret)) {
    throw new Error("the webhook secret must be whsec_ followed by base64 (at least 16 chars)");
  }
  states.set(state, {
    secret: options.secret ?? newWebhookSecret(),
    subscriptions: new Map(),
    config: {
      headerFamily: "svix",
      retryScheduleMs: SVIX_RETRY_SCHEDULE_MS.map((ms) => Math.round(ms * scale)),
      timeoutMs: 15_000,
    },
    faults: defaultWebhookFaults(),
    deliveries: [],
    snapshots: new Map(),
    held: [],
    heldTimer: null,
    generation: 0,
    lastPublishedMs: 0,
    fetch: options.fetch ?? fetch,
  });
}

export function webhooks(state: SandboxState): WebhookState {
  let ws = states.get(state);
  if (!ws) {
    configureWebhooks(state);
    ws = states.get(state)!;
  }
  return ws;
}

/** Reset: deliveries, faults and snapshots go; subscriptions, secret and config stay. */
export function resetWebhooks(state: SandboxState): void {
  const ws = webhooks(state);
  ws.generation++;
  ws.deliveries = [];
  ws.faults = defaultWebhookFaults();
  ws.snapshots = new Map();
  ws.held = [];
  if (ws.heldTimer) clearTimeout(ws.heldTimer);
  ws.heldTimer = null;
}

export function logDelivery(ws: WebhookState, entry: DeliveryAttempt): void {
  ws.deliveries.push(entry);
  if (ws.deliveries.length > MAX_DELIVERIES) ws.deliveries = ws.deliveries.slice(-MAX_DELIVERIES);
}

// ---- subscriptions ------------------------------------------------------------------------

function validUrl(v: unknown): string {
  if (typeof v !== "string") throw new BadRequest("url must be a string");
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new BadRequest("url must be an absolute http(s) URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new BadRequest("url must be an absolute http(s) URL");
  }
  return url.toString();
}

function validEvents(v: unknown): string[] {
  if (
    !Array.isArray(v) || v.length === 0 ||
    !v.every((e) => typeof e === "string" && /^[A-Za-z0-9_.]+$/.test(e))
  ) {
    throw new BadRequest("events must be a non-empty array of event names");
  }
  return [...new Set(v as string[])];
}

function bodyObject(ctx: Ctx): Record<string, unknown> {
  const body = parseJsonBody(ctx);
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BadRequest("body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

/**
 * Adds a subscription, or (same URL already subscribed) changes its events: registering twice
 * never makes two deliveries of each event.
 */
export function subscribe(state: SandboxState, url: unknown, events: unknown): OpResult {
  const ws = webhooks(state);
  const clean = validUrl(url);
  const list = validEvents(events ?? [...RESERVATION_EVENTS]);
  const now = new Date().toISOString();
  const existing = [...ws.subscriptions.values()].find((s) => s.url === clean);
  if (existing) {
    existing.events = list;
    existing.updatedAt = now;
    return { status: 200, body: existing };
  }
  const sub: Subscription = {
    _id: newId(),
    url: clean,
    events: list,
    createdAt: now,
    updatedAt: now,
  };
  ws.subscriptions.set(sub._id, sub);
  return { status: 201, body: sub };
}

function asOp(fn: () => OpResult): OpResult {
  try {
    return fn();
  } catch (e) {
    if (e instanceof BadRequest) return { status: 400, body: errBody("BAD_REQUEST", e.message) };
    throw e;
  }
}

const NOT_FOUND: OpResult = { status: 404, body: errBody("NOT_FOUND", "Webhook not found") };

function update(ctx: Ctx, id: string): OpResult {
  const sub = webhooks(ctx.state).subscriptions.get(id);
  if (!sub) return NOT_FOUND;
  const body = bodyObject(ctx);
  if (body.url !== undefined) sub.url = validUrl(body.url);
  if (body.events !== undefined) sub.events = validEvents(body.events);
  sub.updatedAt = new Date().toISOString();
  // Guesty's definition answers the PUT with an array (the updated subscription in it).
  return { status: 200, body: [sub] };
}

function remove(ctx: Ctx, id: string): OpResult {
  const ws = webhooks(ctx.state);
  const sub = ws.subscriptions.get(id);
  if (!sub) return NOT_FOUND;
  ws.subscriptions.delete(id);
  return { status: 200, body: sub };
}

const read = (handle: (ctx: Ctx) => void): Route => ({ kind: "read", handle });
const mutation = (name: string, perform: (ctx: Ctx) => OpResult): Route => ({
  kind: "mutation",
  name,
  perform: (ctx) => asOp(() => perform(ctx)),
});

/** The route for `/v1/webhooks[/{id}]` and `/v1/webhooks-v2/secret`; null for other paths. */
export function routeWebhooks(method: string, path: string): Route | null {
  if (path === "/v1/webhooks-v2/secret") {
    return method === "GET"
      ? read((ctx) => json(ctx, 200, { secret: webhooks(ctx.state).secret }))
      : read((ctx) => json(ctx, 405, errBody("METHOD_NOT_ALLOWED", `${method} not allowed`)));
  }
  if (path !== "/v1/webhooks" && !path.startsWith("/v1/webhooks/")) return null;
  const id = path === "/v1/webhooks"
    ? null
    : decodeURIComponent(path.slice("/v1/webhooks/".length));
  if (id === null) {
    if (method === "GET") {
      return read((ctx) => json(ctx, 200, [...webhooks(ctx.state).subscriptions.values()]));
    }
    if (method === "POST") {
      return mutation("webhook-create", (ctx) => {
        const body = bodyObject(ctx);
        if (body.events === undefined) throw new BadRequest("events is required");
        return subscribe(ctx.state, body.url, body.events);
      });
    }
  } else if (id !== "" && !id.includes("/")) {
    if (method === "GET") {
      return read((ctx) => {
        const sub = webhooks(ctx.state).subscriptions.get(id);
        return sub ? json(ctx, 200, sub) : json(ctx, NOT_FOUND.status, NOT_FOUND.body);
      });
    }
    if (method === "PUT") return mutation("webhook-update", (ctx) => update(ctx, id));
    if (method === "DELETE") return mutation("webhook-delete", (ctx) => remove(ctx, id));
  }
  return read((ctx) =>
    json(ctx, 404, errBody("NOT_FOUND", `no route for ${method} ${ctx.url.pathname}`))
  );
}

// ---- admin settings (POST /__sandbox/webhook-faults, /__sandbox/webhook-config) ------------

function nonNegInt(k: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new BadRequest(`${k} must be an integer >= 0`);
  }
  return v;
}

function rate(k: string, v: unknown): number {
  if (typeof v !== "number" || !(v >= 0 && v <= 1)) throw new BadRequest(`${k} must be 0..1`);
  return v;
}

function ms(k: string, v: unknown): number {
  if (!isNonNegNumber(v)) throw new BadRequest(`${k} must be a number of ms >= 0`);
  return v;
}

export function mergeWebhookFaults(current: WebhookFaults, patch: unknown): WebhookFaults {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
    throw new BadRequest("body must be a JSON object");
  }
  const next = { ...current };
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    switch (k) {
      case "dropNext":
      case "duplicateNext":
      case "reorderNext":
        next[k] = nonNegInt(k, v);
        break;
      case "dropRate":
      case "duplicateRate":
        next[k] = rate(k, v);
        break;
      case "delayMs":
      case "reorderHoldMs":
        next[k] = ms(k, v);
        break;
      default:
        throw new BadRequest(`unknown webhook fault key: ${k}`);
    }
  }
  return next;
}

export function mergeWebhookConfig(current: WebhookConfig, patch: unknown): WebhookConfig {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
    throw new BadRequest("body must be a JSON object");
  }
  const next = { ...current, retryScheduleMs: [...current.retryScheduleMs] };
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    switch (k) {
      case "headerFamily":
        if (v !== "svix" && v !== "webhook") {
          throw new BadRequest('headerFamily must be "svix" or "webhook"');
        }
        next.headerFamily = v;
        break;
      case "retryScheduleMs":
        if (!Array.isArray(v) || !v.every(isNonNegNumber)) {
          throw new BadRequest("retryScheduleMs must be an array of ms >= 0");
        }
        next.retryScheduleMs = [...v];
        break;
      case "timeoutMs":
        next.timeoutMs = ms(k, v);
        break;
      default:
        throw new BadRequest(`unknown webhook config key: ${k}`);
    }
  }
  return next;
}
