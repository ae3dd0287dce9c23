// A small chaos run inside `npm test` (the big one is `npm run chaos`, scripts/chaos.ts): 30
// bookings paid through signed Stripe events while the Guestly sandbox fails, hangs past the
// client timeout, loses answers and lies (commits, then answers 5xx or nothing); guestly-sync is SIGKILLed once mid-run (the gateway restarts
// it) and the pg_net requests of these bookings are wiped once. Then faults go off and the
// sweep's SQL body runs with a moved clock until everything settled. Asserts: all synced,
// exactly one Guestly reservation each, attempt log == counters.
//
// Runs against whatever stack harness.ts points at (the test stack under `npm test`); it starts
// nothing. The sandbox is shared with other tests: only this test's bookings are looked at, and
// the faults are reset to zero in `finally`.
import assert from "node:assert/strict";
import { signatureFor, stripeEvent } from "../fixtures/stripe/events.ts";
import { connect, insertBooking, nextStay, PROPERTY, sandbox, stack, waitFor } from "./harness.ts";

const BOOKINGS = Number(Deno.env.get("CHAOS_SMALL_BOOKINGS") ?? 30);
/** How long the sweep may take to settle everything once the faults are off. */
const SETTLE_MS = 90_000;
/** Upper bound for waiting out the lease a killed invocation leaves behind (by design). */
const MAX_LEASE_WAIT_MS = 240_000;

const FAULTS_OFF = {
  errorRate: 0,
  lostResponseRate: 0,
  hangRate: 0,
  commitThenErrorRate: 0,
  commitThen504Rate: 0,
  slowCommitRate: 0,
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Posts one signed payment event until the webhook answers 200, as Stripe re-delivers. */
async function payUntilAccepted(bookingId: string, amount: number, deadline: number) {
  const payload = JSON.stringify(stripeEvent("payment_intent.succeeded", {
    id: `evt_chaos_small_${crypto.randomUUID().replaceAll("-", "")}`,
    bookingId,
    amount,
    currency: "usd",
    paymentIntentId: `pi_chaos_small_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`,
  }));
  let deliveries = 0;
  for (let attempt = 0;; attempt++) {
    deliveries++;
    try {
      const signature = await signatureFor(payload, stack.stripeWebhookSecret);
      const response = await fetch(`${stack.functionsUrl}/stripe-webhook`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
        body: payload,
        signal: AbortSignal.timeout(15_000),
      });
      await response.body?.cancel();
      if (response.status === 200) return deliveries;
    } catch { /* connection refused or timed out: deliver again */ }
    if (Date.now() > deadline) throw new Error(`payment of ${bookingId} never accepted`);
    await sleep(Math.min(300 * 2 ** attempt, 4_000));
  }
}

