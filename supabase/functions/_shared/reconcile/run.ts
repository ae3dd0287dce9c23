// One reconciliation run: read the bookings, page through Guestly's reservations with our source
// (priority `background`, so live syncs keep their share of the rate limits), read bound
// reservations the search did not return one by one (a 404 is a reservation deleted in
// Guestly), classify (classify.ts), then heal the safe drift (with fix) through SQL functions and
// record the rest. Pure but for the injected store, reader, clock and logger.
import type { HttpAttempt, SearchPage } from "../guestly/client.ts";
import type { Logger } from "../log.ts";
import {
  type ApplyStay,
  type BookingSnapshot,
  classify,
  type DriftItem,
  type ListedReservation,
} from "./classify.ts";

export interface RunStore {
  /** timeBudgetSeconds: the run's limit inside the function (none: the CLI's own process). */
  begin(
    triggeredBy: string,
    fix: boolean,
    timeBudgetSeconds?: number,
  ): Promise<{ started: boolean; runId: string; reason?: string }>;
  bookings(): Promise<BookingSnapshot[]>;
  record(
    runId: string,
    item: DriftItem,
    action: "reported" | "heal_failed",
    detail?: string,
  ): Promise<void>;
  healMissing(runId: string, item: DriftItem): Promise<{ healed: boolean; reason?: string }>;
  healResend(runId: string, item: DriftItem, status: boolean): Promise<{ healed: boolean }>;
  applyMissed(runId: string, item: DriftItem, stay: ApplyStay): Promise<{ outcome?: string }>;
  finish(runId: string, counts: RunCounts, error: string | null): Promise<FinishResult>;
}

export interface RunCounts {
  reservationsSeen: number;
  bookingsChecked: number;
  requestsUsed: number;
}

export interface FinishResult {
  runId: string;
  status: string;
  drift: number;
  alertId: string | null;
}

export interface GuestlyReader {
  page(skip: number, limit: number): Promise<HttpAttempt<SearchPage>>;
  get(reservationId: string): Promise<HttpAttempt<unknown>>;
}

