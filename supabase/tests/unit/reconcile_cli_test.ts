// `npm run sync:reconcile` arguments, and the reconciliation's lines in `sync:status`: what needs
// an operator first, healed items after, "no drift" and "no run yet".
import assert from "node:assert/strict";
import { parseArgs } from "../../../scripts/sync-reconcile.ts";
import { formatReconcileRun, type ReconcileRun } from "../../../scripts/sync-status-reconcile.ts";
import { formatGuestlyChanges } from "../../../scripts/sync-status-guestly.ts";

const B = "b0000000-0000-4000-8000-000000000001";

Deno.test("arguments: --fix, --json, --booking (repeatable), --settle-minutes, --via-function", () => {
  assert.deepEqual(parseArgs([]), { fix: false, json: false, viaFunction: false });
  assert.deepEqual(
    parseArgs(["--fix", "--booking", B, "--booking", B, "--settle-minutes", "0", "--json"]),
    { fix: true, json: true, viaFunction: false, bookingIds: [B, B], settleMinutes: 0 },
  );
  assert.equal(parseArgs(["--via-function"]).viaFunction, true);
  assert.throws(() => parseArgs(["--booking", "nope"]), /--booking needs a booking id/);
  assert.throws(() => parseArgs(["--settle-minutes", "-1"]), /--settle-minutes/);
  assert.throws(() => parseArgs(["--heal"]), /unknown argument --heal/);
});

function run(over: Partial<ReconcileRun> = {}): ReconcileRun {
  return {
    run: {
      id: "7e570000-0000-4000-8000-000000000001",
      started_at: "2026-12-03T03:17:00Z",
      finished_at: "2026-12-03T03:19:00Z",
      triggered_by: "cron",
      fix: true,
      status: "finished",
      reservations_seen: 120,
      bookings_checked: 118,
      requests_used: 3,
      error: null,
      alert_id: null,
    },
    counts: {},
    actions: {},
    items: [],
    ...over,
  };
}

Deno.test("sync:status: no run yet, no drift", () => {
  assert.match(
    formatReconcileRun(null),
    /no run yet \(daily at 03:17 UTC, or npm run sync:reconcile\)/,
  );
  const text = formatReconcileRun(run());
  assert.match(text, /cron --fix · finished/);
  assert.match(text, /120 reservations in Guestly, 118 bookings checked, 3 Guestly requests/);
  assert.match(text, /no drift/);
});

Deno.test("sync:status: drift counts, what needs an operator listed before what was healed", () => {
  const text = formatReconcileRun(run({
    counts: { missing_in_guestly: 1, duplicate: 1 },
    actions: { healed: 1, reported: 1 },
    items: [
      {
        id: 1,
        kind: "missing_in_guestly",
        booking_id: B,
        reservation_id: "r1",
        details: { guestly: "not found (404)" },
        action: "healed",
        action_detail: "sync episode started: lookup, then create",
      },
      {
        id: 2,
        kind: "duplicate",
        booking_id: B,
        reservation_id: "r2",
        details: { booking_reservation_id: "r1" },
        action: "reported",
        action_detail: null,
      },
    ],
  }));
  assert.match(text, /drift 2: missing_in_guestly 1 · duplicate 1/);
  const lines = text.split("\n");
  const dup = lines.findIndex((l) => l.includes("duplicate · booking"));
  const missing = lines.findIndex((l) => l.includes("missing_in_guestly · booking"));
  assert.ok(dup > 0 && missing > dup, "reported first");
  assert.match(lines[dup], /the booking holds r1 → reported/);
  assert.match(lines[missing], /→ healed \(sync episode started: lookup, then create\)/);
});

Deno.test("changes from Guestly: one found by the reconciliation says so", () => {
  const text = formatGuestlyChanges({
    counts: { applied: 1 },
    waiting: [],
    applied: [{
      received_at: new Date("2026-12-03T03:18:00Z"),
      event_type: "reservation.updated.v2",
      reservation_id: "r1",
      outcome: "applied",
      reason: null,
      booking_id: B,
      changes: { guests_count: [2, 4] },
      apply_attempts: 0,
      last_error: null,
      origin: "reconciliation",
    }],
  });
  assert.match(text, /guests_count 2 → 4 \(webhook lost: found by the reconciliation\)/);
});
