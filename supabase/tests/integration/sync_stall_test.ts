// Nothing stalls silently, on the real stack: each cause is produced for real (a second functions
// gateway with sync disabled or a start-up error, a wrong key in Vault), the real pg_net worker
// brings back the real answers, and guestly.detect_stalled_syncs — run with a clock 16 minutes
// ahead — writes exactly one sync_stalled alert naming the cause. When the key in Vault is
// wrong, notify-admin cannot be reached either: the alert shows up as undelivered with the
// reason, and is emailed once the key is fixed.
import assert from "node:assert/strict";
import {
  booking,
  connect,
  insertBooking,
  keys,
  mail,
  setStatus,
  stack,
  waitFor,
} from "./harness.ts";
import { withGateway, withVaultSecret as withSecret } from "./second_gateway.ts";
import { formatStatus, readStatus } from "../../../scripts/sync-status.ts";

const sql = connect();
const AHEAD = "16 minutes";

/** Runs `fn` with a Vault secret changed (this test's connection), and always puts it back. */
function withVaultSecret<T>(name: string, value: string, fn: () => Promise<T>): Promise<T> {
  return withSecret(sql, name, value, fn);
}

/** The pg_net answer to the newest call made for this booking. */
async function lastAnswer(bookingId: string) {
  return await waitFor(`a pg_net answer for ${bookingId}`, async () => {
    const [row] = await sql`
      select r.status_code, r.content, r.error_msg
        from guestly.function_invocations i
        join net._http_response r on r.id = i.request_id
       where i.booking_id = ${bookingId} and i.function_name = 'guestly-sync'
       order by i.id desc limit 1`;
    return row;
  }, 30_000);
}

async function paidBooking(tag: string) {
  const id = await insertBooking(sql, { firstName: "Stall", lastName: tag });
  await setStatus(sql, id, "confirmed");
  return id;
}

async function detectAhead(): Promise<void> {
  await sql`select guestly.detect_stalled_syncs(as_of => now() + ${AHEAD}::interval)`;
}

async function stallAlerts(bookingId: string) {
  return await sql`
    select id, details, sent_at from guestly.admin_alerts
     where booking_id = ${bookingId} and kind = 'sync_stalled' order by created_at`;
}

/** The stack's own guestly-sync reports again within a minute; the tests want a clean slate. */
async function forgetFunctionState() {
  await sql`delete from guestly.function_state`;
}

/** Leaves nothing owed behind: a never-synced booking cancelled needs nothing from Guestly. */
async function settle(id: string) {
  await setStatus(sql, id, "cancelled");
}

Deno.test({
  name: "sync disabled: one sync_stalled alert that says GUESTLY_SYNC_ENABLED plainly",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await forgetFunctionState();
    await withGateway({ GUESTLY_SYNC_ENABLED: "false" }, async (gateway) => {
      await withVaultSecret("project_url", gateway.url, async () => {
        const id = await paidBooking("Disabled");
        try {
          const answer = await lastAnswer(id);
          assert.equal(answer.status_code, 200);
          assert.match(answer.content, /GUESTLY_SYNC_ENABLED is not true/);
          const [state] = await sql`
            select enabled from guestly.function_state where function_name = 'guestly-sync'`;
          assert.equal(state?.enabled, false, "the function told the database it is disabled");

          await sql`select guestly.detect_stalled_syncs()`;
          assert.equal((await stallAlerts(id)).length, 0, "not before the threshold");
          await detectAhead();
          await detectAhead();
          const alerts = await stallAlerts(id);
          assert.equal(alerts.length, 1, "exactly one alert for the episode");
          assert.equal(alerts[0].details.cause, "sync_disabled");
          assert.match(alerts[0].details.reason, /GUESTLY_SYNC_ENABLED not true/);
          assert.equal((await booking(sql, id)).guestly_sync_attempts, 0);
        } finally {
          await settle(id);
        }
      });
    });
    await forgetFunctionState();
  },
});

Deno.test({
  name: "guestly-sync fails at start-up: the alert names the 5xx, the function log says why",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await forgetFunctionState();
    await withGateway({ GUESTLY_STALL_ALERT_MINUTES: "soon" }, async (gateway, logDir) => {
      await withVaultSecret("project_url", gateway.url, async () => {
        const id = await paidBooking("BootError");
        try {
          const answer = await lastAnswer(id);
          assert.ok(answer.status_code >= 500, `a 5xx answer, got ${answer.status_code}`);
          await detectAhead();
          await detectAhead();
          const alerts = await stallAlerts(id);
          assert.equal(alerts.length, 1);
          assert.equal(alerts[0].details.cause, "function_error");
          assert.equal(alerts[0].details.last_response.http_status, answer.status_code);
          assert.match(alerts[0].details.reason, /fails at start-up/);
          // The function answers 500 naming the variable, and the alert carries it to the admin.
          assert.equal(answer.status_code, 500);
          assert.match(
            alerts[0].details.last_response.body,
            /invalid configuration: GUESTLY_STALL_ALERT_MINUTES/,
          );
          const log = await Deno.readTextFile(`${logDir}/guestly-sync.log`);
          assert.match(log, /invalid configuration: GUESTLY_STALL_ALERT_MINUTES/);
        } finally {
          await settle(id);
        }
      });
    });
  },
});

