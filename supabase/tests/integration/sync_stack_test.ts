// The whole sync path on the running stack: UPDATE of bookings.status → trigger → pg_net →
// functions gateway → guestly-sync → Guestly sandbox, plus the pg_cron sweep's SQL body.
import assert from "node:assert/strict";
import {
  booking,
  connect,
  insertBooking,
  invokeFunction,
  keys,
  sandbox,
  setStatus,
  stack,
  waitFor,
} from "./harness.ts";
import { startGateway } from "../../../local/gateway/server.ts";
import { functionsEnv } from "../../../local/stack/env.ts";
import { LOCAL_JWT_SECRET } from "../../../local/keys.ts";

const sql = connect();

async function syncedRow(id: string, timeoutMs = 15_000) {
  return await waitFor(`booking ${id} synced`, async () => {
    const row = await booking(sql, id);
    return row.guestly_sync_status === "synced" && row.guestly_synced_status === row.status && row;
  }, timeoutMs);
}

Deno.test("a confirmed booking gets exactly one Guestly reservation through trigger and pg_net", async () => {
  const id = await insertBooking(sql, { firstName: "Trigger", lastName: "Path" });
  await setStatus(sql, id, "confirmed");
  const row = await syncedRow(id, 10_000);
  const reservations = await sandbox.reservationsFor(id);
  assert.equal(reservations.length, 1);
  assert.equal(row.guestly_reservation_id, reservations[0].reservationId);
  assert.ok(row.guestly_synced_at instanceof Date);
  assert.equal(reservations[0].status, "confirmed");
});

Deno.test("cancelling after sync cancels the same reservation; no second one", async () => {
  const id = await insertBooking(sql);
  await setStatus(sql, id, "confirmed");
  const first = await syncedRow(id);
  await setStatus(sql, id, "cancelled");
  const after = await syncedRow(id);
  assert.equal(after.guestly_reservation_id, first.guestly_reservation_id);
  const reservations = await sandbox.reservationsFor(id);
  assert.equal(reservations.length, 1);
  assert.equal(reservations[0].status, "canceled");
});

Deno.test("a booking cancelled before payment creates nothing in Guestly", async () => {
  const id = await insertBooking(sql);
  await setStatus(sql, id, "cancelled");
  const row = await booking(sql, id);
  assert.equal(row.guestly_sync_status, "synced");
  assert.equal(row.guestly_reservation_id, null);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await sandbox.reservationsFor(id)).length, 0);
});

Deno.test("only a real status change enqueues a pg_net request", async () => {
  const id = await insertBooking(sql);
  await sql.begin(async (tx) => {
    const [{ max }] = await tx`select coalesce(max(id), 0) as max from net.http_request_queue`;
    await tx`update public.bookings set guest_phone = '+15555550199' where id = ${id}`;
    await tx`update public.bookings set status = status where id = ${id}`;
    const [none] =
      await tx`select count(*)::int as n from net.http_request_queue where id > ${max}`;
    assert.equal(none.n, 0);
    await tx`update public.bookings set status = 'confirmed' where id = ${id}`;
    const queued = await tx`select url, body from net.http_request_queue where id > ${max}`;
    assert.equal(queued.length, 1);
    assert.match(queued[0].url, /\/functions\/v1\/guestly-sync$/);
    assert.equal(JSON.parse(new TextDecoder().decode(queued[0].body)).bookingId, id);
    throw new RollbackSignal();
  }).catch((error) => {
    if (!(error instanceof RollbackSignal)) throw error;
  });
});

Deno.test("20 concurrent invocations for one booking create one reservation", async () => {
  const id = await insertBooking(sql);
  await confirmWithoutSyncRequest(id);
  const answers = await Promise.all(
    Array.from({ length: 20 }, () => invokeFunction("guestly-sync", { bookingId: id })),
  );
  assert.ok(answers.every((a) => a.status === 200), JSON.stringify(answers.map((a) => a.status)));
  await syncedRow(id);
  assert.equal((await sandbox.reservationsFor(id)).length, 1);
});

Deno.test("a lost pg_net request is picked up by the cron sweep", async () => {
  const id = await insertBooking(sql);
  await confirmWithoutSyncRequest(id);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await booking(sql, id)).guestly_sync_status, "pending");
  // The cron job's body, with the clock moved past the grace period.
  const [{ invoked }] = await sql`
    select guestly.sweep_due_syncs(as_of => now() + interval '3 minutes') as invoked`;
  assert.ok(invoked >= 1);
  await syncedRow(id);
  assert.equal((await sandbox.reservationsFor(id)).length, 1);
});

Deno.test("a failed booking whose retry time has come is synced by the sweep", async () => {
  const id = await insertBooking(sql);
  await confirmWithoutSyncRequest(id);
  // As left behind by a round that failed while Guestly was down.
  await sql.begin(async (tx) => {
    await tx`update public.bookings set guestly_sync_status = 'failed', guestly_sync_attempts = 4,
               guestly_sync_error = 'Guestly HTTP 503: down',
               guestly_sync_next_attempt_at = now() - interval '1 second' where id = ${id}`;
  });
  await sql`select guestly.sweep_due_syncs()`;
  const row = await syncedRow(id);
  // The create, then our reference on it (a readable phone: no notes).
  assert.equal(row.guestly_sync_attempts, 4 + 2);
  assert.equal(row.guestly_sync_error, null);
});

