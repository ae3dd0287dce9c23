// The sync core against the real database (claim/record SQL functions) and a private Guestly
// sandbox per test, so fault injection never disturbs anything else running on the stack.
// Bookings are inserted already confirmed and the trigger's pg_net call is dropped in the same
// transaction, so only the code under test talks to Guestly.
import assert from "node:assert/strict";
import { booking, connect, PROPERTY } from "./harness.ts";
import { startGuestlySandbox } from "../../../local/guestly-sandbox/server.ts";
import { postgresSyncStore, postgresTokenStore } from "../../functions/_shared/guestly/db.ts";
import { GuestlyClient } from "../../functions/_shared/guestly/client.ts";
import { syncBookingToGuestly, type SyncDeps } from "../../functions/_shared/guestly/sync.ts";
import { memoryLogger } from "../../functions/_shared/log.ts";

type Sandbox = Awaited<ReturnType<typeof startGuestlySandbox>>;

async function withSandbox(
  test: (ctx: {
    sandbox: Sandbox;
    sql: ReturnType<typeof connect>;
    deps: SyncDeps;
    sleeps: number[];
    faults: (f: Record<string, unknown>) => Promise<void>;
    reservations: () => Promise<Array<Record<string, unknown>>>;
  }) => Promise<void>,
) {
  const sql = connect();
  // Each test gets its own client id so the shared token table cannot hand it another sandbox's token.
  const clientId = `it-${crypto.randomUUID()}`;
  const own = await startGuestlySandbox({
    port: 0,
    quiet: true,
    clients: { [clientId]: "secret" },
  });
  const sleeps: number[] = [];
  const deps: SyncDeps = {
    store: postgresSyncStore(sql),
    guestly: new GuestlyClient(
      {
        baseUrl: `${own.url}/v1`,
        tokenUrl: `${own.url}/oauth2/token`,
        clientId,
        clientSecret: "secret",
      },
      {
        fetch,
        tokens: postgresTokenStore(sql),
        limiter: { reserve: () => Promise.resolve(new Date()) },
        now: Date.now,
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        timeoutMs: 1500,
      },
    ),
    settings: {
      enabled: true,
      testMode: false,
      maxAttempts: 12,
      bookingRefFieldId: "website_booking_id",
    },
    log: memoryLogger(),
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    random: () => 0,
  };
  const faults = async (f: Record<string, unknown>) => {
    const response = await fetch(`${own.url}/__sandbox/faults`, {
      method: "POST",
      body: JSON.stringify(f),
    });
    await response.body?.cancel();
  };
  const reservations = async () => await (await fetch(`${own.url}/__sandbox/reservations`)).json();
  try {
    await test({ sandbox: own, sql, deps, sleeps, faults, reservations });
  } finally {
    await sql`delete from guestly.api_tokens where client_id = ${clientId}`;
    await sql.end();
    await own.close();
  }
}

Deno.test("two 5xx then success: synced with 3 attempts, each in the attempt log", async () => {
  await withSandbox(async ({ sql, deps, sleeps, faults, reservations }) => {
    const id = await insertConfirmed(sql);
    await faults({ failNext: [{ status: 503 }, { status: 500 }] });
    const result = await syncBookingToGuestly(id, deps);
    assert.equal(result.outcome, "synced");
    const row = await booking(sql, id);
    assert.equal(row.guestly_sync_status, "synced");
    assert.equal(row.guestly_sync_attempts, 3);
    assert.ok(row.guestly_synced_at instanceof Date);
    assert.deepEqual(sleeps, [1000, 2000]);
    const log = await sql`select attempt, operation, http_status, outcome from guestly.sync_attempts
                          where booking_id = ${id} order by attempt`;
    assert.deepEqual(log.map((r) => [r.attempt, r.http_status, r.outcome]), [
      [1, 503, "retryable"],
      [2, 500, "retryable"],
      [3, 201, "success"],
    ]);
    assert.equal((await reservations()).length, 1);
  });
});

Deno.test("a permanent 422 fails after one attempt with Guestly's message and one alert", async () => {
  await withSandbox(async ({ sql, deps, faults }) => {
    const id = await insertConfirmed(sql, { email: "rejected@example.com" });
    await faults({ rejectGuestEmails: ["rejected@example.com"] });
    const result = await syncBookingToGuestly(id, deps);
    assert.equal(result.outcome, "failed");
    const row = await booking(sql, id);
    assert.equal(row.guestly_sync_status, "failed");
    assert.equal(row.guestly_sync_attempts, 1);
    assert.match(row.guestly_sync_error, /^Guestly HTTP 422: guest\.email/);
    assert.equal(row.guestly_sync_next_attempt_at, null);
    const admin = connect(true);
    try {
      const alerts = await admin`select kind from guestly.admin_alerts where booking_id = ${id}`;
      assert.deepEqual(alerts.map((a) => a.kind), ["sync_failed"]);
    } finally {
      await admin.end();
    }
  });
});

