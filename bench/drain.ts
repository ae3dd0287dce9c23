// Measurement 3 (backlog drain) and 6 (resources of the guestly-sync process during it):
// 1,000 bookings confirmed by ONE UPDATE; the trigger enqueues 1,000 pg_net requests, the
// function drains them through the shared rate limiter, deferred rows come back with the cron
// sweep (once a minute, pg_cron 1.4). Measured as the system is, nothing sped up.
import type { StackConfig } from "../local/stack/config.ts";
import {
  createdAtByBooking,
  functionPid,
  insertPendingBookings,
  type ProcSample,
  procSample,
  progress,
  sandbox,
  sleep,
  type Sql,
} from "./lib.ts";

export interface DrainResult {
  bookings: number;
  synced: number;
  failed: number;
  stillPending: number;
  drainSeconds: number;
  perMinute: number;
  /** Reservations created in each minute after the UPDATE. */
  perMinuteBuckets: number[];
  /** Largest number of creates the sandbox accepted in any sliding 60 s window. */
  maxInAnyMinute: number;
  idealDrainSeconds: number;
  sandboxLimits: { perSecond: number; perMinute: number; perHour: number };
  clientLimits: string;
  bindingLimitPerMinute: number;
  answers429: number;
  attempts429: number;
  failedBy429: number;
  deferrals: number;
  tokensMinted: number;
  pid: number | null;
  pidChanged: boolean;
  peakRssMb: number;
  sampledPeakRssMb: number;
  rssBeforeMb: number;
  cpuSeconds: number;
  cpuMsPerSync: number;
  timedOut: boolean;
}

/** Fastest possible drain under the sandbox's sliding windows (per second and per minute). */
export function idealDrainSeconds(n: number, perSecond: number, perMinute: number): number {
  const times: number[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    if (i >= perSecond) t = Math.max(t, times[i - perSecond] + 1);
    if (i >= perMinute) t = Math.max(t, times[i - perMinute] + 60);
    times.push(t);
  }
  return times[n - 1] ?? 0;
}

export async function measureDrain(
  config: StackConfig,
  sql: Sql,
  admin: Sql,
  options: {
    count: number;
    sandboxLimits: { perSecond: number; perMinute: number; perHour: number };
    clientLimits: string;
    timeoutMs: number;
  },
): Promise<DrainResult> {
  const box = sandbox(config);
  const bookings = await insertPendingBookings(sql, options.count, "drain");
  const ids = bookings.map((b) => b.id);
  const pid = await functionPid(config, "guestly-sync");
  if (!pid) throw new Error("guestly-sync has no pid in /__gateway/status");
  const before = await procSample(pid) as ProcSample;
  const tokensBefore = (await box.tokens()).minted;
  const logFile = `${config.stateDir}/logs/guestly-sync.log`;
  const logOffset = (await Deno.stat(logFile).catch(() => ({ size: 0 }))).size;

  progress(`drain: confirming ${options.count} bookings in one UPDATE`);
  const t0 = Date.now();
  await sql`update public.bookings set status = 'confirmed' where id = any(${ids}::uuid[])`;
  const tUpdate = Date.now();

  let sampledPeakKb = before.rssKb;
  let last: ProcSample = before;
  let timedOut = true;
  let lastReport = 0;
  while (Date.now() - tUpdate < options.timeoutMs) {
    const sample = await procSample(pid);
    if (sample) {
      last = sample;
      sampledPeakKb = Math.max(sampledPeakKb, sample.rssKb);
    }
    const [row] = await sql<{ open: number; synced: number }[]>`
      select count(*) filter (where guestly_sync_status <> 'synced'
                                and guestly_sync_gave_up_at is null)::int as open,
             count(*) filter (where guestly_sync_status = 'synced')::int as synced
        from public.bookings where id = any(${ids}::uuid[])`;
    if (Date.now() - lastReport > 15_000) {
      lastReport = Date.now();
      progress(`drain: ${row.synced}/${options.count} synced`);
    }
    if (row.open === 0) {
      timedOut = false;
      break;
    }
    await sleep(250);
  }
  const after = await procSample(pid);
  if (after) last = after;
  const pidAfter = await functionPid(config, "guestly-sync");

  const [counts] = await sql<{ synced: number; failed: number; pending: number }[]>`
    select count(*) filter (where guestly_sync_status = 'synced')::int as synced,
           count(*) filter (where guestly_sync_status = 'failed')::int as failed,
           count(*) filter (where guestly_sync_status = 'pending')::int as pending
      from public.bookings where id = any(${ids}::uuid[])`;
  const [attempts] = await admin<{ attempts429: number; failedBy429: number }[]>`
    select count(*) filter (where s.http_status = 429)::int as "attempts429",
           count(distinct s.booking_id) filter (
             where s.http_status = 429 and b.guestly_sync_status = 'failed')::int as "failedBy429"
      from guestly.sync_attempts s join public.bookings b on b.id = s.booking_id
     where s.booking_id = any(${ids}::uuid[])`;

  const idSet = new Set(ids);
  const created = [...createdAtByBooking(await box.reservations())]
    .filter(([id]) => idSet.has(id)).map(([, at]) => at).sort((a, b) => a - b);
  const requests = (await box.requests()).filter((r) => Date.parse(r.time) >= t0);
  const answers429 = requests.filter((r) => r.status === 429).length;
  const lastCreated = created[created.length - 1] ?? tUpdate;
  const drainSeconds = (lastCreated - tUpdate) / 1000;
  const buckets: number[] = [];
  for (const at of created) {
    const minute = Math.floor((at - tUpdate) / 60_000);
    while (buckets.length <= minute) buckets.push(0);
    buckets[minute]++;
  }
  let maxInAnyMinute = 0;
  for (let i = 0, j = 0; i < created.length; i++) {
    while (created[i] - created[j] >= 60_000) j++;
    maxInAnyMinute = Math.max(maxInAnyMinute, i - j + 1);
  }
  const log = await Deno.readTextFile(logFile).catch(() => "");
  const deferrals = (log.slice(logOffset).match(/guestly\.sync\.deferred/g) ?? []).length;
  const cpuTicks = last.cpuTicks - before.cpuTicks;
  const limits = options.sandboxLimits;
  return {
    bookings: options.count,
    synced: counts.synced,
    failed: counts.failed,
    stillPending: counts.pending,
    drainSeconds,
    perMinute: created.length / (drainSeconds / 60),
    perMinuteBuckets: buckets,
    maxInAnyMinute,
    idealDrainSeconds: idealDrainSeconds(options.count, limits.perSecond, limits.perMinute),
    sandboxLimits: limits,
    clientLimits: options.clientLimits,
    bindingLimitPerMinute: Math.min(limits.perMinute, limits.perSecond * 60, limits.perHour),
    answers429,
    attempts429: attempts.attempts429,
    failedBy429: attempts.failedBy429,
    deferrals,
    tokensMinted: (await box.tokens()).minted - tokensBefore,
    pid,
    pidChanged: pidAfter !== pid,
    peakRssMb: last.hwmKb / 1024,
    sampledPeakRssMb: sampledPeakKb / 1024,
    rssBeforeMb: before.rssKb / 1024,
    cpuSeconds: cpuTicks / 100,
    cpuMsPerSync: counts.synced > 0 ? (cpuTicks * 10) / counts.synced : NaN,
    timedOut,
  };
}
