// The sync_stalled email: names the cause, what to do, what the database saw; escaped; stable.
import assert from "node:assert/strict";
import {
  type AlertContext,
  renderAlertEmail,
} from "../../functions/_shared/notifications/admin-alerts.ts";
import { STALL_ADVICE } from "../../functions/_shared/notifications/sync-stalled.ts";

const BOOKING = "5eed0000-0000-4000-8000-000000000001";

function stalled(details: Record<string, unknown>): AlertContext {
  return {
    alert: {
      id: "a1e70000-0000-4000-8000-00000000005a",
      kind: "sync_stalled",
      booking_id: BOOKING,
      created_at: "2026-12-02T10:16:00.000Z",
      details: {
        episode: "1796200000",
        due_since: "2026-12-02T10:00:00Z",
        detected_at: "2026-12-02T10:16:00Z",
        stall_minutes: 15,
        calls: 8,
        calls_not_made: 0,
        calls_unanswered: 0,
        ...details,
      },
    },
    booking: {
      id: BOOKING,
      status: "confirmed",
      guest_first_name: "Ada",
      guest_last_name: "Lovelace",
      guest_email: "ada@example.com",
      check_in: "2027-02-01",
      check_out: "2027-02-05",
      guests_count: 2,
      amount_total: 64000,
      currency: "eur",
      stripe_payment_intent_id: "pi_3QxYz",
      property_name: "Ocean View Loft",
    },
    attempts_total: 0,
    attempts: [],
  };
}

Deno.test("sync disabled: the subject and body say so plainly, with the fix", () => {
  const email = renderAlertEmail(
    stalled({
      cause: "sync_disabled",
      reason: "guestly-sync runs with GUESTLY_SYNC_ENABLED not true (it said so at " +
        "2026-12-02 10:14:00 UTC): it skips every booking, so nothing is sent to Guestly.",
      function_state: { enabled: false, test_mode: false, reported_at: "2026-12-02T10:14:00Z" },
      last_response: {
        http_status: 200,
        body: '{"outcome":"skipped","reason":"GUESTLY_SYNC_ENABLED is not true"}',
        at: "2026-12-02T10:14:01Z",
      },
    }),
    null,
  );
  assert.equal(
    email.subject,
    "Guestly sync stalled: booking 5eed0000… — Ada Lovelace at Ocean View Loft " +
      "(nothing for 16 min: sync disabled)",
  );
  assert.match(email.text, /Likely cause: guestly-sync runs with GUESTLY_SYNC_ENABLED not true/);
  assert.match(email.text, /supabase secrets set GUESTLY_SYNC_ENABLED=true/);
  assert.match(
    email.text,
    /GUESTLY_SYNC_ENABLED=false GUESTLY_TEST_MODE=false at 2026-12-02 10:14:00 UTC/,
  );
  assert.match(email.text, /Waiting since: +2026-12-02 10:00:00 UTC/);
  assert.match(email.text, /Threshold: +15 min \(GUESTLY_STALL_ALERT_MINUTES\)/);
  assert.match(email.text, /npm run sync:retry -- 5eed0000-0000-4000-8000-000000000001/);
  assert.match(email.text, /Guest email: +ada@example\.com/);
  assert.doesNotMatch(email.text, /One-click/, "no retry link: the sweep retries anyway");
});

Deno.test("each cause the detector names has its own advice", () => {
  for (
    const cause of [
      "sync_disabled",
      "test_mode",
      "unauthorized",
      "function_not_found",
      "function_error",
      "unreachable",
      "no_progress",
      "not_called",
      "no_response",
      "not_invoked",
    ]
  ) {
    assert.ok(STALL_ADVICE[cause]?.length, `advice for ${cause}`);
    const email = renderAlertEmail(stalled({ cause, reason: `reason for ${cause}` }), null);
    assert.ok(email.text.includes(STALL_ADVICE[cause][0]), `${cause}: advice in the text`);
  }
});

Deno.test("401 from the function: the Vault fix, the answer, the last attempt's error", () => {
  const email = renderAlertEmail(
    stalled({
      cause: "unauthorized",
      reason: "guestly-sync answered HTTP 401 to the database's calls: …",
      last_response: {
        http_status: 401,
        body: '{"code":401,"message":"Invalid JWT"}',
        at: "2026-12-02T10:15:00Z",
      },
      last_attempt: {
        attempt: 3,
        operation: "create",
        started_at: "2026-12-02T09:58:00Z",
        http_status: 503,
        outcome: "retryable",
        error: "Guestly HTTP 503: upstream unavailable",
      },
    }),
    null,
  );
  assert.match(email.text, /vault\.update_secret/);
  assert.match(email.text, /Latest answer: +HTTP 401 at 2026-12-02 10:15:00 UTC — \{"code":401/);
  assert.match(
    email.text,
    /Last attempt: +#3 \(create\) at 2026-12-02 09:58:00 UTC: HTTP 503 Guestly HTTP 503/,
  );
  assert.match(email.html, /HTTP 401 at 2026-12-02 10:15:00 UTC — \{&quot;code&quot;:401/);
});

Deno.test("hostile text is escaped in HTML and the email is the same bytes every time", () => {
  const ctx = stalled({ cause: "function_error", reason: '<img src=x onerror="alert(1)">' });
  ctx.booking!.guest_first_name = "<b>Eve</b>";
  const a = renderAlertEmail(ctx, null);
  const b = renderAlertEmail(structuredClone(ctx), null);
  assert.deepEqual(a, b);
  assert.ok(!a.html.includes("<img"), "no raw tag from the reason");
  assert.ok(!a.html.includes("<b>Eve"), "no raw tag from the guest name");
  assert.match(a.html, /&lt;img src=x/);
});

Deno.test("a stalled alert with missing details still renders (unknown cause)", () => {
  const ctx = stalled({});
  ctx.alert.details = {};
  const email = renderAlertEmail(ctx, null);
  assert.match(
    email.subject,
    /^Guestly sync stalled: booking 5eed0000… — Ada Lovelace at Ocean View Loft \(unknown cause\)$/,
  );
  assert.match(email.text, /Read the reason above/);
});