Deno.test({
  name:
    "small chaos: faults, a killed guestly-sync and a wiped pg_net queue lose and double nothing",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const sql = connect();
    const admin = connect(true);
    const ids: string[] = [];
    try {
      const properties = [PROPERTY.oceanView, PROPERTY.pineCabin];
      for (let i = 0; i < BOOKINGS; i++) {
        ids.push(
          await insertBooking(sql, {
            firstName: "Chaos",
            lastName: `Small ${i + 1}`,
            propertyId: properties[i % properties.length],
            amount: 30_000 + i,
            ...nextStay(2),
          }),
        );
      }
      await sandbox.faults({
        errorRate: 0.3,
        lostResponseRate: 0.1,
        hangRate: 0.05,
        hangMs: 4000,
        // A lying gateway: creates committed, then answered 502/503, 504 after a delay, or held
        // past our 3 s timeout and committed at 6 s (the test stack settles unknowns for 8 s).
        commitThenErrorRate: 0.15,
        commitThen504Rate: 0.1,
        commitThen504DelayMs: 1000,
        slowCommitRate: 0.1,
        slowCommitMs: 6000,
      });

      // Pay at a steady rate, 4 in flight; kill guestly-sync a third of the way in and wipe the
      // queued requests of these bookings two thirds of the way in.
      const payDeadline = Date.now() + 60_000;
      const inFlight = new Set<Promise<unknown>>();
      let deliveries = 0;
      let wiped = 0;
      for (const [i, id] of ids.entries()) {
        while (inFlight.size >= 4) await Promise.race(inFlight);
        const task = payUntilAccepted(id, 30_000 + i, payDeadline)
          .then((n) => deliveries += n)
          .finally(() => inFlight.delete(task));
        inFlight.add(task);
        await sleep(150);
        if (i === Math.floor(BOOKINGS / 3)) {
          const response = await fetch(`${stack.apiUrl}/__gateway/kill/guestly-sync`, {
            method: "POST",
          });
          assert.equal(response.status, 200, await response.text());
        }
        if (i === Math.floor((2 * BOOKINGS) / 3)) {
          // Only this test's requests: the stack may be shared. pg_net's worker drains every
          // 200 ms, so keep trying (≤ 3 s) until some queued request of ours is caught.
          const until = Date.now() + 3_000;
          while (wiped === 0 && Date.now() < until) {
            const result = await admin`
              delete from net.http_request_queue
               where convert_from(body, 'UTF8')::jsonb ->> 'bookingId' = any(${ids})`;
            wiped = result.count;
            if (wiped === 0) await sleep(5);
          }
        }
      }
      await Promise.all(inFlight);
      assert.ok(deliveries >= BOOKINGS);
      await sandbox.faults({ ...FAULTS_OFF });

      // Settle: the cron job's body, with the clock moved past every retry time. A lease the
      // killed invocation left behind runs out by itself (claim_sync's lease_seconds) by design;
      // waiting for that is allowed on top of the 90 s.
      const [lease] = await sql`
        select coalesce(extract(epoch from max(guestly_sync_lease_until) - now()), 0)::float8
                 * 1000 as ms
          from public.bookings where id = any(${ids}::uuid[])`;
      const leaseWait = Math.min(Math.max(0, lease.ms), MAX_LEASE_WAIT_MS);
      const deadline = Date.now() + Math.max(SETTLE_MS, leaseWait + 30_000);
      await waitFor(
        `${BOOKINGS} chaos bookings settled`,
        async () => {
          const [c] = await sql`
            select count(*) filter (where guestly_sync_status = 'synced'
                                      and guestly_synced_status = status)::int as synced,
                   count(*) filter (where guestly_sync_status = 'failed'
                                      and guestly_sync_next_attempt_at is null)::int as final
              from public.bookings where id = any(${ids}::uuid[])`;
          if (c.final > 0) throw new Error(`${c.final} bookings failed for good`);
          if (c.synced === BOOKINGS) return true;
          await sql`select guestly.sweep_due_syncs(as_of => now() + interval '10 minutes')`;
          return false;
        },
        deadline - Date.now(),
        2_000,
      );
      await sleep(1_500);

      const rows = await sql`
        select b.id, b.status, b.guestly_sync_status, b.guestly_sync_attempts,
               b.guestly_reservation_id, b.guest_email, p.guestly_listing_id,
               to_char(b.check_in, 'YYYY-MM-DD') as check_in,
               to_char(b.check_out, 'YYYY-MM-DD') as check_out,
               (select count(*) from guestly.sync_attempts a where a.booking_id = b.id)::int
                 as logged
          from public.bookings b join public.properties p on p.id = b.property_id
         where b.id = any(${ids}::uuid[])`;
      const reservations = await sandbox.reservations();
      // A booking's by our reference, or — one whose reference was never set (the create cannot
      // carry it) — by the stay it was created with: an unreferenced duplicate counts too.
      const byStay = new Map(rows.map((b) => [
        `${b.guestly_listing_id}|${b.check_in}|${b.check_out}|${b.guest_email}`,
        b.id as string,
      ]));
      const perBooking = new Map<string, string[]>();
      for (const r of reservations) {
        const guest = r.guest as { email?: string } | undefined;
        const ref = (r.customFields as Array<{ value: string }> | undefined)
          ?.find((f) => ids.includes(f.value))?.value ??
          (r.source === "website"
            ? byStay.get(
              `${r.listingId}|${r.checkInDateLocalized}|${r.checkOutDateLocalized}|${guest?.email}`,
            )
            : undefined);
        if (ref) perBooking.set(ref, [...(perBooking.get(ref) ?? []), String(r.reservationId)]);
      }
      assert.equal(rows.length, BOOKINGS);
      for (const row of rows) {
        assert.equal(row.status, "confirmed", `${row.id} paid`);
        assert.equal(row.guestly_sync_status, "synced", `${row.id} synced`);
        assert.deepEqual(
          perBooking.get(row.id),
          [row.guestly_reservation_id],
          `${row.id}: exactly one Guestly reservation, the one recorded`,
        );
        assert.equal(row.logged, row.guestly_sync_attempts, `${row.id}: attempt log == counter`);
      }
      const [ledger] = await sql`
        select count(*)::int as n from payments.stripe_events
         where booking_id = any(${ids}::uuid[]) and outcome = 'confirmed'`;
      assert.equal(ledger.n, BOOKINGS, "one recorded payment per booking");
    } finally {
      await sandbox.faults({ ...FAULTS_OFF, hangMs: 60_000 })
        .catch(() => {});
      await sql.end();
      await admin.end();
    }
  },
});
