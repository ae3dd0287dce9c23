// Fault injection for the modelled API (`/v1/reservations-v3*`, guests, payments, calendars):
// the ways Guesty (and the gateways in front of it)
// misbehave. Answer faults refuse before anything happens; commit faults (mutations only)
// perform the operation and then lie about it, the way a 502/503/504 from a proxy or a slow
// backend does. Order per request (README.md): latency → failNext → storm429 → hang → errorRate
// → [mutations] dropReusedCreates → slowCommit → commitThen504 → commitThenError → operation
// → lostResponse.

import {
  BadRequest,
  type Ctx,
  drop,
  errBody,
  isNonNegInt,
  isNonNegNumber,
  isRate,
  json,
  send,
} from "./http.ts";
import type { OpResult, Route } from "./reservations.ts";
import { reservationChanged } from "./webhook-delivery.ts";

export interface FailSpec {
  /** HTTP status to answer with; 0 = drop the connection without answering. */
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Mutations: perform the operation, then answer `status` (2xx = the real answer). */
  commit?: boolean;
  /** Wait this long before answering (with commit: after performing, unless commitAfterDelay). */
  delayMs?: number;
  /** With commit: wait `delayMs` first, then perform, then answer (a slow commit). */
  commitAfterDelay?: boolean;
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
  commitThenErrorRate: number;
  commitThenErrorStatuses: number[];
  commitThen504Rate: number;
  commitThen504DelayMs: number;
  slowCommitRate: number;
  slowCommitMs: number;
  dropReusedCreates: number;
  /** Payments posted sooner than this after their reservation's create → 404 (payments.ts). */
  paymentsNotReadyMs: number;
}

export function defaultFaults(): Faults {
  return {
    errorRate: 0,
    latencyMs: 0,
    hangRate: 0,
    hangMs: 60_000,
    lostResponseRate: 0,
    storm429: null,
    failNext: [],
    rejectGuestEmails: [],
    commitThenErrorRate: 0,
    commitThenErrorStatuses: [502, 503],
    commitThen504Rate: 0,
    commitThen504DelayMs: 5_000,
    slowCommitRate: 0,
    slowCommitMs: 10_000,
    dropReusedCreates: 0,
    paymentsNotReadyMs: 0,
  };
}

// ---- gateway answers ------------------------------------------------------------------------

const GATEWAY_TEXT: Record<number, string> = {
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Temporarily Unavailable",
  504: "Gateway Time-out",
};

/**
 * An error page made up by a proxy in front of Guesty (load balancer / edge), not by Guesty:
 * no JSON, no rate-limit headers. 503 is plain text (an Envoy-style upstream reset), the others
 * are the HTML page load balancers serve.
 */
export function gatewayAnswer(ctx: Ctx, status: number) {
  if (status === 503) {
    return send(
      ctx,
      503,
      "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
      "text/plain",
      { bare: true },
    );
  }
  const title = `${status} ${GATEWAY_TEXT[status] ?? "Error"}`;
  send(
    ctx,
    status,
    `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n</body>\r\n</html>\r\n`,
    "text/html",
    { bare: true, headers: { Server: "awselb/2.0" } },
  );
}

// ---- the pipeline -----------------------------------------------------------------------------

function picked(ctx: Ctx, rate: number): boolean {
  return rate > 0 && ctx.state.random() < rate;
}

function perform(ctx: Ctx, route: Route & { kind: "mutation" }): OpResult {
  const result = route.perform(ctx);
  const ok = result.status >= 200 && result.status < 300;
  ctx.entry.committed = ok;
  if (ok && result.reservationId) {
    ctx.entry.reservationId = result.reservationId;
    // Committed: Guestly tells its webhook subscribers, whatever this request is answered.
    reservationChanged(ctx.state, result.reservationId);
  }
  return result;
}

function answer(ctx: Ctx, result: OpResult) {
  json(ctx, result.status, result.body);
}

