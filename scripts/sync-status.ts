// `npm run sync:status [-- --json]`: where the Guestly sync stands. Reads the views
// public.guestly_sync_overview, public.guestly_sync_failures,
// public.stripe_events_needing_attention, public.guestly_sync_stalled and
// public.guestly_undelivered_alerts (service_role / postgres only) with SUPABASE_DB_URL
// (default: the local stack). The formatting is a pure function.
import postgres from "postgres";
import { formatGuestlyChanges, readGuestlyChanges } from "./sync-status-guestly.ts";
import { formatReconcileRun, readReconcileRun } from "./sync-status-reconcile.ts";

export interface Overview {
  pending: number;
  synced: number;
  failed: number;
  failed_final: number;
  /** Of `failed`: double bookings (the dates are taken in Guestly). */
  failed_conflict?: number;
  /** Payments and refunds Guestly does not show yet, and those it does. */
  payments_pending?: number;
  payments_recorded?: number;
  awaiting_payment: number;
  /** Of `awaiting_payment`, with GUESTLY_HOLD_MINUTES: holds being placed, held, refused. */
  holds_placing?: number;
  holds_held?: number;
  holds_unavailable?: number;
  oldest_pending_since: Date | null;
  alerts_sent: number;
  alerts_waiting: number;
  alerts_failing: number;
  oldest_unsent_alert_at: Date | null;
  last_alert_error: string | null;
  as_of: Date;
}

export interface FailedBooking {
  booking_id: string;
  booking_status: string;
  guest_name: string;
  property_name: string | null;
  attempts: number;
  last_error: string | null;
  last_http_status: number | null;
  last_attempt_at: Date | null;
  next_attempt_at: Date | null;
  gave_up_at: Date | null;
  alerted_at: Date | null;
  alert_sent_at: Date | null;
  /** conflict (a double booking), permanent or transient; null on older rows. */
  error_kind?: string | null;
  check_in?: string | null;
  check_out?: string | null;
}

/** A Stripe event answered 200 that still needs a human (unmatched, amount mismatch). */
export interface StripeEventIssue {
  event_id: string;
  type: string;
  outcome: string;
  booking_id: string | null;
  amount: number | null;
  currency: string | null;
  error: string | null;
  received_at: Date | null;
}

/** A paid booking that owes Guestly a sync and is going nowhere (guestly_sync_stalled). */
export interface StalledBooking {
  booking_id: string;
  guest_name: string;
  property_name: string | null;
  waiting_since: Date | null;
  cause: string;
  reason: string;
  alerted: boolean;
  alert_sent_at: Date | null;
}

/** An alert still in the outbox, with why (guestly_undelivered_alerts). */
export interface UndeliveredAlert {
  alert_id: string;
  kind: string;
  booking_id: string | null;
  created_at: Date | null;
  send_attempts: number;
  why: string;
}

/** What needs a person before anything else: stalls, and alerts that reached nobody. */
export interface Attention {
  stalled: StalledBooking[];
  undelivered: UndeliveredAlert[];
}

/** An unsent alert younger than this is just in flight; older ones are shown as undelivered. */
export const UNDELIVERED_AFTER_MS = 2 * 60_000;

export function toStalledBooking(row: Record<string, unknown>): StalledBooking {
  return {
    booking_id: row.booking_id as string,
    guest_name: row.guest_name as string,
    property_name: (row.property_name as string | null) ?? null,
    waiting_since: date(row.waiting_since),
    cause: row.cause as string,
    reason: row.reason as string,
    alerted: Boolean(row.alerted),
    alert_sent_at: date(row.alert_sent_at),
  };
}

export function toUndeliveredAlert(row: Record<string, unknown>): UndeliveredAlert {
  return {
    alert_id: row.alert_id as string,
    kind: row.kind as string,
    booking_id: (row.booking_id as string | null) ?? null,
    created_at: date(row.created_at),
    send_attempts: Number(row.send_attempts ?? 0),
    why: row.why as string,
  };
}

