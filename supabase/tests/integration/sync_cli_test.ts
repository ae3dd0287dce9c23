// `npm run sync:retry` and `npm run sync:status` as an operator runs them: real processes
// (`deno run -A scripts/…`) against the running stack. The stack is shared: bookings, guest
// emails and faults are this file's own, and `--all-failed` is pointed at an unreachable
// functions URL so it never retries anybody else's bookings.
import assert from "node:assert/strict";
import {
  apiKeys,
  booking,
  connect,
  insertBooking,
  keys,
  mail,
  sandbox,
  setStatus,
  stack,
  waitFor,
} from "./harness.ts";

const sql = connect();
const DENO = `${stack.root}/node_modules/.bin/deno`;

/** The caller's environment minus the Supabase target, plus `env`. */
function cliEnv(env: Record<string, string> = {}): Record<string, string> {
  const base = Deno.env.toObject();
  for (
    const name of [
      "SUPABASE_URL",
      "SUPABASE_SERVICE_ROLE_KEY",
      "SUPABASE_SECRET_KEY",
      "SUPABASE_DB_URL",
    ]
  ) {
    delete base[name];
  }
  return { ...base, NO_COLOR: "1", ...env };
}

async function run(script: string, args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(DENO, {
    args: ["run", "-A", `scripts/${script}`, ...args],
    cwd: stack.root,
    env: cliEnv(env),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

async function emailsFor(bookingId: string) {
  return (await mail.messages()).filter((m) => String(m.text ?? "").includes(bookingId));
}

Deno.test({
  name: "sync:retry: fails again (new alert), then syncs once Guestly accepts; status shows it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const email = `cli-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const id = await insertBooking(sql, { firstName: "Ada", lastName: "Lovelace", email });
    await sandbox.rejectGuest(email, true);
    try {
      await setStatus(sql, id, "confirmed");
      await waitFor("the first final failure and its email", async () => {
        const row = await booking(sql, id);
        return row.guestly_sync_gave_up_at && (await emailsFor(id)).length === 1;
      });

      await t.step(
        "sync:status lists the failed booking with attempts, error, no next retry",
        async () => {
          const result = await run("sync-status.ts", ["--json"]);
          assert.equal(result.code, 0, result.stderr);
          const status = JSON.parse(result.stdout);
          const mine = status.failed.find((f: { booking_id: string }) => f.booking_id === id);
          assert.ok(mine, "the failed booking is listed");
          assert.equal(mine.attempts, 1);
          assert.equal(mine.last_http_status, 422);
          assert.match(mine.last_error, /rejected/);
          assert.equal(mine.next_attempt_at, null, "given up: no automatic retry");
          assert.ok(mine.alerted_at);
          assert.ok(status.bookings.failed >= 1);
          const text = await run("sync-status.ts", []);
          assert.equal(text.code, 0);
          assert.ok(text.stdout.includes(id));
          assert.match(text.stdout, /database: 127\.0\.0\.1:\d+ \(local stack/);
        },
      );

      await t.step("a retry that fails again exits 2 and sends a second email", async () => {
        const result = await run("sync-retry.ts", [id]);
        assert.equal(result.code, 2, result.stdout + result.stderr);
        assert.match(result.stdout, /target: http:\/\/127\.0\.0\.1:\d+ \(local stack/);
        assert.match(result.stdout, new RegExp(`✖ ${id}: failed — .*rejected by Guestly`));
        const emails = await waitFor("the second episode's email", async () => {
          const found = await emailsFor(id);
          return found.length === 2 ? found : null;
        });
        assert.notEqual(emails[0].idempotencyKey, emails[1].idempotencyKey);
        const [{ count }] = await sql`
          select count(*)::int as count from guestly.admin_alerts where booking_id = ${id}`;
        assert.equal(count, 2);
      });

      await t.step("once Guestly accepts the guest, the retry syncs and exits 0", async () => {
        await sandbox.rejectGuest(email, false);
        const result = await run("sync-retry.ts", [id], {
          SUPABASE_URL: stack.apiUrl,
          SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
        });
        assert.equal(result.code, 0, result.stdout + result.stderr);
        assert.match(result.stdout, /\(from SUPABASE_URL, key from SUPABASE_SERVICE_ROLE_KEY\)/);
        const row = await booking(sql, id);
        assert.equal(row.guestly_sync_status, "synced");
        assert.ok(row.guestly_reservation_id);
        assert.match(
          result.stdout,
          new RegExp(`✔ ${id}: synced — Guestly reservation ${row.guestly_reservation_id}`),
        );
        assert.equal((await sandbox.reservationsFor(id)).length, 1);
      });

      await t.step(
        "again: already synced — nothing to do, exit 0; status no longer lists it",
        async () => {
          // With a secret key this time, in either variable (guestly-sync takes both kinds).
          for (const name of ["SUPABASE_SECRET_KEY", "SUPABASE_SERVICE_ROLE_KEY"]) {
            const withSecret = await run("sync-retry.ts", [id], {
              SUPABASE_URL: stack.apiUrl,
              [name]: apiKeys.secretKey,
            });
            assert.equal(withSecret.code, 0, withSecret.stdout + withSecret.stderr);
            assert.match(withSecret.stdout, new RegExp(`key from ${name}`));
            assert.match(withSecret.stdout, new RegExp(`${id}: already synced — nothing to do`));
          }
          const result = await run("sync-retry.ts", [id]);
          assert.equal(result.code, 0);
          assert.match(result.stdout, new RegExp(`${id}: already synced — nothing to do`));
          const status = JSON.parse((await run("sync-status.ts", ["--json"])).stdout);
          assert.ok(!status.failed.some((f: { booking_id: string }) => f.booking_id === id));
          assert.equal((await emailsFor(id)).length, 2, "no email for a success");
        },
      );
    } finally {
      await sandbox.rejectGuest(email, false);
    }
  },
});

Deno.test({
  name: "sync:retry: unknown or malformed ids and a half-set target exit 1",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const unknown = await run("sync-retry.ts", [crypto.randomUUID()]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stdout, /booking not found/);
    const malformed = await run("sync-retry.ts", ["12345"]);
    assert.equal(malformed.code, 1);
    assert.match(malformed.stderr, /"12345" is not a booking id/);
    const none = await run("sync-retry.ts", []);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /usage: npm run sync:retry/);
    const halfSet = await run("sync-retry.ts", [crypto.randomUUID()], {
      SUPABASE_URL: "https://example.supabase.co",
    });
    assert.equal(halfSet.code, 1);
    assert.match(halfSet.stderr, /SUPABASE_SECRET_KEY \/ SUPABASE_SERVICE_ROLE_KEY is not/);
  },
});

Deno.test({
  name: "sync:retry --all-failed lists failed bookings from the database",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const email = `cli-all-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const id = await insertBooking(sql, { email });
    await sandbox.rejectGuest(email, true);
    try {
      await setStatus(sql, id, "confirmed");
      await waitFor(
        "the final failure",
        async () => (await booking(sql, id)).guestly_sync_gave_up_at,
      );
      // Nothing listens on port 9: every retry fails to connect, so no one's booking is touched.
      const result = await run("sync-retry.ts", ["--all-failed"], {
        SUPABASE_URL: "http://127.0.0.1:9",
        SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
        SUPABASE_DB_URL: stack.dbUrl,
      });
      assert.equal(result.code, 1);
      assert.match(result.stdout, /\d+ failed bookings?/);
      assert.match(result.stdout, new RegExp(`✖ ${id}: could not reach guestly-sync`));
      const remote = await run("sync-retry.ts", ["--all-failed"], {
        SUPABASE_URL: "http://127.0.0.1:9",
        SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
      });
      assert.equal(remote.code, 1, "a remote target never falls back to the local database");
      assert.match(remote.stderr, /set SUPABASE_DB_URL/);
    } finally {
      await sandbox.rejectGuest(email, false);
      // Leave nothing failed behind for other suites' status checks.
      await sql`select public.guestly_retry_sync(${id})`;
    }
  },
});

Deno.test({
  name: "close the connection pool",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await sql.end();
  },
});
