// The operator's commands as pure functions: `npm run sync:status` text and JSON for a known set
// of rows, and `npm run sync:retry` arguments, target and result lines.
import assert from "node:assert/strict";
import {
  type FailedBooking,
  formatStatus,
  type Overview,
  statusJson,
  type StripeEventIssue,
} from "../../../scripts/sync-status.ts";
import { describeResult, parseArgs, resolveTarget } from "../../../scripts/sync-retry.ts";

const BOOKING = "5eed0000-0000-4000-8000-000000000001";

// -----------------------------------------------------------------------------------------------
// sync:status formatting against fixed rows.

const AS_OF = new Date("2026-11-26T13:00:00Z");
const OVERVIEW: Overview = {
  pending: 2,
  synced: 40,
  failed: 2,
  failed_final: 1,
  awaiting_payment: 5,
  payments_pending: 1,
  payments_recorded: 38,
  oldest_pending_since: new Date("2026-11-26T12:56:40Z"),
  alerts_sent: 7,
  alerts_waiting: 1,
  alerts_failing: 1,
  oldest_unsent_alert_at: new Date("2026-11-26T12:30:00Z"),
  last_alert_error: "Resend 503 service_unavailable: outage",
  as_of: AS_OF,
};
const FAILURES: FailedBooking[] = [
  {
    booking_id: BOOKING,
    booking_status: "confirmed",
    guest_name: "Ada Lovelace",
    property_name: "Ocean View Loft",
    attempts: 4,
    last_error: "Guestly HTTP 422: guest.email: rejected",
    last_http_status: 422,
    last_attempt_at: new Date("2026-11-26T12:34:55Z"),
    next_attempt_at: null,
    gave_up_at: new Date("2026-11-26T12:34:56Z"),
    alerted_at: new Date("2026-11-26T12:34:56Z"),
    alert_sent_at: new Date("2026-11-26T12:35:01Z"),
  },
  {
    booking_id: "5eed0000-0000-4000-8000-000000000002",
    booking_status: "confirmed",
    guest_name: "Grace Hopper",
    property_name: "Pine Cabin",
    attempts: 4,
    last_error: "Guestly HTTP 503:\n  unavailable",
    last_http_status: 503,
    last_attempt_at: new Date("2026-11-26T12:58:00Z"),
    next_attempt_at: new Date("2026-11-26T13:03:00Z"),
    gave_up_at: null,
    alerted_at: null,
    alert_sent_at: null,
  },
];

Deno.test("sync:status text for a known set of rows", () => {
  assert.equal(
    formatStatus(OVERVIEW, FAILURES),
    `Guestly sync status (as of 2026-11-26 13:00:00 UTC)

Bookings (paid or cancelled; those awaiting payment need no sync)
  synced              40
  pending              2   oldest waiting 3m 20s (since 2026-11-26 12:56:40 UTC)
  failed               2   1 gave up (manual retry needed), 1 retrying automatically
  awaiting payment     5
Money in Guestly: 38 payments/refunds recorded, 1 on their way

Failed bookings (2)
  ${BOOKING}  Ada Lovelace at Ocean View Loft
      attempts 4 · last HTTP 422 · last attempt 2026-11-26 12:34:55 UTC
      error: Guestly HTTP 422: guest.email: rejected
      next retry: none — gave up 2026-11-26 12:34:56 UTC; run npm run sync:retry -- ${BOOKING}
      alert: sent 2026-11-26 12:35:01 UTC
  5eed0000-0000-4000-8000-000000000002  Grace Hopper at Pine Cabin
      attempts 4 · last HTTP 503 · last attempt 2026-11-26 12:58:00 UTC
      error: Guestly HTTP 503: unavailable
      next retry: 2026-11-26 13:03:00 UTC (automatic)
      alert: none (still retrying automatically)

Admin alerts
  sent 7 · waiting 1 · failing 1
  oldest unsent: written 2026-11-26 12:30:00 UTC (30m 00s ago)
  last send error: Resend 503 service_unavailable: outage

Stripe events needing attention (0)
  none`,
  );
});

Deno.test("sync:status lists Stripe events that need a human", () => {
  const issue: StripeEventIssue = {
    event_id: "evt_123",
    type: "payment_intent.succeeded",
    outcome: "amount_mismatch",
    booking_id: BOOKING,
    amount: 100,
    currency: "eur",
    error: "paid 100 eur, booking expects 64000 eur",
    received_at: new Date("2026-11-26T12:50:00Z"),
  };
  const text = formatStatus(OVERVIEW, [], { total: 3, newest: [issue] });
  assert.ok(
    text.endsWith(`Stripe events needing attention (3)
  evt_123  payment_intent.succeeded · amount_mismatch · 100 eur · 2026-11-26 12:50:00 UTC
      booking: ${BOOKING} · paid 100 eur, booking expects 64000 eur
  … and 2 older`),
    text,
  );
  const json = statusJson(OVERVIEW, [], { total: 3, newest: [issue] });
  assert.equal(json.stripe_events_needing_attention.total, 3);
  assert.equal(
    json.stripe_events_needing_attention.newest[0].received_at,
    "2026-11-26T12:50:00.000Z",
  );
});