/** How many Stripe events needing attention sync:status lists (the newest). */
export const STRIPE_ISSUES_SHOWN = 20;

const date = (
  v: unknown,
): Date | null => (v === null || v === undefined ? null : new Date(v as string));

/** Rows as postgres.js returns them (bigint counts arrive as strings). */
export function toOverview(row: Record<string, unknown>): Overview {
  const n = (k: string) => Number(row[k] ?? 0);
  return {
    pending: n("pending"),
    synced: n("synced"),
    failed: n("failed"),
    failed_final: n("failed_final"),
    failed_conflict: n("failed_conflict"),
    payments_pending: n("payments_pending"),
    payments_recorded: n("payments_recorded"),
    awaiting_payment: n("awaiting_payment"),
    holds_placing: n("holds_placing"),
    holds_held: n("holds_held"),
    holds_unavailable: n("holds_unavailable"),
    oldest_pending_since: date(row.oldest_pending_since),
    alerts_sent: n("alerts_sent"),
    alerts_waiting: n("alerts_waiting"),
    alerts_failing: n("alerts_failing"),
    oldest_unsent_alert_at: date(row.oldest_unsent_alert_at),
    last_alert_error: (row.last_alert_error as string | null) ?? null,
    as_of: date(row.as_of) ?? new Date(),
  };
}

export function toFailedBooking(row: Record<string, unknown>): FailedBooking {
  return {
    booking_id: row.booking_id as string,
    booking_status: row.booking_status as string,
    guest_name: row.guest_name as string,
    property_name: (row.property_name as string | null) ?? null,
    attempts: Number(row.attempts ?? 0),
    last_error: (row.last_error as string | null) ?? null,
    last_http_status: row.last_http_status == null ? null : Number(row.last_http_status),
    last_attempt_at: date(row.last_attempt_at),
    next_attempt_at: date(row.next_attempt_at),
    gave_up_at: date(row.gave_up_at),
    alerted_at: date(row.alerted_at),
    alert_sent_at: date(row.alert_sent_at),
    error_kind: (row.error_kind as string | null) ?? null,
    check_in: day(row.check_in),
    check_out: day(row.check_out),
  };
}

/** A date column (postgres.js gives a Date at UTC midnight) as YYYY-MM-DD. */
function day(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return v instanceof Date ? v.toISOString().slice(0, 10) : String(v).slice(0, 10);
}

export function toStripeEventIssue(row: Record<string, unknown>): StripeEventIssue {
  return {
    event_id: row.event_id as string,
    type: row.type as string,
    outcome: row.outcome as string,
    booking_id: (row.booking_id as string | null) ?? null,
    amount: row.amount == null ? null : Number(row.amount),
    currency: (row.currency as string | null) ?? null,
    error: (row.error as string | null) ?? null,
    received_at: date(row.received_at),
  };
}

export function formatTime(d: Date | null): string {
  return d ? `${d.toISOString().slice(0, 19).replace("T", " ")} UTC` : "-";
}