export interface RunDeps {
  store: RunStore;
  guestly: GuestlyReader;
  bookingRefFieldId: string;
  log: Logger;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

export interface RunOptions {
  fix: boolean;
  triggeredBy: "cron" | "cli" | "function";
  /** Changes younger than this are left alone (their webhook or sync may be on its way). */
  settleMs: number;
  /** Only these bookings (an operator's look at one booking; tests). Default: all. */
  bookingIds?: string[];
  /** Give up when Guestly does not give us a request slot or answer for this long. */
  patienceMs?: number;
  /**
   * Stop and record the run (failed, which alerts) before this much time has passed since it
   * began: the platform kills a function at its wall clock (150 s free, 400 s paid) with nothing
   * recorded and nobody told. None: no limit (the CLI, a process of its own).
   */
  timeBudgetMs?: number;
}

export type RunResult =
  | { started: false; reason: string; runId: string }
  | { started: true; runId: string; finish: FinishResult; items: DriftItem[]; counts: RunCounts };

/** Guesty's largest page. */
export const PAGE_SIZE = 100;
const DEFAULT_PATIENCE_MS = 10 * 60_000;

/** A search hit as the comparison reads it; null when it has no id (unusable, skipped). */
export function toListed(raw: unknown, fieldId: string): ListedReservation | null {
  if (typeof raw !== "object" || raw === null) return null;
  const r = raw as Record<string, unknown>;
  const s = (v: unknown) => typeof v === "string" ? v : null;
  const id = s(r._id) ?? s(r.reservationId);
  if (!id) return null;
  const fields = Array.isArray(r.customFields) ? r.customFields : [];
  const ref = fields.find((f) => (f as { fieldId?: unknown })?.fieldId === fieldId) as
    | { value?: unknown }
    | undefined;
  return {
    id,
    status: s(r.status),
    source: s(r.source),
    listingId: s(r.listingId),
    checkIn: s(r.checkInDateLocalized),
    checkOut: s(r.checkOutDateLocalized),
    guestsCount: typeof r.guestsCount === "number" ? r.guestsCount : null,
    canceledBy: s(r.canceledBy),
    bookingRef: s(ref?.value),
    lastUpdatedAt: s(r.lastUpdatedAt),
  };
}

class GaveUp extends Error {}

/** What a run that ran out of its time budget records (and the admin's email shows). */
function outOfTimeMessage(budgetMs: number, read: number, total: number | undefined) {
  return `stopped at its time budget (${Math.round(budgetMs / 1000)} s, ` +
    `GUESTLY_RECONCILE_TIME_BUDGET_SECONDS) before the platform's wall clock could end it: ` +
    `${read} of ${total ?? "?"} reservations read, nothing compared or healed. On a paid plan ` +
    `(400 s) raise the budget, or run \`npm run sync:reconcile\` from a machine (no time limit)`;
}

export async function runReconciliation(deps: RunDeps, options: RunOptions): Promise<RunResult> {
  const { store, log } = deps;
  // The database learns the budget: a run with one lives inside a function invocation, so one
  // still running past the platform's wall clock died and is alerted (abandon_dead_runs).
  const begun = await store.begin(
    options.triggeredBy,
    options.fix,
    options.timeBudgetMs === undefined ? undefined : Math.ceil(options.timeBudgetMs / 1000),
  );
  if (!begun.started) {
    log.warn("guestly.reconcile.not_started", { reason: begun.reason, run_id: begun.runId });
    return { started: false, reason: begun.reason ?? "not_started", runId: begun.runId };
  }
  const runId = begun.runId;
  const counts: RunCounts = { reservationsSeen: 0, bookingsChecked: 0, requestsUsed: 0 };
  const started = deps.now();
  log.info("guestly.reconcile.started", {
    run_id: runId,
    fix: options.fix,
    triggered_by: options.triggeredBy,
  });
  const patience = options.patienceMs ?? DEFAULT_PATIENCE_MS;
  const deadline = options.timeBudgetMs === undefined ? Infinity : started + options.timeBudgetMs;
  let reservationsTotal: number | undefined;
  const listed = new Map<string, ListedReservation>();
  const outOfTime = () =>
    new GaveUp(outOfTimeMessage(options.timeBudgetMs ?? 0, listed.size, reservationsTotal));

  /** A read, retried while Guestly defers (no background slot now) or fails transiently. */
  const read = async <T>(what: string, call: () => Promise<HttpAttempt<T>>) => {
    // Past the deadline a retryable read throws outOfTime below, before any wait.
    const giveUpAt = deps.now() + patience;
    for (let wait = 500;; wait = Math.min(wait * 2, 10_000)) {
      if (deps.now() >= deadline) throw outOfTime();
      const attempt = await call();
      if (attempt.outcome !== "deferred") counts.requestsUsed++;
      if (attempt.outcome === "success" || attempt.httpStatus === 404) return attempt;
      const retryable = attempt.outcome === "deferred" || attempt.outcome === "retryable" ||
        attempt.outcome === "auth";
      if (retryable && deps.now() + wait > deadline) throw outOfTime();
      if (!retryable || deps.now() + wait > giveUpAt) {
        throw new GaveUp(`${what}: ${attempt.error ?? attempt.outcome}`);
      }
      await deps.sleep(
        attempt.outcome === "deferred" ? Math.min(wait, 2_000) : attempt.retryAfterMs ?? wait,
      );
    }
  };

  const items: DriftItem[] = [];
  try {
    let bookings = await store.bookings();
    if (options.bookingIds) {
      const only = new Set(options.bookingIds);
      bookings = bookings.filter((b) => only.has(b.id));
    }
    counts.bookingsChecked = bookings.length;

    for (let skip = 0;; skip += PAGE_SIZE) {
      const page = await read(
        `reservations page at ${skip}`,
        () => deps.guestly.page(skip, PAGE_SIZE),
      );
      const results = page.data?.results ?? [];
      for (const raw of results) {
        const r = toListed(raw, deps.bookingRefFieldId);
        // A reservation shifted between pages by a new one is seen twice: once is enough.
        if (r) listed.set(r.id, r);
      }
      const total = page.data?.count;
      reservationsTotal = total;
      if (results.length < PAGE_SIZE || (total !== undefined && skip + PAGE_SIZE >= total)) break;
    }
    counts.reservationsSeen = listed.size;

    // Bound reservations the search did not return: deleted, or no longer with our source.
    const readById = new Map<string, ListedReservation | null>();
    for (const b of bookings) {
      const id = b.reservation_id;
      if (!id || listed.has(id) || b.in_flight) continue;
      const got = await read(`reservation ${id}`, () => deps.guestly.get(id));
      readById.set(id, got.httpStatus === 404 ? null : toListed(got.data, deps.bookingRefFieldId));
    }

    let listedForClassify = [...listed.values()];
    if (options.bookingIds) {
      const only = new Set(options.bookingIds);
      listedForClassify = listedForClassify.filter((r) => r.bookingRef && only.has(r.bookingRef));
    }
    items.push(...classify(
      { bookings, listed: listedForClassify, readById },
      { settleMs: options.settleMs, now: deps.now() },
    ));

    for (const item of items) await settle(deps, runId, item, options.fix);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error("guestly.reconcile.failed", { run_id: runId, error: message });
    const finish = await store.finish(runId, counts, message);
    return { started: true, runId, finish, items, counts };
  }
  const finish = await store.finish(runId, counts, null);
  log.info("guestly.reconcile.finished", {
    run_id: runId,
    drift: finish.drift,
    by_kind: countBy(items, (i) => i.kind),
    reservations_seen: counts.reservationsSeen,
    bookings_checked: counts.bookingsChecked,
    requests_used: counts.requestsUsed,
    alert_id: finish.alertId,
    ms: Math.round(deps.now() - started),
  });
  return { started: true, runId, finish, items, counts };
}

/** Heals one item (with fix, when safe) or records it for an operator. */
async function settle(deps: RunDeps, runId: string, item: DriftItem, fix: boolean) {
  const { store, log } = deps;
  if (!fix || !item.heal) return await store.record(runId, item, "reported");
  try {
    if (item.heal.kind === "resync") await store.healMissing(runId, item);
    else if (item.heal.kind === "resend") await store.healResend(runId, item, item.heal.status);
    else await store.applyMissed(runId, item, item.heal.stay);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error("guestly.reconcile.heal_failed", {
      run_id: runId,
      kind: item.kind,
      booking_id: item.bookingId,
      reservation_id: item.reservationId,
      error: message,
    });
    await store.record(runId, item, "heal_failed", message);
  }
}

function countBy<T>(list: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of list) out[key(t)] = (out[key(t)] ?? 0) + 1;
  return out;
}
