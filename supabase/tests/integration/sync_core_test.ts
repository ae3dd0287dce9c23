// The sync core against the real database (claim/record SQL functions) and a private Guestly
// sandbox per test, so fault injection never disturbs anything else running on the stack.
// Bookings are inserted already confirmed and the trigger's pg_net call is dropped in the same
// transaction, so only the code under test talks to Guestly.
import assert from "node:assert/strict";
import { booking, connect, PROPERTY } from "./harness.ts";
import { postgresRateLimiter } from "../../functions/_shared/guestly/db.ts";
import { GuestlyClient } from "../../functions/_shared/guestly/client.ts";
import { syncBookingToGuestly, type SyncDeps } from "../../functions/_shared/guestly/sync.ts";
import { insertConfirmed, type Sandbox, waitForSettle, withSandbox } from "./own_sandbox.ts";
import { POOLED_FETCH_RESENDS_ON_DROP } from "../../../local/hosted-runtime.ts";

Deno.test("a 503 on a create is unknown: round ends, lookup after the settle delay, one create", async () => {
  await withSandbox(async ({ sql, deps, sleeps, faults, reservations }) => {
    const id = await insertConfirmed(sql);
    await faults({ failNext: [{ status: 503 }] }); // this 503 did nothing: the lookup shows it
    const first = await syncBookingToGuestly(id, deps);
    assert.equal(first.outcome === "failed" && first.final, false);
    let row = await booking(sql, id);
    assert.equal(row.guestly_sync_status, "failed");
    assert.equal(row.guestly_sync_lookup_needed, true);
    assert.match(row.guestly_sync_error, /^outcome unknown: Guestly HTTP 503/);
    assert.deepEqual(sleeps, []);
    await waitForSettle();
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    row = await booking(sql, id);
    const log = await sql`select operation, http_status, outcome from guestly.sync_attempts
                          where booking_id = ${id} order by attempt`;
    assert.deepEqual(log.map((r) => `${r.operation}:${r.http_status}:${r.outcome}`), [
      "create:503:unknown",
      "lookup:200:success",
      "create:201:success",
      "set_reference:200:success",
    ]);
    const all = await reservations();
    assert.equal(all.length, 1);
    assert.equal(row.guestly_reservation_id, all[0].reservationId);
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

Deno.test("Guestly down: one create per round, the next round not before the settle delay", async () => {
  await withSandbox(async ({ sql, deps, sleeps, faults, reservations }) => {
    const id = await insertConfirmed(sql);
    await faults({ errorRate: 1 });
    const result = await syncBookingToGuestly(id, deps);
    assert.equal(result.outcome === "failed" && result.final, false);
    const row = await booking(sql, id);
    assert.equal(row.guestly_sync_attempts, 1);
    assert.deepEqual(sleeps, []);
    const delay = row.guestly_sync_next_attempt_at.getTime() - Date.now();
    assert.ok(delay > 50_000 && delay <= 60_000, `next retry in ${delay} ms, expected ~1 min`);
    assert.equal((await reservations()).length, 0);
  });
});

/** Syncs once (the create's answer lies), waits out the settle delay, syncs again. */
async function syncThroughUnknown(id: string, deps: SyncDeps) {
  const first = await syncBookingToGuestly(id, deps);
  assert.equal(first.outcome, "failed", `first round: ${JSON.stringify(first)}`);
  await waitForSettle();
  return await syncBookingToGuestly(id, deps);
}

async function assertOneReservationBound(
  sql: ReturnType<typeof connect>,
  id: string,
  reservations: () => Promise<Array<Record<string, unknown>>>,
) {
  const all = await reservations();
  assert.equal(all.length, 1, `reservations in Guestly: ${all.length}`);
  const row = await booking(sql, id);
  assert.equal(row.guestly_sync_status, "synced");
  assert.equal(row.guestly_reservation_id, all[0].reservationId);
  const ops = await sql`select operation, outcome from guestly.sync_attempts
                        where booking_id = ${id} order by attempt`;
  assert.deepEqual(ops.map((o) => `${o.operation}:${o.outcome}`), [
    "create:unknown",
    "lookup:success",
    // Then our reference on it (the create could not carry it), read back.
    "set_reference:success",
  ]);
  assert.ok(row.guestly_reference_set_at, "the reference was seen set");
  assert.deepEqual(
    (all[0].customFields as Array<{ fieldId: string; value: string }>).map((f) => f.value),
    [id],
  );
}

Deno.test("a create committed behind a 502 carries no reference: found by its stay, then referenced, one reservation", async () => {
  await withSandbox(async ({ sql, deps, faults, reservations }) => {
    const id = await insertConfirmed(sql);
    await faults({ failNext: [{ status: 502, commit: true }] });
    const first = await syncBookingToGuestly(id, deps);
    assert.equal(first.outcome === "failed" && first.final, false, JSON.stringify(first));
    // Guestly made it, and kept nothing of ours but what its definition declares.
    const [phantom, ...more] = await reservations();
    assert.equal(more.length, 0);
    assert.deepEqual(phantom.customFields, [], "the create cannot carry our reference");
    let row = await booking(sql, id);
    assert.equal(row.guestly_reservation_id, null);
    assert.equal(row.guestly_sync_lookup_needed, true);

    await waitForSettle();
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    const all = await reservations();
    assert.equal(all.length, 1, "exactly one reservation: the lookup found it by its stay");
    row = await booking(sql, id);
    assert.equal(row.guestly_reservation_id, phantom.reservationId);
    assert.equal(row.guestly_sync_status, "synced");
    assert.ok(row.guestly_reference_set_at);
    assert.deepEqual(all[0].customFields, [
      {
        _id: (all[0].customFields as Array<{ _id: string }>)[0]._id,
        fieldId: "website_booking_id",
        value: id,
      },
    ]);
    // A readable phone went to the guest: nothing for the notes (one request fewer).
    assert.equal((all[0].notes as { other?: string } | undefined)?.other, undefined);
    const lookups = await sql`select count(*)::int as n from guestly.sync_attempts
                              where booking_id = ${id} and operation = 'create'`;
    assert.equal(lookups[0].n, 1, "one create");
  });
});

Deno.test("a create committed behind a 502, then the booking's dates move: the next round binds it, one reservation", async () => {
  await withSandbox(async ({ sql, deps, faults, reservations }) => {
    const id = await insertConfirmed(sql);
    await faults({ failNext: [{ status: 502, commit: true }] });
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "failed");
    const [phantom] = await reservations();
    // The guest moves the stay before the lookup (the content trigger's call is dropped).
    await sql`update public.bookings
                 set check_in = check_in + 20, check_out = check_out + 20 where id = ${id}`;
    await sql`delete from net.http_request_queue
               where convert_from(body, 'UTF8') like ${"%" + id + "%"}`;
    await waitForSettle();
    const second = await syncBookingToGuestly(id, deps);
    assert.equal(second.outcome, "synced", JSON.stringify(second));
    const all = await reservations();
    assert.equal(all.length, 1, "the lookup found the first create on the stay it sent");
    const row = await booking(sql, id);
    assert.equal(row.guestly_reservation_id, phantom.reservationId);
    assert.deepEqual(row.guestly_create_keys, []);
    const creates = await sql`select count(*)::int as n from guestly.sync_attempts
                              where booking_id = ${id} and operation = 'create'`;
    assert.equal(creates[0].n, 1, "one create");
  });
});

Deno.test("a crash between the recorded create and the reference: the next round sets it", async () => {
  await withSandbox(async ({ sql, deps, reservations }) => {
    const id = await insertConfirmed(sql);
    // The invocation records the create and dies before the custom-fields PUT.
    const recordSuccess = deps.store.recordSuccess.bind(deps.store);
    let crashed = false;
    deps.store.recordSuccess = async (...args) => {
      const result = await recordSuccess(...args);
      if (!crashed) {
        crashed = true;
        throw new Error("invocation killed");
      }
      return result;
    };
    await syncBookingToGuestly(id, deps).catch(() => {});
    let row = await booking(sql, id);
    assert.ok(row.guestly_reservation_id, "the reservation id was recorded first");
    assert.equal(row.guestly_reference_set_at, null);
    assert.equal(row.guestly_sync_status, "pending", "still due: the sweep comes back");
    assert.deepEqual((await reservations())[0].customFields, []);
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    row = await booking(sql, id);
    assert.ok(row.guestly_reference_set_at);
    const all = await reservations();
    assert.equal(all.length, 1, "never a second create");
    assert.equal((all[0].customFields as Array<{ value: string }>)[0].value, id);
  });
});

Deno.test("a lost response (created, connection dropped): found by the lookup, one reservation", async () => {
  await withSandbox(async ({ sql, deps, faults, reservations }) => {
    const id = await insertConfirmed(sql);
    await faults({ failNext: [{ status: 0, commit: true }] });
    assert.equal((await syncThroughUnknown(id, deps)).outcome, "synced");
    await assertOneReservationBound(sql, id, reservations);
  });
});

for (const code of [502, 503]) {
  Deno.test(`a gateway ${code} after Guestly committed: found by the lookup, one reservation`, async () => {
    await withSandbox(async ({ sql, deps, faults, reservations }) => {
      const id = await insertConfirmed(sql);
      await faults({ failNext: [{ status: code, commit: true }] });
      assert.equal((await syncThroughUnknown(id, deps)).outcome, "synced");
      await assertOneReservationBound(sql, id, reservations);
    });
  });
}

Deno.test("a 504 after a delay, the create committed: found by the lookup, one reservation", async () => {
  await withSandbox(async ({ sql, deps, faults, reservations }) => {
    const id = await insertConfirmed(sql);
    await faults({ failNext: [{ status: 504, commit: true, delayMs: 1000 }] });
    assert.equal((await syncThroughUnknown(id, deps)).outcome, "synced");
    await assertOneReservationBound(sql, id, reservations);
  });
});

Deno.test("a create held past our timeout commits later: the lookup waits for it", async () => {
  await withSandbox(async ({ sql, deps, faults, reservations }) => {
    const id = await insertConfirmed(sql);
    // Commits 3.5 s in: 2 s after our 1.5 s timeout. A lookup 1 s after the timeout (the old
    // rule) would miss it and create a second reservation; the settle delay does not.
    await faults({
      failNext: [{ status: 201, commit: true, commitAfterDelay: true, delayMs: 3500 }],
    });
    assert.equal((await syncThroughUnknown(id, deps)).outcome, "synced");
    await assertOneReservationBound(sql, id, reservations);
  });
});

Deno.test("a cancel right after an unknown create waits, then finds and cancels the phantom", async () => {
  await withSandbox(async ({ sql, deps, faults, reservations }) => {
    const id = await insertConfirmed(sql);
    await faults({ failNext: [{ status: 502, commit: true }] });
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "failed");
    await sql`update public.bookings set status = 'cancelled' where id = ${id}`;
    await sql`delete from net.http_request_queue
               where convert_from(body, 'UTF8') like ${"%" + id + "%"}`;
    const early = await syncBookingToGuestly(id, deps);
    assert.equal(early.outcome, "deferred", "never 'nothing to cancel' while a phantom may exist");
    await waitForSettle();
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    const all = await reservations();
    assert.equal(all.length, 1);
    assert.equal(all[0].status, "canceled");
    const row = await booking(sql, id);
    assert.equal(row.guestly_reservation_id, all[0].reservationId);
    assert.equal(row.guestly_synced_status, "cancelled");
  });
});

Deno.test("two live reservations of this booking (one referenced, one on its stay without): permanent, the alert names both", async () => {
  await withSandbox(async ({ sql, deps, sandbox, reservations }) => {
    const id = await insertConfirmed(sql);
    for (let i = 0; i < 2; i++) {
      assert.equal((await syncBookingToGuestly(id, deps)).outcome, i === 0 ? "synced" : "skipped");
    }
    const token = await sql`select access_token from guestly.api_tokens
                             where client_id = ${deps.guestly.credentials.clientId}`;
    const [first] = await reservations();
    // A second create of the same stay that committed unseen (an operator forced it over the
    // calendar): our source, the booking's guest, no reference.
    const copy = await fetch(`${sandbox.url}/v1/reservations-v3`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${token[0].access_token}`,
        "Content-Type": "application/json",
      },
      body: JSON.stringify({
        listingId: first.listingId,
        checkInDateLocalized: first.checkInDateLocalized,
        checkOutDateLocalized: first.checkOutDateLocalized,
        status: "confirmed",
        source: "website",
        guest: first.guest,
        ignoreCalendar: true,
      }),
    });
    assert.equal(copy.status, 201, await copy.text());
    // Forget what we bound and look up again, as after an abandoned lease.
    await sql`update public.bookings set guestly_reservation_id = null, guestly_sync_status = 'pending',
                guestly_synced_status = null, guestly_sync_lookup_needed = true where id = ${id}`;
    const result = await syncBookingToGuestly(id, deps);
    assert.equal(result.outcome === "failed" && result.final, true, JSON.stringify(result));
    const row = await booking(sql, id);
    assert.equal(row.guestly_reservation_id, null);
    const all = await reservations();
    assert.equal(all.length, 2);
    const admin = connect(true);
    try {
      const [alert] =
        await admin`select details from guestly.admin_alerts where booking_id = ${id}`;
      const named = (alert.details.duplicate_reservations as Array<{ id: string }>).map((r) =>
        r.id
      );
      assert.deepEqual(named.sort(), all.map((r) => r.reservationId as string).sort());
      for (const r of all) assert.match(alert.details.error, new RegExp(r.reservationId as string));
    } finally {
      await admin.end();
    }
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

Deno.test("a phone written locally reaches Guestly as E.164; an unreadable one, in the notes", async () => {
  await withSandbox(async ({ sql, deps, reservations }) => {
    // Pine Cabin is in GB (seed): "07700 900123" is read as a UK number.
    const local = await insertConfirmed(sql, {
      propertyId: PROPERTY.pineCabin,
      phone: "07700 900123",
    });
    const odd = await insertConfirmed(sql, { phone: "ask at reception" });
    for (const id of [local, odd]) {
      assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    }
    const byRef = new Map((await reservations()).map((r) => [
      (r.customFields as Array<{ value: string }>)[0].value,
      r as { guest: { phones?: string[] }; notes?: { other?: string } },
    ]));
    assert.deepEqual(byRef.get(local)?.guest.phones, ["+447700900123"]);
    assert.equal(byRef.get(local)?.notes?.other, undefined, "a readable phone needs no notes");
    // Guesty requires `phones` on a new guest: an unreadable number leaves it empty.
    assert.deepEqual(byRef.get(odd)?.guest.phones, []);
    assert.match(
      byRef.get(odd)?.notes?.other ?? "",
      /Guest phone \(as entered\): ask at reception/,
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
    // (A second later: five syncs of two requests each, and the token, used most of this second's 15 requests, and
    // this sandbox's client has no limiter and sleeps nothing between retries.)
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const fresh = new GuestlyClient(deps.guestly.credentials, deps.guestly.deps);
    const id = await insertConfirmed(sql);
    const again = await syncBookingToGuestly(id, { ...deps, guestly: fresh });
    assert.equal(again.outcome, "synced", JSON.stringify(again));
    const tokens = await (await fetch(`${sandbox.url}/__sandbox/tokens`)).json();
    assert.equal(tokens.minted, 1);
  });
});

/**
 * A booking born confirmed whose pg_net call to the stack's guestly-sync is dropped in the same
 * transaction (as a crash would), so only the code under test talks to Guestly about it.
 */
Deno.test("a tiny time budget and a saturated limiter: deferred cleanly, nothing sent", async () => {
  await withSandbox(async ({ sql, deps, sandbox }) => {
    const id = await insertConfirmed(sql);
    // The real limiter at one request a second, just used: the next slot is ~1.1 s away, more
    // than a 2 s budget leaves after one 1.5 s request timeout.
    const limiter = postgresRateLimiter(sql, {
      perSecond: 1,
      perMinute: 10_000,
      perHour: 1_000_000,
    });
    assert.ok(await limiter.reserve(1000));
    const guestly = new GuestlyClient(deps.guestly.credentials, { ...deps.guestly.deps, limiter });
    const started = Date.now();
    const result = await syncBookingToGuestly(id, {
      ...deps,
      guestly,
      settings: { ...deps.settings, budgetMs: 2000 },
    });
    assert.equal(result.outcome, "deferred", JSON.stringify(result));
    assert.ok(Date.now() - started < 2000, "returned inside its budget");
    const row = await booking(sql, id);
    assert.equal(row.guestly_sync_attempts, 0);
    assert.equal(row.guestly_sync_lease_id, null, "the lease is given back");
    assert.ok(row.guestly_sync_next_attempt_at instanceof Date, "the sweep comes back");
    const requests = await (await fetch(`${sandbox.url}/__sandbox/requests`)).json();
    assert.equal(requests.filter((r: { path: string }) => r.path.startsWith("/v1/")).length, 0);
  });
});

/** POSTs of creates the sandbox received, and the create attempts we logged, for one booking. */
async function createsSentAndLogged(sql: ReturnType<typeof connect>, sandbox: Sandbox, id: string) {
  const requests = await (await fetch(`${sandbox.url}/__sandbox/requests`)).json() as Array<
    { method: string; path: string }
  >;
  const [logged] = await sql`select count(*)::int as n from guestly.sync_attempts
                              where booking_id = ${id} and operation = 'create'`;
  return {
    sent: requests.filter((r) => r.method === "POST" && r.path === "/v1/reservations-v3").length,
    logged: logged.n as number,
  };
}

Deno.test("a reused connection dropped mid-create: the create is sent once per logged attempt", async () => {
  await withSandbox(async ({ sql, deps, sandbox, faults, reservations }) => {
    // Warm the pool (the token request rides on it too), then drop the next create that arrives
    // on a reused connection after the sandbox has committed it.
    const warm = await fetch(`${sandbox.url}/__sandbox/health`);
    await warm.body?.cancel();
    await faults({ dropReusedCreates: 1 });
    const id = await insertConfirmed(sql);
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    assert.deepEqual(await createsSentAndLogged(sql, sandbox, id), { sent: 1, logged: 1 });
    assert.equal((await reservations()).length, 1);
  });
});

// The control's expectation depends on the Deno running this test (POOLED_FETCH_RESENDS_ON_DROP):
// Deno 2.9's pooled fetch re-sends the dropped create; Deno 2.1's — the hosted runtime's, where
// the functions run — fails the call instead, so the create is sent once and its outcome is
// unknown. Either way the unpooled create client (the test above) is the one the functions use.
Deno.test("control: on the pooled fetch the same drop makes Deno 2.9 send the create twice (2.1 once)", async () => {
  await withSandbox(async ({ sql, deps, sandbox, faults, reservations }) => {
    const pooled = new GuestlyClient(deps.guestly.credentials, {
      ...deps.guestly.deps,
      fetchOnce: fetch,
    });
    const warm = await fetch(`${sandbox.url}/__sandbox/health`);
    await warm.body?.cancel();
    await faults({ dropReusedCreates: 1 });
    const id = await insertConfirmed(sql);
    // Forced past the calendar (as a --ignore-calendar retry would), so the silent re-send is
    // stored too instead of meeting the first copy's nights (409).
    await sql`update public.bookings set guestly_ignore_calendar = true where id = ${id}`;
    const result = await syncBookingToGuestly(id, { ...deps, guestly: pooled });
    if (POOLED_FETCH_RESENDS_ON_DROP) {
      // The fault really bites: one attempt in our log, two creates in Guestly.
      assert.deepEqual(await createsSentAndLogged(sql, sandbox, id), { sent: 2, logged: 1 });
      assert.equal((await reservations()).length, 2);
    } else {
      // The drop reaches the caller: one create, whose outcome stays unknown until the lookup
      // (the round ends failed, as after any lost answer).
      assert.deepEqual(await createsSentAndLogged(sql, sandbox, id), { sent: 1, logged: 1 });
      assert.equal(result.outcome, "failed", JSON.stringify(result));
      assert.equal((await reservations()).length, 1);
    }
  });
});
