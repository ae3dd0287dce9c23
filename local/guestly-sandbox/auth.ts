// OAuth2 client-credentials tokens (scarce: N mints per client per 24 h) and the per-account
// rate limits (per second, minute and hour, shared by all tokens of a client).

import { type Ctx, errBody, json } from "./http.ts";
import type { RateLimits, SandboxState } from "./state.ts";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

interface TokenRecord {
  clientId: string;
  mintedAt: number;
  expiresAt: number;
}

export interface AuthState {
  /** clientId -> ascending request timestamps (last hour). */
  rateWindows: Map<string, number[]>;
  /** clientId -> mint timestamps (last 24 h). */
  mintHistory: Map<string, number[]>;
  mintTotals: Map<string, number>;
  tokens: Map<string, TokenRecord>;
}

export function newAuthState(): AuthState {
  return {
    rateWindows: new Map(),
    mintHistory: new Map(),
    mintTotals: new Map(),
    tokens: new Map(),
  };
}

function randomToken(): string {
  const b = crypto.getRandomValues(new Uint8Array(36));
  return btoa(String.fromCharCode(...b)).replaceAll("+", "-").replaceAll("/", "_").replaceAll(
    "=",
    "",
  );
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

export function limitHeaders(limits: RateLimits): Record<string, string> {
  return {
    "X-RateLimit-Limit-Second": String(limits.perSecond),
    "X-RateLimit-Limit-Minute": String(limits.perMinute),
    "X-RateLimit-Limit-Hour": String(limits.perHour),
  };
}

/** Returns null when allowed (slot consumed), or the Retry-After seconds. */
export function rateCheck(ctx: Ctx, clientId: string): number | null {
  const { state } = ctx;
  const limits = state.limits;
  const now = Date.now();
  let arr = state.auth.rateWindows.get(clientId) ?? [];
  const hourStart = firstAfter(arr, now - HOUR);
  if (hourStart > 0) arr = arr.slice(hourStart);
  state.auth.rateWindows.set(clientId, arr);

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
  const headers = limitHeaders(limits);
  windows.forEach((w, i) => {
    const used = counts[i] + (allowed ? 1 : 0);
    headers[`X-RateLimit-Remaining-${w.name}`] = String(Math.max(0, w.limit - used));
  });
  Object.assign(ctx.headers, headers);
  return allowed ? null : Math.max(1, Math.ceil(retryMs / 1000));
}

/** The client id of a valid bearer token, or null after answering 401. */
export function authenticate(ctx: Ctx): string | null {
  const auth = ctx.req.headers["authorization"];
  const m = typeof auth === "string" ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  if (!m) {
    json(ctx, 401, errBody("UNAUTHORIZED", "missing bearer token"));
    return null;
  }
  const rec = ctx.state.auth.tokens.get(m[1]);
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

/** Authenticates and takes a rate-limit slot. Returns the client id, or null when answered. */
export function admitV1(ctx: Ctx): string | null {
  Object.assign(ctx.headers, limitHeaders(ctx.state.limits));
  const clientId = authenticate(ctx);
  if (!clientId) return null;
  ctx.entry.clientId = clientId;
  const retry = rateCheck(ctx, clientId);
  if (retry !== null) {
    json(ctx, 429, errBody("TOO_MANY_REQUESTS", "rate limit exceeded"), {
      "Retry-After": String(retry),
    });
    return null;
  }
  return clientId;
}

/** `POST /oauth2/token` (not rate limited; limited to `tokensPerDay` mints per client). */
export function handleToken(ctx: Ctx) {
  const { state } = ctx;
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
  const clients = state.clients;
  if (!clientId || !(clientId in clients) || clients[clientId] !== params.client_secret) {
    return json(ctx, 401, {
      error: "invalid_client",
      error_description: "client authentication failed",
    });
  }
  ctx.entry.clientId = clientId;
  const now = Date.now();
  const { auth, tokensPerDay } = state;
  const mints = (auth.mintHistory.get(clientId) ?? []).filter((t) => t > now - DAY);
  auth.mintHistory.set(clientId, mints);
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
  auth.mintTotals.set(clientId, (auth.mintTotals.get(clientId) ?? 0) + 1);
  const token = randomToken();
  auth.tokens.set(token, {
    clientId,
    mintedAt: now,
    expiresAt: now + state.tokenTtlSeconds * 1000,
  });
  json(ctx, 200, {
    token_type: "Bearer",
    expires_in: state.tokenTtlSeconds,
    access_token: token,
    scope: "open-api",
  });
}

export function tokenStats(state: SandboxState) {
  const now = Date.now();
  const { auth } = state;
  const perClient: Record<string, { minted: number; mintedLast24h: number; active: number }> = {};
  for (const id of new Set([...Object.keys(state.clients), ...auth.mintTotals.keys()])) {
    perClient[id] = {
      minted: auth.mintTotals.get(id) ?? 0,
      mintedLast24h: (auth.mintHistory.get(id) ?? []).filter((t) => t > now - DAY).length,
      active: 0,
    };
  }
  let active = 0;
  for (const t of auth.tokens.values()) {
    if (t.expiresAt > now) {
      active++;
      if (perClient[t.clientId]) perClient[t.clientId].active++;
    }
  }
  const minted = [...auth.mintTotals.values()].reduce((a, b) => a + b, 0);
  return { minted, active, perClient };
}

/** `POST /__sandbox/expire-tokens`: every current token becomes invalid. */
export function expireTokens(state: SandboxState): number {
  const now = Date.now();
  let expired = 0;
  for (const t of state.auth.tokens.values()) {
    if (t.expiresAt > now) {
      t.expiresAt = now;
      expired++;
    }
  }
  return expired;
}
