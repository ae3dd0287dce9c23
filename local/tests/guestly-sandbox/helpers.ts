// What the sandbox tests share: a sandbox per test, raw calls, tokens, bookings with nights of
// their own, faults and the reservation list.
import assert from "node:assert/strict";
import {
  type GuestlySandbox,
  type GuestlySandboxOptions,
  startGuestlySandbox,
} from "../../guestly-sandbox/server.ts";

export type { GuestlySandbox };

export const CLIENT_ID = "sandbox-client-id";
export const CLIENT_SECRET = "sandbox-client-secret";
export const L1 = "64f1a2b3c4d5e6f7a8b9c0d1";
export const L2 = "64f1a2b3c4d5e6f7a8b9c0d2";
// Tests that are not about rate limiting make more than 15 calls/s.
export const ROOMY = { limits: { perSecond: 1000, perMinute: 1000, perHour: 10_000 } };

export interface Answer {
  status: number;
  headers: Headers;
  // deno-lint-ignore no-explicit-any
  body: any;
  text: string;
}

export async function withSandbox(
  opts: GuestlySandboxOptions,
  fn: (sb: GuestlySandbox) => Promise<void>,
): Promise<void> {
  const sb = await startGuestlySandbox({ quiet: true, ...opts });
  try {
    await fn(sb);
  } finally {
    await sb.close();
  }
}

export async function call(
  sb: GuestlySandbox,
  method: string,
  path: string,
  opts: {
    token?: string;
    body?: unknown;
    signal?: AbortSignal;
    client?: Deno.HttpClient;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers["Authorization"] = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(sb.url + path, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: opts.signal,
    client: opts.client,
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch { /* plain text */ }
  return { status: res.status, headers: res.headers, body, text };
}

export async function mint(
  sb: GuestlySandbox,
  params: Record<string, string> = {},
): Promise<Answer> {
  const form = new URLSearchParams({
    grant_type: "client_credentials",
    scope: "open-api",
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    ...params,
  });
  const res = await fetch(sb.url + "/oauth2/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: form,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text), text };
}

export async function token(sb: GuestlySandbox): Promise<string> {
  const r = await mint(sb);
  assert.equal(r.status, 200, r.text);
  return r.body.access_token;
}

/** Each booking gets nights of its own (the sandbox refuses overlapping stays on a listing). */
let stayNumber = 0;
export function nextStay(
  nights = 4,
): { checkInDateLocalized: string; checkOutDateLocalized: string } {
  const start = Date.UTC(2026, 6, 1) + (stayNumber++) * 10 * 86_400_000;
  const day = (t: number) => new Date(t).toISOString().slice(0, 10);
  return {
    checkInDateLocalized: day(start),
    checkOutDateLocalized: day(start + nights * 86_400_000),
  };
}

export function booking(overrides: Record<string, unknown> = {}) {
  return {
    listingId: L1,
    ...nextStay(),
    status: "confirmed",
    guestsCount: 2,
    source: "direct-site",
    guest: {
      firstName: "Ada",
      lastName: "Lovelace",
      email: "ada@example.com",
      phones: ["+447700900123"],
    },
    money: { fareAccommodation: 480.5, currency: "EUR" },
    ...overrides,
  };
}

/** The fix under test: a fetch client whose connections are never pooled, so never reused. */
export function freshConnections(): Deno.HttpClient {
  return Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
}

export async function setFaults(sb: GuestlySandbox, faults: Record<string, unknown>) {
  const r = await call(sb, "POST", "/__sandbox/faults", { body: faults });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

export async function stored(sb: GuestlySandbox) {
  return (await call(sb, "GET", "/__sandbox/reservations")).body as Record<string, unknown>[];
}

/** Creates a reservation through the API (201 asserted) and returns it. */
export async function createReservation(
  sb: GuestlySandbox,
  t: string,
  overrides: Record<string, unknown> = {},
) {
  const r = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking(overrides) });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

/** How many logged requests match (`GET /__sandbox/requests/count`). */
export async function requestCount(sb: GuestlySandbox, method: string, path: string) {
  const q = new URLSearchParams({ method, path });
  return (await call(sb, "GET", `/__sandbox/requests/count?${q}`)).body.count as number;
}
