// One reconciliation run with fakes: it pages through every reservation, reads bound ones the
// search did not return, waits when the limiter has no background slot, heals only with fix,
// records a heal that threw, and one run at a time.
import assert from "node:assert/strict";
import type { HttpAttempt, SearchPage } from "../../functions/_shared/guestly/client.ts";
import { memoryLogger } from "../../functions/_shared/log.ts";
import type { BookingSnapshot } from "../../functions/_shared/reconcile/classify.ts";
import {
  PAGE_SIZE,
  type RunDeps,
  runReconciliation,
  type RunStore,
  toListed,
} from "../../functions/_shared/reconcile/run.ts";
import { ReservationDetails } from "../../functions/_shared/guestly/schemas.ts";

const OLD = "2026-12-01T10:00:00Z";
const LISTING = "64f1a2b3c4d5e6f7a8b9c0d1";
const content = {
  listing_id: LISTING,
  check_in: "2027-01-10",
  check_out: "2027-01-13",
  guests_count: 2,
};

function uuid(n: number) {
  return `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
}

function snapshot(n: number, over: Partial<BookingSnapshot> = {}): BookingSnapshot {
  return {
    id: uuid(n),
    status: "confirmed",
    reservation_id: `r${n}`,
    desired: { ...content },
    synced: { ...content },
    synced_status: "confirmed",
    sync_status: "synced",
    in_flight: false,
    updated_at: OLD,
    ...over,
  };
}

function raw(n: number, over: Record<string, unknown> = {}) {
  return {
    _id: `r${n}`,
    status: "confirmed",
    source: "website",
    listingId: LISTING,
    checkInDateLocalized: "2027-01-10",
    checkOutDateLocalized: "2027-01-13",
    guestsCount: 2,
    customFields: [{ fieldId: "website_booking_id", value: uuid(n) }],
    lastUpdatedAt: OLD,
    ...over,
  };
}

const ok = <T>(data: T): HttpAttempt<T> => ({
  outcome: "success",
  startedAt: new Date(),
  durationMs: 1,
  httpStatus: 200,
  data,
});

function fakes(bookings: BookingSnapshot[], reservations: unknown[], opts: {
  deferFirst?: number;
  missing?: Set<string>;
  healThrows?: boolean;
} = {}) {
  const calls: string[] = [];
  let deferrals = opts.deferFirst ?? 0;
  const store: RunStore & { finished?: unknown; begunWith?: unknown[] } = {
    begin: (...args) => {
      store.begunWith = args;
      return Promise.resolve({ started: true, runId: "run-1" });
    },
    bookings: () => Promise.resolve(bookings),
    record: (_run, item, action) => {
      calls.push(`${action} ${item.kind} ${item.reservationId}`);
      return Promise.resolve();
    },
    healMissing: (_run, item) => {
      if (opts.healThrows) return Promise.reject(new Error("database gone"));
      calls.push(`heal_missing ${item.reservationId}`);
      return Promise.resolve({ healed: true });
    },
    healResend: (_run, item, status) => {
      calls.push(`heal_resend ${item.reservationId} ${status}`);
      return Promise.resolve({ healed: true });
    },
    applyMissed: (_run, item) => {
      calls.push(`apply ${item.reservationId}`);
      return Promise.resolve({ outcome: "applied" });
    },
    finish: (runId, counts, error) => {
      store.finished = { counts, error };
      return Promise.resolve({
        runId,
        status: error ? "failed" : "finished",
        drift: 0,
        alertId: null,
      });
    },
  };
  const pages: number[] = [];
  const deps: RunDeps = {
    store,
    guestly: {
      page: (skip, limit) => {
        if (deferrals > 0) {
          deferrals--;
          return Promise.resolve({
            outcome: "deferred",
            startedAt: new Date(),
            durationMs: 0,
            httpStatus: null,
            error: "Guestly rate limit reached: deferred",
          } as HttpAttempt<SearchPage>);
        }
        pages.push(skip);
        return Promise.resolve(
          ok({ results: reservations.slice(skip, skip + limit), count: reservations.length }),
        );
      },
      get: (id) =>
        Promise.resolve(
          opts.missing?.has(id)
            ? { outcome: "permanent", startedAt: new Date(), durationMs: 1, httpStatus: 404 }
            : ok(raw(Number(id.slice(1)), { source: "manual" })),
        ),
    },
    bookingRefFieldId: "website_booking_id",
    log: memoryLogger(),
    now: () => Date.parse("2026-12-03T09:00:00Z"),
    sleep: () => Promise.resolve(),
  };
  return { deps, calls, pages, store };
}

Deno.test("pages through every reservation, counting requests (deferred ones are not sent)", async () => {
  const n = PAGE_SIZE * 2 + 5;
  const bookings = Array.from({ length: n }, (_, i) => snapshot(i));
  const reservations = bookings.map((_, i) => raw(i));
  const { deps, pages, store } = fakes(bookings, reservations, { deferFirst: 2 });
  const result = await runReconciliation(deps, { fix: true, triggeredBy: "cli", settleMs: 0 });
  assert.ok(result.started);
  assert.deepEqual(pages, [0, PAGE_SIZE, PAGE_SIZE * 2]);
  assert.deepEqual(result.counts, { reservationsSeen: n, bookingsChecked: n, requestsUsed: 3 });
  assert.deepEqual(result.items, []);
  assert.equal((store.finished as { error: unknown }).error, null);
});

Deno.test("without fix everything is reported; with fix the safe drift is healed", async () => {
  const bookings = [
    snapshot(1), // deleted in Guestly
    snapshot(2), // cancelled in Guestly, webhook lost
    // Cancelled here; the cancel never reached Guestly (the sync last left it confirmed there).
    snapshot(3, { status: "cancelled", synced_status: "confirmed" }),
    snapshot(4), // a duplicate is listed for it
  ];
  const reservations = [
    raw(2, { status: "canceled" }),
    raw(3),
    raw(4),
    raw(4, { _id: "r4-copy" }),
  ];
  const report = fakes(bookings, reservations, { missing: new Set(["r1"]) });
  await runReconciliation(report.deps, { fix: false, triggeredBy: "cli", settleMs: 0 });
  assert.deepEqual(report.calls, [
    "reported missing_in_guestly r1",
    "reported missed_webhook r2",
    "reported status_differs r3",
    "reported duplicate r4-copy",
  ]);

  const fix = fakes(bookings, reservations, { missing: new Set(["r1"]) });
  const result = await runReconciliation(fix.deps, { fix: true, triggeredBy: "cron", settleMs: 0 });
  assert.deepEqual(fix.calls, [
    "heal_missing r1",
    "apply r2",
    "heal_resend r3 true",
    "reported duplicate r4-copy",
  ]);
  assert.ok(result.started);
  assert.equal(result.counts.requestsUsed, 2, "one page and one read by id");
});

Deno.test("a heal that throws is recorded as heal_failed; the run goes on", async () => {
  const { deps, calls } = fakes([snapshot(1), snapshot(2)], [raw(2, { status: "canceled" })], {
    missing: new Set(["r1"]),
    healThrows: true,
  });
  await runReconciliation(deps, { fix: true, triggeredBy: "cli", settleMs: 0 });
  assert.deepEqual(calls, ["heal_failed missing_in_guestly r1", "apply r2"]);
});

Deno.test("--booking: only those bookings and the reservations carrying them", async () => {
  const { deps, calls } = fakes(
    [snapshot(1), snapshot(2)],
    [raw(1, { status: "canceled" }), raw(2, { status: "canceled" }), raw(9, { customFields: [] })],
  );
  const result = await runReconciliation(deps, {
    fix: false,
    triggeredBy: "cli",
    settleMs: 0,
    bookingIds: [uuid(2)],
  });
  assert.deepEqual(calls, ["reported missed_webhook r2"]);
  assert.ok(result.started && result.counts.bookingsChecked === 1);
});

Deno.test("Guestly unreachable past the patience: the run is recorded as failed", async () => {
  const { deps, store } = fakes([snapshot(1)], [], { deferFirst: 1000 });
  let t = Date.parse("2026-12-03T09:00:00Z");
  deps.now = () => t;
  deps.sleep = (ms) => {
    t += ms;
    return Promise.resolve();
  };
  const result = await runReconciliation(deps, {
    fix: true,
    triggeredBy: "cron",
    settleMs: 0,
    patienceMs: 60_000,
  });
  assert.ok(result.started);
  assert.match(String((store.finished as { error: unknown }).error), /rate limit reached/);
});

Deno.test("another run in progress: nothing is read", async () => {
  const { deps, pages } = fakes([snapshot(1)], []);
  deps.store.begin = () =>
    Promise.resolve({ started: false, runId: "run-0", reason: "already_running" });
  const result = await runReconciliation(deps, { fix: true, triggeredBy: "cron", settleMs: 0 });
  assert.deepEqual(result, { started: false, reason: "already_running", runId: "run-0" });
  assert.deepEqual(pages, []);
});

Deno.test("a reservation read by id keeps Guestly's lastUpdatedAt (a missed change carries Guestly's time)", () => {
  const read = ReservationDetails.parse({
    _id: "r9",
    status: "confirmed",
    lastUpdatedAt: "2026-12-02T08:00:00.000Z",
    customFields: [],
  });
  assert.equal(toListed(read, "field")?.lastUpdatedAt, "2026-12-02T08:00:00.000Z");
});

Deno.test("a run stops and records itself before the platform's wall clock, never heals half a picture", async () => {
  // 5 pages at 30 s each (slots waited for at background priority) against a 100 s budget: on
  // the platform the wall clock (150 s free) would kill it after the 202, silently.
  const n = PAGE_SIZE * 4 + 5;
  const bookings = Array.from({ length: n }, (_, i) => snapshot(i));
  const { deps, pages, store, calls } = fakes(
    bookings,
    bookings.map((_, i) => raw(i, i === 0 ? { status: "canceled" } : {})),
  );
  let clock = Date.parse("2026-12-03T09:00:00Z");
  deps.now = () => clock;
  const page = deps.guestly.page;
  deps.guestly.page = (skip, limit) => {
    clock += 30_000;
    return page(skip, limit);
  };
  const result = await runReconciliation(deps, {
    fix: true,
    triggeredBy: "cron",
    settleMs: 0,
    timeBudgetMs: 100_000,
  });
  assert.ok(result.started);
  // The database is told the run has a budget: it lives inside a function invocation, so one
  // still running past the platform's wall clock died (abandon_dead_runs alerts it).
  assert.deepEqual(store.begunWith, ["cron", true, 100]);
  assert.deepEqual(pages, [0, PAGE_SIZE, PAGE_SIZE * 2, PAGE_SIZE * 3]);
  const error = (store.finished as { error: string | null }).error ?? "";
  assert.match(
    error,
    /^stopped at its time budget \(100 s, GUESTLY_RECONCILE_TIME_BUDGET_SECONDS\)/,
  );
  assert.match(error, new RegExp(`${PAGE_SIZE * 4} of ${n} reservations read`));
  assert.deepEqual(calls, [], "nothing compared, nothing healed");

  // Without a budget (the CLI) the same run reads every page and heals.
  const cli = fakes(
    bookings,
    bookings.map((_, i) => raw(i, i === 0 ? { status: "canceled" } : {})),
  );
  await runReconciliation(cli.deps, { fix: true, triggeredBy: "cli", settleMs: 0 });
  assert.deepEqual(cli.store.begunWith, ["cli", true, undefined], "no budget: no wall clock");
  assert.equal(cli.pages.length, 5);
  assert.equal((cli.store.finished as { error: unknown }).error, null);
});