Deno.test("sync:status with nothing wrong, and as JSON", () => {
  const calm: Overview = {
    ...OVERVIEW,
    pending: 0,
    failed: 0,
    failed_final: 0,
    oldest_pending_since: null,
    alerts_waiting: 0,
    alerts_failing: 0,
    oldest_unsent_alert_at: null,
    last_alert_error: null,
  };
  const text = formatStatus(calm, []);
  assert.match(text, /pending\s+0\n/);
  assert.match(text, /Failed bookings \(0\)\n {2}none/);
  assert.ok(!text.includes("oldest"));
  const json = statusJson(OVERVIEW, FAILURES);
  assert.equal(json.bookings.oldest_pending_age_seconds, 200);
  assert.equal(json.failed[0].next_attempt_at, null);
  assert.equal(json.failed[1].next_attempt_at, "2026-11-26T13:03:00.000Z");
  assert.deepEqual(json.alerts, {
    sent: 7,
    waiting: 1,
    failing: 1,
    oldest_unsent_at: "2026-11-26T12:30:00.000Z",
    last_error: "Resend 503 service_unavailable: outage",
  });
});

// ---------------------------------------------------------------------------------------------
// sync:retry argument handling and result lines.

Deno.test("sync:retry arguments", () => {
  assert.deepEqual(parseArgs([BOOKING]), {
    kind: "ids",
    bookingIds: [BOOKING],
    ignoreCalendar: false,
  });
  assert.deepEqual(parseArgs(["--all-failed"]), { kind: "all_failed" });
  assert.equal(parseArgs([]).kind, "error");
  assert.equal(parseArgs(["not-a-uuid"]).kind, "error");
  assert.equal(parseArgs(["--all-failed", BOOKING]).kind, "error");
  assert.equal(parseArgs(["--force"]).kind, "error");
});

Deno.test("sync:retry target: env wins, local only when both are absent, never mixed", async () => {
  const remote = await resolveTarget({
    SUPABASE_URL: "https://proj.supabase.co",
    SUPABASE_SERVICE_ROLE_KEY: "k",
  });
  assert.equal(remote.url, "https://proj.supabase.co");
  assert.equal(remote.dbUrl, null, "no local DB for a remote project");
  await assert.rejects(
    resolveTarget({ SUPABASE_URL: "https://proj.supabase.co" }),
    /SUPABASE_SECRET_KEY \/ SUPABASE_SERVICE_ROLE_KEY is not/,
  );
  await assert.rejects(resolveTarget({ SUPABASE_SECRET_KEY: "sb_secret_x" }), /set both/);
  // Either kind of key, in either variable; SUPABASE_SECRET_KEY wins.
  const url = "https://proj.supabase.co";
  for (
    const [env, key] of [
      [{ SUPABASE_SERVICE_ROLE_KEY: "sb_secret_a" }, "sb_secret_a"],
      [{ SUPABASE_SECRET_KEY: "sb_secret_b" }, "sb_secret_b"],
      [
        { SUPABASE_SERVICE_ROLE_KEY: "eyJ.legacy", SUPABASE_SECRET_KEY: "sb_secret_c" },
        "sb_secret_c",
      ],
    ] as const
  ) {
    assert.equal((await resolveTarget({ SUPABASE_URL: url, ...env })).serviceRoleKey, key);
  }
  await assert.rejects(
    resolveTarget({ SUPABASE_URL: url, SUPABASE_SECRET_KEY: "sb_publishable_x" }),
    /publishable key/,
  );
  const local = await resolveTarget({});
  assert.match(local.serviceRoleKey, /^sb_secret_/, "the local stack's secret key");
  assert.match(local.description, /local stack/);
  assert.match(local.url, /^http:\/\/127\.0\.0\.1:\d+$/);
});

Deno.test("sync:retry result lines and exit codes", () => {
  assert.deepEqual(
    describeResult(BOOKING, 200, { outcome: "synced", reservationId: "r-1", attempts: 5 }),
    { line: `✔ ${BOOKING}: synced — Guestly reservation r-1 (attempt 5)`, code: 0 },
  );
  assert.deepEqual(
    describeResult(BOOKING, 200, { outcome: "skipped", reason: "already_synced" }),
    { line: `✔ ${BOOKING}: already synced — nothing to do`, code: 0 },
  );
  const failed = describeResult(BOOKING, 200, {
    outcome: "failed",
    final: true,
    error: "Guestly HTTP 422: no",
    attempts: 2,
  });
  assert.equal(failed.code, 2);
  assert.match(failed.line, /failed — Guestly HTTP 422: no/);
  assert.deepEqual(describeResult(BOOKING, 404, { outcome: "not_found" }), {
    line: `✖ ${BOOKING}: booking not found`,
    code: 1,
  });
  assert.equal(describeResult(BOOKING, 401, { error: "unauthorized" }).code, 1);
  assert.equal(describeResult(BOOKING, 0, { error: "connection refused" }).code, 1);
});