Deno.test({
  name: "wrong key in Vault: the stall alert names the 401; undelivered, shown with why, " +
    "emailed once the key is fixed",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await forgetFunctionState();
    const wrongKey = keys.serviceRoleKey.slice(0, -4) + "XXXX";
    let id = "";
    let alertId = "";
    try {
      await withVaultSecret("service_role_key", wrongKey, async () => {
        id = await paidBooking("WrongKey");
        const answer = await lastAnswer(id);
        assert.equal(answer.status_code, 401);
        await detectAhead();
        await detectAhead();
        const alerts = await stallAlerts(id);
        assert.equal(alerts.length, 1);
        alertId = alerts[0].id;
        assert.equal(alerts[0].details.cause, "unauthorized");
        assert.match(alerts[0].details.reason, /HTTP 401.*Vault secret service_role_key/);

        // The same wrong key keeps notify-admin out: the alert must be visible without it.
        const undelivered = await waitFor("notify-admin's 401 to be seen", async () => {
          const [row] = await sql`
            select * from public.guestly_undelivered_alerts where alert_id = ${alertId}`;
          return row?.notify_admin_http_status === 401 ? row : null;
        }, 30_000);
        assert.match(undelivered.why, /notify-admin answered HTTP 401/);
        const status = await readStatus(stack.dbUrl);
        const later = { ...status.overview, as_of: new Date(Date.now() + 3 * 60_000) };
        const text = formatStatus(later, status.failures, status.stripe, status.attention);
        assert.match(text, /!!! \d+ ADMIN ALERTS? NOT DELIVERED/);
        assert.match(text, /!!! why: notify-admin answered HTTP 401/);
        assert.match(text, new RegExp(`sync_stalled +booking ${id}`));
      });

      // Key fixed: the next wake-up delivers it, once.
      await sql`select guestly.wake_notify_admin()`;
      const messages = await waitFor("the sync_stalled email", async () => {
        const found = (await mail.messages()).filter((m) =>
          String(m.subject).startsWith("Guestly sync stalled") && String(m.text).includes(id)
        );
        return found.length ? found : null;
      }, 30_000);
      assert.equal(messages.length, 1);
      assert.match(String(messages[0].subject), /unauthorized\)$/);
      assert.match(String(messages[0].text), /vault\.update_secret/);
      assert.equal(messages[0].idempotencyKey, alertId);
    } finally {
      if (id) await settle(id);
    }
  },
});

Deno.test({
  name: "a database error in the handler: the alert names the 500 and the crash",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await forgetFunctionState();
    const badDb = stack.dbUrl.replace("postgres:postgres@", "postgres:wrong-password@");
    await withGateway({ SUPABASE_DB_URL: badDb }, async (gateway, logDir) => {
      await withVaultSecret("project_url", gateway.url, async () => {
        const id = await paidBooking("DbError");
        try {
          const answer = await lastAnswer(id);
          assert.equal(answer.status_code, 500);
          assert.match(answer.content, /sync failed unexpectedly/);
          await detectAhead();
          await detectAhead();
          const alerts = await stallAlerts(id);
          assert.equal(alerts.length, 1);
          assert.equal(alerts[0].details.cause, "function_error");
          assert.match(alerts[0].details.reason, /HTTP 500.*crashes \(e\.g\. a database error\)/);
          const log = await Deno.readTextFile(`${logDir}/guestly-sync.log`);
          assert.match(log, /"event":"guestly\.sync\.crashed"/);
          assert.match(log, /"event":"guestly\.function_state\.report_failed"/);
        } finally {
          await settle(id);
        }
      });
    });
  },
});

Deno.test({
  name: "the anon key in Vault: the function itself refuses it, and its log says why",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await forgetFunctionState();
    await withGateway({}, async (gateway, logDir) => {
      await withVaultSecret("project_url", gateway.url, async () => {
        await withVaultSecret("service_role_key", keys.anonKey, async () => {
          const id = await paidBooking("AnonKey");
          try {
            const answer = await lastAnswer(id);
            assert.equal(answer.status_code, 401);
            assert.match(answer.content, /unauthorized: a secret key .* or the service_role key/);
            await detectAhead();
            const alerts = await stallAlerts(id);
            assert.equal(alerts.length, 1);
            assert.equal(alerts[0].details.cause, "unauthorized");
            const log = await Deno.readTextFile(`${logDir}/guestly-sync.log`);
            assert.match(log, /"event":"guestly\.sync\.unauthorized"/);
            assert.doesNotMatch(log, new RegExp(keys.anonKey), "the key itself is never logged");
            // The alert's wake-up of notify-admin carries the same key: refused, and logged.
            await waitFor(
              "notify-admin to log the refused key",
              async () =>
                /"event":"admin_alert\.unauthorized"/.test(
                  await Deno.readTextFile(`${logDir}/notify-admin.log`).catch(() => ""),
                ),
              30_000,
            );
          } finally {
            await settle(id);
          }
        });
      });
    });
  },
});

Deno.test({
  name: "a stalled booking that recovers is synced, and no alert follows",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // Control: with everything healthy the same path syncs, and the detector stays quiet.
    // The account-wide limiter is shared with the tests before this file: a burst of theirs can
    // fill its minute window, and a live sync then rightly waits for it (past the gateway's 30 s).
    // Start from a window with room, so what is measured is this booking's path.
    await waitFor(
      "the rate limiter's minute window to have room",
      async () => {
        const [row] = await sql`select count(*)::int as n from guestly.request_slots
                               where slot_at > clock_timestamp() - interval '1 minute'`;
        return row.n < 100;
      },
      90_000,
      500,
    );
    const id = await paidBooking("Healthy");
    await waitFor("the booking to sync", async () => {
      const row = await booking(sql, id);
      return row.guestly_sync_status === "synced";
    }, 30_000);
    await detectAhead();
    assert.equal((await stallAlerts(id)).length, 0);
  },
});

addEventListener("unload", () => sql.end());