function answerFailSpec(ctx: Ctx, spec: FailSpec) {
  const headers = { ...(spec.headers ?? {}) };
  if (spec.status === 429 && !Object.keys(headers).some((h) => /^retry-after$/i.test(h))) {
    headers["Retry-After"] = "1";
  }
  if (spec.body === undefined && spec.commit && [502, 503, 504].includes(spec.status)) {
    return gatewayAnswer(ctx, spec.status);
  }
  if (typeof spec.body === "string" && !/json/i.test(headers["Content-Type"] ?? "json")) {
    return send(ctx, spec.status, spec.body, "text/plain; charset=utf-8", { headers });
  }
  const body = spec.body !== undefined
    ? spec.body
    : spec.status === 429
    ? errBody("TOO_MANY_REQUESTS", "injected fault")
    : errBody("INTERNAL_ERROR", "injected fault");
  json(ctx, spec.status, body, headers);
}

async function applyFailNext(ctx: Ctx, spec: FailSpec, route: Route) {
  const { state } = ctx;
  const delay = spec.delayMs ?? 0;
  if (spec.commit && route.kind === "mutation") {
    ctx.entry.fault = `failNext(${spec.status},commit)`;
    let result: OpResult;
    if (spec.commitAfterDelay) {
      if (delay > 0) await state.sleep(delay);
      result = perform(ctx, route);
    } else {
      result = perform(ctx, route);
      if (delay > 0) await state.sleep(delay);
    }
    if (spec.status === 0) return drop(ctx, ctx.entry.fault);
    if (spec.status >= 200 && spec.status < 300) return answer(ctx, result);
    return answerFailSpec(ctx, spec);
  }
  ctx.entry.fault = `failNext(${spec.status})`;
  if (delay > 0) await state.sleep(delay);
  if (spec.status === 0) return drop(ctx, ctx.entry.fault);
  answerFailSpec(ctx, spec);
}

/** Handles one request of a modelled `/v1` API (already authenticated and rate limited). */
export async function handleWithFaults(ctx: Ctx, route: Route): Promise<void> {
  const { state } = ctx;
  if (route.kind === "mutation") ctx.entry.committed = false;
  if (state.faults.latencyMs > 0) await state.sleep(state.faults.latencyMs);

  const next = state.faults.failNext.shift();
  if (next) return await applyFailNext(ctx, next, route);

  const storm = state.faults.storm429;
  if (storm) {
    if (Date.now() < storm.untilMs) {
      ctx.entry.fault = "storm429";
      return json(ctx, 429, errBody("TOO_MANY_REQUESTS", "rate limit storm (injected)"), {
        "Retry-After": "1",
      });
    }
    state.faults.storm429 = null;
  }

  if (picked(ctx, state.faults.hangRate)) {
    ctx.entry.fault = "hang";
    await state.sleep(state.faults.hangMs);
    return drop(ctx, "hang");
  }

  if (picked(ctx, state.faults.errorRate)) {
    const status = [500, 502, 503][Math.floor(state.random() * 3)];
    ctx.entry.fault = `error(${status})`;
    if (status === 503) return send(ctx, 503, "Service Unavailable", "text/plain; charset=utf-8");
    return json(ctx, status, errBody("INTERNAL_ERROR", "injected fault"));
  }

  if (route.kind === "read") return route.handle(ctx);
  const f = state.faults;

  if (route.name === "create" && f.dropReusedCreates > 0 && ctx.entry.reusedConnection) {
    f.dropReusedCreates--;
    ctx.entry.fault = "dropReusedCreate";
    perform(ctx, route);
    return drop(ctx, "dropReusedCreate");
  }

  if (picked(ctx, f.slowCommitRate)) {
    ctx.entry.fault = "slowCommit";
    await state.sleep(f.slowCommitMs);
    // Written only if the caller is still listening; send() logs status 0 otherwise.
    return answer(ctx, perform(ctx, route));
  }

  if (picked(ctx, f.commitThen504Rate)) {
    ctx.entry.fault = "commitThen504";
    perform(ctx, route);
    await state.sleep(f.commitThen504DelayMs);
    return gatewayAnswer(ctx, 504);
  }

  if (picked(ctx, f.commitThenErrorRate)) {
    const statuses = f.commitThenErrorStatuses;
    const status = statuses[Math.floor(state.random() * statuses.length)] ?? 502;
    ctx.entry.fault = `commitThenError(${status})`;
    perform(ctx, route);
    return gatewayAnswer(ctx, status);
  }

  const result = perform(ctx, route);
  const ok = result.status >= 200 && result.status < 300;
  if (ok && picked(ctx, f.lostResponseRate)) return drop(ctx, `lostResponse(${result.status})`);
  answer(ctx, result);
}