/** 45s, 3m 20s, 2h 05m, 3d 4h. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

function oneLine(text: string | null, max = 160): string {
  const flat = (text ?? "").replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat || "(none)";
}

export function formatStatus(
  o: Overview,
  failures: FailedBooking[],
  stripe: { total: number; newest: StripeEventIssue[] } = { total: 0, newest: [] },
  attention: Attention = { stalled: [], undelivered: [] },
): string {
  const now = o.as_of.getTime();
  const out: string[] = [`Guestly sync status (as of ${formatTime(o.as_of)})`, ""];
  out.push(...attentionLines(attention, now));
  const count = (n: number) => String(n).padStart(6);
  out.push("Bookings (paid or cancelled; those awaiting payment need no sync)");
  out.push(`  synced          ${count(o.synced)}`);
  out.push(
    `  pending         ${count(o.pending)}` +
      (o.oldest_pending_since
        ? `   oldest waiting ${formatAge(now - o.oldest_pending_since.getTime())}` +
          ` (since ${formatTime(o.oldest_pending_since)})`
        : ""),
  );
  out.push(
    `  failed          ${count(o.failed)}` +
      (o.failed
        ? `   ${o.failed_final} gave up (manual retry needed), ` +
          `${o.failed - o.failed_final} retrying automatically`
        : ""),
  );
  if (o.failed_conflict) {
    out.push(`    of which double bookings ${count(o.failed_conflict)}   (dates taken in Guestly)`);
  }
  out.push(`  awaiting payment${count(o.awaiting_payment)}`);
  const holds = (o.holds_placing ?? 0) + (o.holds_held ?? 0) + (o.holds_unavailable ?? 0);
  if (holds) {
    out.push(
      `    holds: ${o.holds_placing ?? 0} being placed, ${o.holds_held ?? 0} held, ` +
        `${o.holds_unavailable ?? 0} refused (nights taken)`,
    );
  }
  out.push(
    `Money in Guestly: ${o.payments_recorded ?? 0} payments/refunds recorded, ` +
      `${o.payments_pending ?? 0} on their way`,
  );
  out.push("");

  // Double bookings first and apart: a guest paid for nights someone else holds.
  const conflicts = failures.filter((f) => f.error_kind === "conflict");
  const others = failures.filter((f) => f.error_kind !== "conflict");
  if (conflicts.length) {
    out.push(`!!! Double bookings (${conflicts.length}): paid, but the dates are taken in Guestly`);
    for (const f of conflicts) {
      out.push(`  ${f.booking_id}  ${f.guest_name} at ${f.property_name ?? "(unknown property)"}`);
      out.push(`      dates ${f.check_in ?? "?"} → ${f.check_out ?? "?"}`);
      out.push(`      ${oneLine(f.last_error, 300)}`);
      out.push(
        "      never retried automatically: refund in Stripe, move the guest, or force it with " +
          `npm run sync:retry -- ${f.booking_id} --ignore-calendar`,
      );
      out.push(`      alert: ${alertState(f, "none")}`);
    }
    out.push("");
  }

  out.push(
    `Failed bookings (${others.length}${conflicts.length ? ", double bookings above" : ""})`,
  );
  if (others.length === 0) out.push("  none");
  for (const f of others) {
    out.push(`  ${f.booking_id}  ${f.guest_name} at ${f.property_name ?? "(unknown property)"}`);
    out.push(
      `      attempts ${f.attempts} · last HTTP ${f.last_http_status ?? "-"} · ` +
        `last attempt ${formatTime(f.last_attempt_at)}`,
    );
    out.push(`      error: ${oneLine(f.last_error)}`);
    out.push(
      f.next_attempt_at
        ? `      next retry: ${formatTime(f.next_attempt_at)} (automatic)`
        : `      next retry: none — gave up ${formatTime(f.gave_up_at)}; ` +
          `run npm run sync:retry -- ${f.booking_id}`,
    );
    out.push(`      alert: ${alertState(f, "none (still retrying automatically)")}`);
  }
  out.push("");

  out.push("Admin alerts");
  out.push(
    `  sent ${o.alerts_sent} · waiting ${o.alerts_waiting} · failing ${o.alerts_failing}`,
  );
  if (o.oldest_unsent_alert_at) {
    out.push(
      `  oldest unsent: written ${formatTime(o.oldest_unsent_alert_at)} ` +
        `(${formatAge(now - o.oldest_unsent_alert_at.getTime())} ago)`,
    );
  }
  if (o.alerts_failing) out.push(`  last send error: ${oneLine(o.last_alert_error)}`);
  out.push("");

  out.push(`Stripe events needing attention (${stripe.total})`);
  if (stripe.total === 0) out.push("  none");
  for (const e of stripe.newest) {
    const money = e.amount === null ? "" : ` · ${e.amount} ${e.currency ?? ""}`.trimEnd();
    out.push(`  ${e.event_id}  ${e.type} · ${e.outcome}${money} · ${formatTime(e.received_at)}`);
    out.push(`      booking: ${e.booking_id ?? "(none)"} · ${oneLine(e.error)}`);
  }
  if (stripe.total > stripe.newest.length) {
    out.push(`  … and ${stripe.total - stripe.newest.length} older`);
  }
  return out.join("\n");
}

/** First in the report: the admins may not know, because their alerts did not reach them. */
function attentionLines(attention: Attention, now: number): string[] {
  const out: string[] = [];
  const undelivered = attention.undelivered.filter((a) =>
    a.created_at && now - a.created_at.getTime() >= UNDELIVERED_AFTER_MS
  );
  if (undelivered.length) {
    const oldest = Math.min(...undelivered.map((a) => a.created_at!.getTime()));
    out.push(
      `!!! ${undelivered.length} ADMIN ALERT${undelivered.length === 1 ? "" : "S"} NOT DELIVERED ` +
        `(oldest ${formatAge(now - oldest)}): nobody has been emailed about these.`,
    );
    out.push(`!!! why: ${oneLine(undelivered[0].why, 300)}`);
    for (const a of undelivered) {
      out.push(
        `  ${a.kind.padEnd(22)} booking ${a.booking_id ?? "-"} · written ${
          formatTime(a.created_at)
        } · ${a.send_attempts} send attempt${a.send_attempts === 1 ? "" : "s"}`,
      );
    }
    out.push("  (public.guestly_undelivered_alerts in Studio has the same list)", "");
  }
  if (attention.stalled.length) {
    out.push(
      `Stalled bookings (${attention.stalled.length}): paid, owed to Guestly, going nowhere`,
    );
    for (const s of attention.stalled) {
      out.push(`  ${s.booking_id}  ${s.guest_name} at ${s.property_name ?? "(unknown property)"}`);
      out.push(
        `      waiting ${
          s.waiting_since ? formatAge(now - s.waiting_since.getTime()) : "-"
        } · cause ${s.cause} · alert ${
          s.alert_sent_at
            ? `sent ${formatTime(s.alert_sent_at)}`
            : s.alerted
            ? "written, NOT sent yet"
            : "not written yet"
        }`,
      );
      out.push(`      ${oneLine(s.reason, 300)}`);
    }
    out.push("");
  }
  return out;
}