Deno.test("guestly-sync refuses callers without the service_role key and bad bodies", async () => {
  const id = crypto.randomUUID();
  assert.equal((await invokeFunction("guestly-sync", { bookingId: id }, null)).status, 401);
  assert.equal((await invokeFunction("guestly-sync", { bookingId: id }, keys.anonKey)).status, 401);
  const forged = keys.serviceRoleKey.slice(0, -4) + "AAAA";
  assert.equal((await invokeFunction("guestly-sync", { bookingId: id }, forged)).status, 401);
  const malformed = await invokeFunction("guestly-sync", { bookingId: "42" });
  assert.equal(malformed.status, 400);
  assert.match(malformed.text, /bookingId/);
  const missing = await invokeFunction("guestly-sync", {});
  assert.equal(missing.status, 400);
  assert.match(missing.text, /bookingId/);
  assert.equal((await invokeFunction("guestly-sync", "not json")).status, 400);
  assert.equal((await invokeFunction("guestly-sync", { bookingId: id })).status, 404);
});

Deno.test("sync disabled or in test mode: Guestly is never called", async () => {
  const env = await functionsEnv(stack);
  const logDir = await Deno.makeTempDir();
  const modes: Array<Record<string, string>> = [
    { GUESTLY_SYNC_ENABLED: "false" },
    { GUESTLY_TEST_MODE: "true" },
  ];
  for (const flags of modes) {
    const gateway = await startGateway({
      port: 0,
      functionsDir: `${stack.root}/supabase/functions`,
      configTomlPath: `${stack.root}/supabase/config.toml`,
      env: { ...env, GUESTLY_SYNC_ENABLED: "true", ...flags },
      jwtSecret: LOCAL_JWT_SECRET,
      quiet: true,
      logDir,
    });
    try {
      const id = await insertBooking(sql);
      await confirmWithoutSyncRequest(id);
      const response = await fetch(`${gateway.url}/functions/v1/guestly-sync`, {
        method: "POST",
        headers: {
          Authorization: `Bearer ${keys.serviceRoleKey}`,
          "Content-Type": "application/json",
        },
        body: JSON.stringify({ bookingId: id }),
      });
      const body = await response.json();
      assert.equal(response.status, 200);
      const row = await booking(sql, id);
      assert.equal(row.guestly_sync_status, "pending");
      assert.equal(row.guestly_sync_attempts, 0);
      assert.equal((await sandbox.reservationsFor(id)).length, 0);
      if (flags.GUESTLY_TEST_MODE) {
        assert.equal(body.outcome, "test_mode");
        const log = await Deno.readTextFile(`${logDir}/guestly-sync.log`);
        const line = log.split("\n").find((l) =>
          l.includes("guestly.sync.test_mode") && l.includes(id)
        );
        assert.ok(line, "the payload that would be sent is logged");
        assert.match(line!, /"listingId":"64f1a2b3c4d5e6f7a8b9c0d1"/);
      } else {
        assert.equal(body.outcome, "skipped");
        assert.match(body.reason, /GUESTLY_SYNC_ENABLED/);
      }
    } finally {
      await gateway.close();
    }
  }
  await Deno.remove(logDir, { recursive: true });
});

Deno.test("a burst of bookings syncs with no failures from 429 and one shared token", async () => {
  const size = Number(Deno.env.get("SYNC_BURST_SIZE") ?? 300);
  const tokensBefore = (await sandbox.tokens()).minted;
  const ids: string[] = [];
  for (let i = 0; i < size; i++) ids.push(await insertBooking(sql, { lastName: `Burst${i}` }));
  await sql`update public.bookings set status = 'confirmed' where id = any(${ids}::uuid[])`;
  const done = await waitFor(
    `${size} bookings synced`,
    async () => {
      const [counts] = await sql`
      select count(*) filter (where guestly_sync_status = 'synced')::int as synced,
             count(*) filter (where guestly_sync_status = 'failed')::int as failed
        from public.bookings where id = any(${ids}::uuid[])`;
      if (counts.failed > 0) throw new Error(`${counts.failed} bookings failed`);
      return counts.synced === size && counts;
    },
    240_000,
    1000,
  );
  assert.equal(done.synced, size);
  const [limited] = await sql`select count(*)::int as n from guestly.sync_attempts
                              where booking_id = any(${ids}::uuid[]) and http_status = 429`;
  assert.equal(limited.n, 0);
  const all = await sandbox.reservations();
  const ours = all.filter((r) =>
    ids.includes((r.customFields as Array<{ value: string }>)[0]?.value)
  );
  assert.equal(ours.length, size);
  assert.ok((await sandbox.tokens()).minted - tokensBefore <= 1);
});

Deno.test({
  name: "close the shared connection",
  fn: async () => await sql.end(),
  sanitizeResources: false,
});

class RollbackSignal extends Error {}

/**
 * Confirms a booking and drops the trigger's pg_net request in the same transaction — exactly
 * what a crash that empties pg_net's unlogged queue does — so the test decides who calls next.
 */
async function confirmWithoutSyncRequest(id: string) {
  await sql.begin(async (tx) => {
    await tx`update public.bookings set status = 'confirmed' where id = ${id}`;
    await tx`delete from net.http_request_queue
              where convert_from(body, 'UTF8') like ${"%" + id + "%"}`;
  });
}
