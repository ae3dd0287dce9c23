// The reconciliation email: one per run with drift; what needs the admin first, with advice per
// kind, then what was healed; escaped HTML; stable for the same alert (Resend's idempotency).
import assert from "node:assert/strict";
import {
  type AlertContext,
  renderAlertEmail,
} from "../../functions/_shared/notifications/admin-alerts.ts";

const RUN = "7e570000-0000-4000-8000-000000000001";

function context(over: Record<string, unknown> = {}): AlertContext {
  return {
    alert: {
      id: "a1e70000-0000-4000-8000-0000000000d1",
      kind: "reconciliation_drift",
      booking_id: null,
      created_at: "2026-12-03T03:19:00.000Z",
      details: {
        run_id: RUN,
        started_at: "2026-12-03T03:17:00.000Z",
        fix: true,
        drift: 3,
        reservations_seen: 5000,
        bookings_checked: 4990,
        requests_used: 52,
        items: [
          {
            kind: "duplicate",
            booking_id: "b0000000-0000-4000-8000-000000000001",
            reservation_id: "r-copy",
            action: "reported",
            action_detail: null,
            details: { guestly_status: "confirmed", booking_reservation_id: "r1" },
          },
          {
            kind: "not_ours",
            booking_id: null,
            reservation_id: "r<9>",
            action: "reported",
            action_detail: null,
            details: { guestly_status: "confirmed", reason: "no_booking_holds_it" },
          },
          {
            kind: "missing_in_guestly",
            booking_id: "b0000000-0000-4000-8000-000000000002",
            reservation_id: "r2",
            action: "healed",
            action_detail: "sync episode started: lookup, then create",
            details: { booking_status: "confirmed", guestly: "not found (404)" },
          },
        ],
        ...over,
      },
    },
    booking: null,
    attempts_total: 0,
    attempts: [],
  };
}

Deno.test("subject counts what needs the admin and what was healed", () => {
  const email = renderAlertEmail(context(), null);
  assert.equal(email.subject, "Reconciliation with Guestly: 3 differences (2 need you, 1 healed)");
});

Deno.test("the body lists what needs the admin with advice, then what was healed", () => {
  const { text, html } = renderAlertEmail(context(), null);
  assert.match(
    text,
    /compared 4990 bookings with 5000 Guestly reservations \(52 Guestly requests\)/,
  );
  assert.match(text, /NEEDS YOU \(2\)/);
  assert.match(
    text,
    /duplicate reservation — booking b0000000-0000-4000-8000-000000000001, reservation r-copy/,
  );
  assert.match(text, /cancel the copy in Guestly/);
  assert.match(
    text,
    /in Guestly, not ours to hold — booking -, reservation r<9>: here -, Guestly confirmed \(no_booking_holds_it\)/,
  );
  assert.match(text, /HEALED \(1\)/);
  assert.match(text, /sync episode started: lookup, then create/);
  assert.ok(text.indexOf("NEEDS YOU") < text.indexOf("HEALED"));
  assert.match(text, new RegExp(`run_id = '${RUN}'`));
  assert.ok(html.includes("r&lt;9&gt;") && !html.includes("r<9>"), "escaped in HTML");
  assert.deepEqual(renderAlertEmail(context(), null), renderAlertEmail(context(), null));
});

Deno.test("a report-only run says nothing was changed; more than listed is said", () => {
  const { text } = renderAlertEmail(context({ fix: false, drift: 80 }), null);
  assert.match(text, /only reported \(no --fix\): nothing was changed/);
  assert.match(text, /77 more not listed here/);
});

Deno.test("a failed run is said in the subject and body; counts come from the whole run", () => {
  const failed = renderAlertEmail(
    context({ drift: 0, items: [], error: "search answered 400: unsupported filter" }),
    null,
  );
  assert.equal(failed.subject, "Reconciliation with Guestly: the run failed");
  assert.match(failed.text, /failed and stopped early: search answered 400/);
  // 120 differences, 80 healed, only 3 listed in the email.
  const many = renderAlertEmail(
    context({ drift: 120, actions: { healed: 80, reported: 40 } }),
    null,
  );
  assert.match(many.subject, /120 differences \(40 need you, 80 healed\)/);
});

Deno.test("a reservation the host reinstated tells the admin what happened and what to do", () => {
  const { text } = renderAlertEmail(
    context({
      drift: 1,
      items: [{
        kind: "status_differs",
        booking_id: "b0000000-0000-4000-8000-000000000003",
        reservation_id: "r3",
        action: "reported",
        action_detail: null,
        details: {
          booking_status: "cancelled",
          guestly_status: "confirmed",
          known_guestly_status: "canceled",
          reason: "reinstated_in_guestly",
        },
      }],
    }),
    null,
  );
  assert.match(text, /NEEDS YOU \(1\)/);
  assert.match(text, /here cancelled, Guestly confirmed \(Guestly had it cancelled; someone there/);
  assert.match(text, /Not cancelled again on our own/);
});

Deno.test("a run that never finished: its own email says it died, why, and what to do", () => {
  const abandoned = (details: Record<string, unknown>): AlertContext => ({
    alert: {
      id: "a1e70000-0000-4000-8000-0000000000d2",
      kind: "reconciliation_abandoned",
      booking_id: null,
      created_at: "2026-12-03T03:30:00.000Z",
      details: {
        run_id: RUN,
        started_at: "2026-12-03T03:17:00.000Z",
        abandoned_at: "2026-12-03T03:30:00.000Z",
        triggered_by: "cron",
        fix: true,
        drift_recorded: 2,
        healed: 1,
        ...details,
      },
    },
    booking: null,
    attempts: [],
    attempts_total: 0,
  });
  const inFunction = renderAlertEmail(abandoned({ time_budget_seconds: 360 }), null);
  assert.equal(
    inFunction.subject,
    "Reconciliation with Guestly: the run of 2026-12-03 03:17:00 UTC never finished",
  );
  assert.match(inFunction.text, /with a 360 s budget/);
  assert.match(inFunction.text, /150 s on the free plan, 400 s on paid plans/);
  assert.match(inFunction.text, /recorded 2 difference\(s\), 1 of them healed/);
  assert.match(inFunction.text, /GUESTLY_RECONCILE_TIME_BUDGET_SECONDS below your plan's limit/);
  assert.match(inFunction.text, new RegExp(`guestly_reconcile.runs where id = '${RUN}'`));
  assert.doesNotMatch(inFunction.text, /Guestly sync failed/);

  const cli = renderAlertEmail(abandoned({ time_budget_seconds: null, triggered_by: "cli" }), null);
  assert.match(cli.text, /without a time limit/);
  assert.doesNotMatch(cli.text, /GUESTLY_RECONCILE_TIME_BUDGET_SECONDS/);
  assert.equal(
    renderAlertEmail(abandoned({}), null).text,
    renderAlertEmail(abandoned({}), null).text,
  );
});