export function statusJson(
  o: Overview,
  failures: FailedBooking[],
  stripe: { total: number; newest: StripeEventIssue[] } = { total: 0, newest: [] },
  attention: Attention = { stalled: [], undelivered: [] },
) {
  return {
    as_of: o.as_of.toISOString(),
    stalled: attention.stalled.map((s) => ({
      ...s,
      waiting_since: s.waiting_since?.toISOString() ?? null,
      alert_sent_at: s.alert_sent_at?.toISOString() ?? null,
    })),
    undelivered_alerts: attention.undelivered.map((a) => ({
      ...a,
      created_at: a.created_at?.toISOString() ?? null,
    })),
    bookings: {
      synced: o.synced,
      pending: o.pending,
      failed: o.failed,
      failed_final: o.failed_final,
      failed_conflict: o.failed_conflict ?? 0,
      awaiting_payment: o.awaiting_payment,
      holds_placing: o.holds_placing ?? 0,
      holds_held: o.holds_held ?? 0,
      holds_unavailable: o.holds_unavailable ?? 0,
      payments_pending: o.payments_pending ?? 0,
      payments_recorded: o.payments_recorded ?? 0,
      oldest_pending_since: o.oldest_pending_since?.toISOString() ?? null,
      oldest_pending_age_seconds: o.oldest_pending_since
        ? Math.floor((o.as_of.getTime() - o.oldest_pending_since.getTime()) / 1000)
        : null,
    },
    failed: failures.map((f) => ({
      ...f,
      last_attempt_at: f.last_attempt_at?.toISOString() ?? null,
      next_attempt_at: f.next_attempt_at?.toISOString() ?? null,
      gave_up_at: f.gave_up_at?.toISOString() ?? null,
      alerted_at: f.alerted_at?.toISOString() ?? null,
      alert_sent_at: f.alert_sent_at?.toISOString() ?? null,
    })),
    alerts: {
      sent: o.alerts_sent,
      waiting: o.alerts_waiting,
      failing: o.alerts_failing,
      oldest_unsent_at: o.oldest_unsent_alert_at?.toISOString() ?? null,
      last_error: o.last_alert_error,
    },
    stripe_events_needing_attention: {
      total: stripe.total,
      newest: stripe.newest.map((e) => ({
        ...e,
        received_at: e.received_at?.toISOString() ?? null,
      })),
    },
  };
}