Deno.test("Guestly down: failed after 4 attempts and 1+2+4 s of backoff, retry scheduled", async () => {
  await withSandbox(async ({ sql, deps, sleeps, faults }) => {
    const id = await insertConfirmed(sql);
    await faults({ errorRate: 1 });
    const result = await syncBookingToGuestly(id, deps);
    assert.equal(result.outcome === "failed" && result.final, false);
    const row = await booking(sql, id);
    assert.equal(row.guestly_sync_status, "failed");
    assert.equal(row.guestly_sync_attempts, 4);
    assert.deepEqual(sleeps, [1000, 2000, 4000]);
    const delay = row.guestly_sync_next_attempt_at.getTime() - Date.now();
    assert.ok(delay > 50_000 && delay <= 60_000, `next retry in ${delay} ms, expected ~1 min`);
  });
});

Deno.test("a lost response (created, connection dropped) still gives exactly one reservation", async () => {
  await withSandbox(async ({ sql, deps, faults, reservations }) => {
    const id = await insertConfirmed(sql);
    await faults({ lostResponseRate: 1 });
    const first = await syncBookingToGuestly(id, {
      ...deps,
      sleep: async () => await faults({ lostResponseRate: 0 }),
    });
    assert.equal(first.outcome, "synced");
    const all = await reservations();
    assert.equal(all.length, 1);
    const row = await booking(sql, id);
    assert.equal(row.guestly_reservation_id, all[0].reservationId);
    const ops = await sql`select operation, outcome from guestly.sync_attempts
                          where booking_id = ${id} order by attempt`;
    assert.deepEqual(ops.map((o) => `${o.operation}:${o.outcome}`), [
      "create:unknown",
      "lookup:success",
    ]);
  });
});

Deno.test("a hang past the client timeout is an unknown outcome, then looked up", async () => {
  await withSandbox(async ({ sql, deps, faults, reservations }) => {
    const id = await insertConfirmed(sql);
    await faults({ hangRate: 1, hangMs: 3000 });
    const result = await syncBookingToGuestly(id, {
      ...deps,
      sleep: async () => await faults({ hangRate: 0 }),
    });
    assert.equal(result.outcome, "synced");
    assert.equal((await reservations()).length, 1);
  });
});

Deno.test("names with quotes, emoji and other scripts reach Guestly intact", async () => {
  await withSandbox(async ({ sql, deps, reservations }) => {
    const id = await insertConfirmed(sql, { firstName: `Zoë "Zee" 🏖️`, lastName: "O'Brien-山田" });
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    const [reservation] = await reservations();
    assert.deepEqual(
      [
        (reservation.guest as { firstName: string }).firstName,
        (reservation.guest as { lastName: string }).lastName,
      ],
      [`Zoë "Zee" 🏖️`, "O'Brien-山田"],
    );
  });
});

Deno.test("the token is cached in the database: many syncs mint one token", async () => {
  await withSandbox(async ({ sql, deps, sandbox }) => {
    for (let i = 0; i < 5; i++) {
      const id = await insertConfirmed(sql);
      assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    }
    // A function restart loses memory, not the database: a fresh client reuses the stored token.
    const fresh = new GuestlyClient(deps.guestly.credentials, deps.guestly.deps);
    const id = await insertConfirmed(sql);
    assert.equal((await syncBookingToGuestly(id, { ...deps, guestly: fresh })).outcome, "synced");
    const tokens = await (await fetch(`${sandbox.url}/__sandbox/tokens`)).json();
    assert.equal(tokens.minted, 1);
  });
});

/**
 * A booking born confirmed whose pg_net call to the stack's guestly-sync is dropped in the same
 * transaction (as a crash would), so only the code under test talks to Guestly about it.
 */
async function insertConfirmed(
  sql: ReturnType<typeof connect>,
  extra: Record<string, unknown> = {},
) {
  return await sql.begin(async (tx) => {
    const [row] = await tx`
      insert into public.bookings (property_id, guest_first_name, guest_last_name, guest_email,
        check_in, check_out, guests_count, amount_total, currency, status)
      values (${PROPERTY.oceanView}, ${(extra.firstName as string) ?? "Core"},
        ${(extra.lastName as string) ?? "Test"},
        ${(extra.email as string) ?? `core-${crypto.randomUUID().slice(0, 8)}@example.com`},
        '2027-06-01', '2027-06-03', 2, 30000, 'usd', 'confirmed')
      returning id`;
    const dropped = await tx`delete from net.http_request_queue
                              where convert_from(body, 'UTF8') like ${"%" + row.id + "%"}`;
    if (dropped.count !== 1) throw new Error("the insert trigger should have queued one call");
    return row.id as string;
  });
}