// ---- configuration (POST /__sandbox/faults) -----------------------------------------------

function parseFailSpec(f: unknown, i: number): FailSpec {
  const where = `failNext[${i}]`;
  if (typeof f !== "object" || f === null || Array.isArray(f)) {
    throw new BadRequest(`${where} must be an object {status, body?, headers?, commit?, ...}`);
  }
  const spec = f as Record<string, unknown>;
  const status = spec.status;
  if (
    typeof status !== "number" || !Number.isInteger(status) ||
    !(status === 0 || (status >= 100 && status <= 599))
  ) {
    throw new BadRequest(`${where}.status must be 0 or an HTTP status 100..599`);
  }
  if (spec.headers !== undefined) {
    const h = spec.headers;
    if (
      typeof h !== "object" || h === null || Array.isArray(h) ||
      !Object.values(h).every((v) => typeof v === "string")
    ) {
      throw new BadRequest(`${where}.headers must be an object of strings`);
    }
  }
  for (const key of ["commit", "commitAfterDelay"]) {
    if (spec[key] !== undefined && typeof spec[key] !== "boolean") {
      throw new BadRequest(`${where}.${key} must be a boolean`);
    }
  }
  if (spec.delayMs !== undefined && !isNonNegNumber(spec.delayMs)) {
    throw new BadRequest(`${where}.delayMs must be a number >= 0`);
  }
  if (spec.commitAfterDelay && !spec.commit) {
    throw new BadRequest(`${where}.commitAfterDelay needs commit: true`);
  }
  return { ...spec } as unknown as FailSpec;
}

/** Merges a partial fault object into the current faults; throws BadRequest naming the key. */
export function mergeFaults(current: Faults, patch: unknown): Faults {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
    throw new BadRequest("body must be a JSON object");
  }
  const next: Faults = {
    ...current,
    failNext: [...current.failNext],
    commitThenErrorStatuses: [...current.commitThenErrorStatuses],
  };
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    switch (k) {
      case "errorRate":
      case "hangRate":
      case "lostResponseRate":
      case "commitThenErrorRate":
      case "commitThen504Rate":
      case "slowCommitRate":
        if (!isRate(v)) throw new BadRequest(`${k} must be a number in 0..1`);
        next[k] = v;
        break;
      case "latencyMs":
      case "hangMs":
      case "commitThen504DelayMs":
      case "slowCommitMs":
      case "paymentsNotReadyMs":
        if (!isNonNegNumber(v)) throw new BadRequest(`${k} must be a number >= 0`);
        next[k] = v;
        break;
      case "dropReusedCreates":
        if (!isNonNegInt(v)) throw new BadRequest(`${k} must be an integer >= 0`);
        next[k] = v;
        break;
      case "commitThenErrorStatuses":
        if (
          !Array.isArray(v) || v.length === 0 ||
          !v.every((s) => Number.isInteger(s) && s >= 400 && s <= 599)
        ) {
          throw new BadRequest(`${k} must be a non-empty array of HTTP statuses 400..599`);
        }
        next[k] = [...v];
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
        if (!Array.isArray(v)) {
          throw new BadRequest("failNext must be an array of {status, body?, headers?, ...}");
        }
        next.failNext = v.map(parseFailSpec);
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
  return next;
}