export async function readStatus(dbUrl: string) {
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {}, prepare: false });
  try {
    const [overview] = await sql`select * from public.guestly_sync_overview`;
    const failures = await sql`
      select * from public.guestly_sync_failures
       order by next_attempt_at nulls first, gave_up_at, booking_id`;
    const [{ total }] = await sql`
      select count(*)::int as total from public.stripe_events_needing_attention`;
    const newest = await sql`
      select * from public.stripe_events_needing_attention
       order by received_at desc limit ${STRIPE_ISSUES_SHOWN}`;
    const stalled = await sql`
      select * from public.guestly_sync_stalled order by waiting_since, booking_id`;
    const undelivered = await sql`
      select * from public.guestly_undelivered_alerts order by created_at, alert_id`;
    return {
      attention: {
        stalled: stalled.map((r) => toStalledBooking(r)),
        undelivered: undelivered.map((r) => toUndeliveredAlert(r)),
      },
      overview: toOverview(overview),
      failures: failures.map((r) => toFailedBooking(r)),
      stripe: { total: total as number, newest: newest.map((r) => toStripeEventIssue(r)) },
    };
  } finally {
    await sql.end();
  }
}

async function defaultDbUrl(env: Record<string, string | undefined>) {
  if (env.SUPABASE_DB_URL) return { url: env.SUPABASE_DB_URL, from: "SUPABASE_DB_URL" };
  const { loadStackConfig } = await import("../local/stack/config.ts");
  return { url: loadStackConfig().dbUrl, from: "local stack: SUPABASE_DB_URL not set" };
}

if (import.meta.main) {
  const unknown = Deno.args.filter((a) => a !== "--json");
  if (unknown.length) {
    console.error(`unknown argument ${unknown[0]}\nusage: npm run sync:status [-- --json]`);
    Deno.exit(1);
  }
  const target = await defaultDbUrl(Deno.env.toObject());
  try {
    const { overview, failures, stripe, attention } = await readStatus(target.url);
    const sql = postgres(target.url, { max: 1, onnotice: () => {}, prepare: false });
    const [changes, reconciliation] = await Promise.all([
      readGuestlyChanges(sql),
      readReconcileRun(sql),
    ]).finally(() => sql.end());
    if (Deno.args.includes("--json")) {
      const json = {
        ...statusJson(overview, failures, stripe, attention),
        changes_from_guestly: changes,
        reconciliation,
      };
      console.log(JSON.stringify(json, null, 2));
    } else {
      console.log(`database: ${new URL(target.url).host} (${target.from})\n`);
      console.log(formatStatus(overview, failures, stripe, attention));
      console.log(`\n${formatGuestlyChanges(changes)}`);
      console.log(`\n${formatReconcileRun(reconciliation)}`);
    }
  } catch (error) {
    console.error(`error: could not read the sync status: ${(error as Error).message}`);
    Deno.exit(1);
  }
}

/** Where a failed booking's alert stands, for the status text. */
function alertState(
  f: { alert_sent_at: Date | null; alerted_at: Date | null },
  none: string,
): string {
  if (f.alert_sent_at) return `sent ${formatTime(f.alert_sent_at)}`;
  if (f.alerted_at) return `waiting to be sent (written ${formatTime(f.alerted_at)})`;
  return none;
}
