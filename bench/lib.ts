// Shared helpers of the benchmarks: statistics, HTTP, signed Stripe deliveries, booking rows,
// /proc readings. Nothing here starts or stops anything.
import postgres from "postgres";
import { signatureFor, stripeEvent } from "../supabase/tests/fixtures/stripe/events.ts";
import type { StackConfig } from "../local/stack/config.ts";
import { reserveSlots } from "../local/stays.ts";

export type Sql = postgres.Sql;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const benchStarted = Date.now();
export function progress(line: string) {
  const s = ((Date.now() - benchStarted) / 1000).toFixed(1).padStart(6);
  console.error(`[bench ${s} s] ${line}`);
}

// ---- statistics -------------------------------------------------------------------------------

/** Nearest-rank percentile (q in 0..1) of unsorted values; NaN when empty. */
export function percentile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

export const median = (values: number[]) => percentile(values, 0.5);

export function fmt(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return "n/a";
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

// ---- HTTP -------------------------------------------------------------------------------------

export async function httpJson<T = unknown>(url: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  const text = await response.text();
  if (!response.ok) throw new Error(`${init.method ?? "GET"} ${url} → ${response.status}: ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

export const postJson = (url: string, body: unknown) =>
  httpJson(url, { method: "POST", body: JSON.stringify(body) });

export interface SandboxReservation {
  reservationId: string;
  createdAt: string;
  customFields: { fieldId: string; value: string }[];
}

export interface SandboxRequest {
  time: string;
  method: string;
  path: string;
  status: number;
  fault: string | null;
  durationMs: number;
}

export const sandbox = (config: StackConfig) => ({
  faults: (faults: Record<string, unknown>) =>
    postJson(`${config.sandboxUrl}/__sandbox/faults`, faults),
  clearFaults: () => httpJson(`${config.sandboxUrl}/__sandbox/faults`, { method: "DELETE" }),
  limits: (limits: { perSecond: number; perMinute: number; perHour: number }) =>
    postJson(`${config.sandboxUrl}/__sandbox/config`, { limits }),
  reservations: () => httpJson<SandboxReservation[]>(`${config.sandboxUrl}/__sandbox/reservations`),
  requests: () => httpJson<SandboxRequest[]>(`${config.sandboxUrl}/__sandbox/requests`),
  tokens: () => httpJson<{ minted: number }>(`${config.sandboxUrl}/__sandbox/tokens`),
});

/** Reservation createdAt (epoch ms) by our booking id (the custom field's value). */
export function createdAtByBooking(reservations: SandboxReservation[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of reservations) {
    const ref = r.customFields?.find((f) => f.fieldId === "website_booking_id")?.value;
    if (ref && !out.has(ref)) out.set(ref, Date.parse(r.createdAt));
  }
  return out;
}

// ---- Stripe deliveries --------------------------------------------------------------------------

export interface PendingBooking {
  id: string;
  amount: number;
  currency: string;
}

/** A payment_intent.succeeded event of the recorded fixture shape, for this booking. */
export function paymentPayload(booking: PendingBooking): string {
  const suffix = crypto.randomUUID().replaceAll("-", "");
  return JSON.stringify(stripeEvent("payment_intent.succeeded", {
    id: `evt_bench_${suffix}`,
    bookingId: booking.id,
    amount: booking.amount,
    currency: booking.currency,
    paymentIntentId: `pi_bench_${suffix}`,
  }));
}

export interface Delivery {
  /** Client-side answer time: request sent → whole answer read (signing not included). */
  ms: number;
  status: number;
  /** Epoch ms when the answer had been read. */
  answeredAt: number;
}

/** Signs (Stripe signs every delivery with its own timestamp) and posts one event. */
export async function deliver(url: string, payload: string, secret: string): Promise<Delivery> {
  const signature = await signatureFor(payload, secret);
  const started = performance.now();
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
      body: payload,
      signal: AbortSignal.timeout(60_000),
    });
    await response.arrayBuffer();
    return { ms: performance.now() - started, status: response.status, answeredAt: Date.now() };
  } catch {
    return { ms: performance.now() - started, status: 0, answeredAt: Date.now() };
  }
}

const MAX_UNANSWERED_IN_A_ROW = 3;

/** Closed loop: `concurrency` workers post the payloads in order, each waiting for its answer. */
export async function closedLoop(
  url: string,
  payloads: string[],
  secret: string,
  concurrency: number,
): Promise<Delivery[]> {
  const results: Delivery[] = new Array(payloads.length);
  let next = 0;
  let unansweredInARow = 0;
  const worker = async () => {
    while (next < payloads.length) {
      const index = next++;
      results[index] = await deliver(url, payloads[index], secret);
      // A webhook that never answers (a function that cannot start, restarted forever by the
      // gateway) would make the bench hang for an hour: stop with the reason instead.
      unansweredInARow = results[index].status === 0 ? unansweredInARow + 1 : 0;
      if (unansweredInARow >= MAX_UNANSWERED_IN_A_ROW) {
        throw new Error(
          `${url} answered none of ${unansweredInARow} deliveries in a row: is the function ` +
            "starting? (see its log under the bench stack's logs/)",
        );
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

// ---- bookings ---------------------------------------------------------------------------------

export const PROPERTIES = [
  "0b0e7f3a-0000-4000-8000-000000000001",
  "0b0e7f3a-0000-4000-8000-000000000002",
  "0b0e7f3a-0000-4000-8000-000000000003",
];

/**
 * Inserts `count` bookings waiting for payment (amounts and currencies vary) in one statement.
 * `leased`: the sync lease is taken for an hour, so the guestly-sync invocations the trigger
 * causes for these rows skip them (claim_sync answers "leased") — used for the baseline's rows.
 */
export async function insertPendingBookings(
  sql: Sql,
  count: number,
  tag: string,
  options: { leased?: boolean } = {},
): Promise<PendingBooking[]> {
  // Nights of its own per row: the sandbox refuses overlapping stays (local/stays.ts).
  const slots = reserveSlots(count + 1);
  const rows = await sql<{ id: string; amount: string; currency: string }[]>`
    insert into public.bookings (property_id, guest_first_name, guest_last_name, guest_email,
      guest_phone, check_in, check_out, guests_count, amount_total, currency,
      guestly_sync_lease_until)
    select (${PROPERTIES}::uuid[])[1 + i % 3], 'Bench', ${tag} || '-' || i,
           ${tag} || '.' || i || '@bench.example', '+15555550' || lpad((i % 1000)::text, 3, '0'),
           ${slots.first}::date + i * ${slots.slotDays}::int,
           ${slots.first}::date + i * ${slots.slotDays}::int + 1 + (i % 7),
           1 + i % 4, 20000 + (i % 500) * 100, (array['usd', 'eur'])[1 + i % 2],
           case when ${options.leased ?? false}::boolean then now() + interval '1 hour' end
      from generate_series(1, ${count}::int) as i
    returning id, amount_total as amount, currency`;
  return rows.map((r) => ({ id: r.id, amount: Number(r.amount), currency: r.currency }));
}

/** Waits until none of these bookings is pending or leased and pg_net's queue is empty. */
export async function waitSettled(sql: Sql, ids: string[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const [row] = await sql<{ busy: number; queued: number }[]>`
      select (select count(*)::int from public.bookings
               where id = any(${ids}::uuid[])
                 and (guestly_sync_status = 'pending' or guestly_sync_lease_until > now())) as busy,
             (select count(*)::int from net.http_request_queue) as queued`;
    if (row.busy === 0 && row.queued === 0) return true;
    await sleep(500);
  }
  return false;
}

/** Nothing left for the cron sweep in these rows (so a later measurement is not disturbed). */
export async function neutralize(sql: Sql, ids: string[]) {
  await sql`update public.bookings set guestly_sync_next_attempt_at = null
             where id = any(${ids}::uuid[])`;
}

// ---- processes ----------------------------------------------------------------------------------

export const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcSample {
  rssKb: number;
  hwmKb: number;
  cpuTicks: number;
}

export async function procSample(pid: number): Promise<ProcSample | null> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1]);
    // Fields after the ")" that closes the command name: state is field 3; utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return {
      rssKb: kb("VmRSS"),
      hwmKb: kb("VmHWM"),
      cpuTicks: Number(fields[11]) + Number(fields[12]),
    };
  } catch {
    return null;
  }
}

export async function functionPid(config: StackConfig, name: string): Promise<number | null> {
  const status = await httpJson<{ name: string; pid: number | null }[]>(
    `${config.apiUrl}/__gateway/status`,
  );
  return status.find((f) => f.name === name)?.pid ?? null;
}

// ---- the machine ------------------------------------------------------------------------------

export async function machineInfo(): Promise<Record<string, string>> {
  const read = (path: string) => Deno.readTextFile(path).catch(() => "");
  const cpuinfo = await read("/proc/cpuinfo");
  const meminfo = await read("/proc/meminfo");
  const osRelease = await read("/etc/os-release");
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
  return {
    cores: String(navigator.hardwareConcurrency),
    memory: `${(memKb / 1024 / 1024).toFixed(1)} GiB`,
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    os: `${
      /^PRETTY_NAME="?([^"\n]+)"?/m.exec(osRelease)?.[1] ?? Deno.build.os
    }, kernel ${Deno.osRelease()}`,
    deno: Deno.version.deno,
    postgres: "15 (Debian)",
  };
}

export async function loadAverage(): Promise<string> {
  const text = await Deno.readTextFile("/proc/loadavg").catch(() => "");
  return text.split(" ").slice(0, 3).join(" ");
}
