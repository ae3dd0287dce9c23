// Holds while the guest pays, end to end on the local stack, with GUESTLY_HOLD_MINUTES=10 set
// on a gateway of their own (as `supabase secrets set` would): the website inserts a booking,
// asks guestly-hold, and the sandbox — which refuses overlapping stays as Guesty does — shows
// what Guestly holds. A signed Stripe event pays or ends the Checkout.
import assert from "node:assert/strict";
import { stripeEvent } from "../fixtures/stripe/events.ts";
import { deliver } from "./stripe_helpers.ts";
import {
  booking,
  connect,
  insertBooking,
  keys,
  mail,
  nextStay,
  sandbox,
  stack,
  waitFor,
} from "./harness.ts";
import { withGateway, withVaultSecret } from "./second_gateway.ts";
import { sandboxPost } from "./guestly_side.ts";
import type { Gateway } from "../../../local/gateway/server.ts";
import { reportedHoldMinutes } from "../../../local/stack/function-state.ts";

const sql = connect();
const LISTING = "64f1a2b3c4d5e6f7a8b9c0d1"; // Ocean View Loft's listing in the seed
const opts = { sanitizeResources: false, sanitizeOps: false };

/** A signed Stripe event for the booking, accepted (200) by stripe-webhook. */
async function stripe(
  type: "payment_intent.succeeded" | "checkout.session.expired",
  bookingId: string,
) {
  const answer = await deliver(stripeEvent(type, { bookingId, amount: 45000, currency: "usd" }));
  assert.equal(answer.status, 200, answer.text);
}

async function askHold(gateway: Gateway, bookingId: string, waitMs = 8000) {
  const response = await fetch(`${gateway.url}/functions/v1/guestly-hold`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${keys.serviceRoleKey}` },
    body: JSON.stringify({ bookingId, waitMs }),
  });
  return { status: response.status, body: await response.json() };
}

async function ota(checkIn: string, checkOut: string) {
  const response = await fetch(`${stack.sandboxUrl}/__sandbox/ota-reservations`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      listingId: LISTING,
      checkIn,
      checkOut,
      source: "airbnb2",
      guestName: "Maria Garcia",
    }),
  });
  return { status: response.status, body: await response.json() };
}

/** Inserted already paid (a phone booking): no hold, a sync at once. */
async function insertPaid(stay: { checkIn: string; checkOut: string }): Promise<string> {
  const [row] = await sql`
    insert into public.bookings (property_id, guest_first_name, guest_last_name, guest_email,
      check_in, check_out, guests_count, amount_total, currency, status)
    values ('0b0e7f3a-0000-4000-8000-000000000001', 'Paid', 'Burst', 'paid@example.com',
      ${stay.checkIn}, ${stay.checkOut}, 2, 45000, 'usd', 'confirmed')
    returning id`;
  return row.id as string;
}

Deno.test(
  "holds on: held → channel refused → paid confirms the same reservation; expired checkout releases; lapsed hold + taken nights → double booking; pay at once → one reservation; paid ahead of holds",
  opts,
  async (t) => {
    // 3 requests a second: enough for these steps, few enough that the burst must queue.
    await withGateway(
      { GUESTLY_HOLD_MINUTES: "10", GUESTLY_RATE_LIMITS: "3,100,5000" },
      async (gateway) => {
        await withVaultSecret(sql, "project_url", gateway.url, async () => {
          try {
            await reportedHoldMinutes({ functionsUrl: `${gateway.url}/functions/v1` }, sql, {
              expected: 10,
            });

            await t.step(
              "held; a channel booking on the same nights is refused; the payment confirms it",
              async () => {
                const stay = nextStay(3);
                const id = await insertBooking(sql, {
                  firstName: "Hana",
                  lastName: "Held",
                  ...stay,
                });
                const answer = await askHold(gateway, id);
                assert.equal(answer.status, 200, JSON.stringify(answer.body));
                assert.equal(answer.body.hold, "held", JSON.stringify(answer.body));
                assert.ok(Date.parse(answer.body.holdUntil) > Date.now() + 9 * 60_000);
                const [hold] = await sandbox.reservationsFor(id);
                assert.equal(hold.status, "reserved");
                const channel = await ota(stay.checkIn, stay.checkOut);
                assert.equal(channel.status, 409, "the hold blocks the nights in Guestly");
                assert.equal(channel.body.error.code, "LISTING_CALENDAR_BLOCKED");
                await stripe("payment_intent.succeeded", id);
                const row = await waitFor("the held reservation confirmed", async () => {
                  const b = await booking(sql, id);
                  return b.guestly_sync_status === "synced" && b.guestly_hold_status === "confirmed"
                    ? b
                    : null;
                }, 30_000);
                const ours = await sandbox.reservationsFor(id);
                assert.equal(ours.length, 1, "one reservation: the hold itself");
                assert.equal(ours[0]._id, hold._id);
                assert.equal(ours[0].status, "confirmed");
                assert.equal(row.guestly_reservation_id, hold._id);
                const creates = await sql`select count(*)::int as n from guestly.sync_attempts
                                    where booking_id = ${id} and operation = 'create'
                                      and outcome = 'success'`;
                assert.equal(creates[0].n, 1, "created once, as the hold");
              },
            );

            await t.step(
              "the Checkout expires: the hold is cancelled in Guestly, the nights are free",
              async () => {
                const stay = nextStay(3);
                const id = await insertBooking(sql, {
                  firstName: "Otto",
                  lastName: "Expired",
                  ...stay,
                });
                assert.equal((await askHold(gateway, id)).body.hold, "held");
                await stripe("checkout.session.expired", id);
                await waitFor(
                  "the hold released",
                  async () => (await booking(sql, id)).guestly_hold_status === "released",
                  30_000,
                );
                const [hold] = await sandbox.reservationsFor(id);
                assert.equal(hold.status, "canceled");
                const row = await booking(sql, id);
                assert.equal(row.status, "pending_payment", "the booking itself keeps waiting");
                assert.equal(row.guestly_reservation_id, null);
                const channel = await ota(stay.checkIn, stay.checkOut);
                assert.equal(channel.status, 201, "nobody blocks the nights any more");
              },
            );

            await t.step(
              "the host cancels the hold in Guestly: no longer held; the payment makes a new reservation and tells the admin",
              async () => {
                const stay = nextStay(3);
                const id = await insertBooking(sql, {
                  firstName: "Hugo",
                  lastName: "Hostcancel",
                  ...stay,
                });
                assert.equal((await askHold(gateway, id)).body.hold, "held");
                const [hold] = await sandbox.reservationsFor(id);
                await sandboxPost(`/__sandbox/reservations/${hold._id}/host-cancel`, {});
                await waitFor(
                  "the booking lets go of the cancelled hold (its webhook)",
                  async () => (await booking(sql, id)).guestly_hold_status === "cancelled",
                  30_000,
                );
                const answer = await askHold(gateway, id, 0);
                assert.equal(answer.body.hold, "unavailable", JSON.stringify(answer.body));
                assert.equal(answer.body.holdStatus, "cancelled");
                // The guest paid anyway (the Checkout was already open).
                await stripe("payment_intent.succeeded", id);
                const row = await waitFor("a reservation of its own", async () => {
                  const b = await booking(sql, id);
                  return b.guestly_sync_status === "synced" && b.guestly_reservation_id &&
                      b.guestly_reservation_id !== hold._id
                    ? b
                    : null;
                }, 30_000);
                const statuses = new Map(
                  (await sandbox.reservationsFor(id)).map((r) => [r._id, r.status]),
                );
                assert.equal(statuses.get(hold._id), "canceled", "the host's cancellation stands");
                assert.equal(statuses.get(row.guestly_reservation_id), "confirmed");
                assert.equal(row.status, "confirmed");
                await waitFor(
                  "the admin's email",
                  async () =>
                    (await mail.messages()).find((m) =>
                      String(m.subject ?? "").startsWith(
                        "Hold cancelled in Guestly, the guest paid",
                      ) && String(m.text ?? "").includes(id)
                    ),
                  20_000,
                );
              },
            );

            await t.step(
              "the host cancels the hold and its webhook is lost: the payment reads the hold and makes a new reservation",
              async () => {
                const stay = nextStay(3);
                const id = await insertBooking(sql, {
                  firstName: "Lena",
                  lastName: "Lostwebhook",
                  ...stay,
                });
                assert.equal((await askHold(gateway, id)).body.hold, "held");
                const [hold] = await sandbox.reservationsFor(id);
                // The hold's own create echo dealt with, so the one dropped is the cancellation's.
                await waitFor("the hold's create echo handled", async () => {
                  const rows = await sql`select outcome from guestly_events.events
                                          where reservation_id = ${String(hold._id)}`;
                  return rows.length > 0 && rows.every((r) => r.outcome !== null);
                });
                await sandboxPost("/__sandbox/webhook-faults", { dropNext: 1 });
                await sandboxPost(`/__sandbox/reservations/${hold._id}/host-cancel`, {});
                await stripe("payment_intent.succeeded", id);
                const row = await waitFor("a reservation of its own", async () => {
                  const b = await booking(sql, id);
                  return b.guestly_sync_status === "synced" && b.guestly_reservation_id &&
                      b.guestly_reservation_id !== hold._id
                    ? b
                    : null;
                }, 30_000);
                assert.equal(row.guestly_hold_status, "cancelled");
                const statuses = new Map(
                  (await sandbox.reservationsFor(id)).map((r) => [r._id, r.status]),
                );
                assert.equal(statuses.get(hold._id), "canceled", "never confirmed again");
                assert.equal(statuses.get(row.guestly_reservation_id), "confirmed");
                const [{ n }] = await sql`select count(*)::int as n from guestly.sync_attempts
                                           where booking_id = ${id} and operation = 'update_status'`;
                assert.equal(n, 0, "no status change was sent to the cancelled hold");
              },
            );

            await t.step(
              "the hold ran out and a channel took the nights: the payment is a double booking",
              async () => {
                await mail.clear();
                const stay = nextStay(3);
                const id = await insertBooking(sql, {
                  firstName: "Lena",
                  lastName: "Lapsed",
                  ...stay,
                });
                assert.equal((await askHold(gateway, id)).body.hold, "held");
                const [hold] = await sandbox.reservationsFor(id);
                const lapse = await fetch(
                  `${stack.sandboxUrl}/__sandbox/reservations/${hold._id}/lapse-hold`,
                  { method: "POST" },
                );
                assert.equal(lapse.status, 200, await lapse.text());
                assert.equal((await ota(stay.checkIn, stay.checkOut)).status, 201);
                await stripe("payment_intent.succeeded", id);
                const row = await waitFor("the conflict", async () => {
                  const b = await booking(sql, id);
                  return b.guestly_sync_status === "failed" && b.guestly_sync_gave_up_at ? b : null;
                }, 30_000);
                assert.equal(
                  row.status,
                  "confirmed",
                  "the guest paid: the booking stays confirmed",
                );
                assert.equal(row.guestly_sync_error_kind, "conflict");
                const [message] = await waitFor("the double-booking email", async () => {
                  const found = (await mail.messages()).filter((m) =>
                    String(m.text ?? "").includes(id)
                  );
                  return found.length ? found : null;
                }, 30_000);
                assert.match(String(message.subject), /Double booking/);
                assert.ok(String(message.text).includes("Maria Garcia"));
                // Guestly would not confirm the lapsed hold: the booking let go of it, so the
                // alert's ways out work — here the forced retry, which creates a new reservation.
                assert.equal(row.guestly_reservation_id, null);
                assert.equal(row.guestly_hold_status, "expired");
                await sql`select guestly_retry_sync(${id}::uuid, ignore_calendar => true)`;
                const forced = await waitFor("the forced sync", async () => {
                  const b = await booking(sql, id);
                  return b.guestly_sync_status === "synced" ? b : null;
                }, 30_000);
                const ours = await sandbox.reservationsFor(id);
                const live = ours.filter((r) => r.status === "confirmed");
                assert.equal(live.length, 1, JSON.stringify(ours.map((r) => r.status)));
                assert.equal(forced.guestly_reservation_id, live[0]._id);
                assert.notEqual(live[0]._id, hold._id, "a new reservation, not the lapsed hold");
                assert.equal(forced.guestly_hold_status, "expired");
              },
            );

            await t.step(
              "paid before the hold was placed: exactly one reservation, confirmed",
              async () => {
                await sandbox.faults({ latencyMs: 1500 });
                try {
                  const stay = nextStay(3);
                  const id = await insertBooking(sql, {
                    firstName: "Paz",
                    lastName: "Prompt",
                    ...stay,
                  });
                  await stripe("payment_intent.succeeded", id);
                  await waitFor("the booking synced", async () => {
                    const b = await booking(sql, id);
                    return b.guestly_sync_status === "synced" &&
                      b.guestly_synced_status === "confirmed";
                  }, 45_000);
                  const ours = await sandbox.reservationsFor(id);
                  assert.equal(
                    ours.length,
                    1,
                    JSON.stringify(ours.map((r) => r.status)),
                  );
                  assert.equal(ours[0].status, "confirmed");
                } finally {
                  await sandbox.faults({ latencyMs: 0 });
                }
              },
            );

            await t.step(
              "a burst of holds and paid bookings: every paid booking is sent before the holds are done",
              async () => {
                const holds: string[] = [];
                for (let i = 0; i < 8; i++) {
                  holds.push(
                    await insertBooking(sql, { firstName: "Burst", lastName: `Hold${i}` }),
                  );
                }
                const paid: string[] = [];
                for (let i = 0; i < 4; i++) paid.push(await insertPaid(nextStay(2)));
                await waitFor("every booking placed or synced", async () => {
                  const rows = await sql`select guestly_hold_status, guestly_sync_status, status
                                     from public.bookings where id = any(${[...holds, ...paid]})`;
                  return rows.every((r) =>
                    r.status === "confirmed"
                      ? r.guestly_sync_status === "synced"
                      : r.guestly_hold_status === "held"
                  );
                  // At 3 requests a second (100 a minute, shared with what the steps before
                  // sent; a hold may use 60 of them): the order is the point, not the pace. A
                  // hold that finds the minute's share used waits 20 s for a slot, is deferred
                  // 60 s, and is picked up by the next minute's sweep: up to ~2.5 min (seen in
                  // a full run: three holds placed 128 s after the burst). 5 min covers two such
                  // rounds; a burst that goes well still ends in seconds.
                }, 300_000);
                const creates = await sql`
            select booking_id, started_at from guestly.sync_attempts
             where operation = 'create' and booking_id = any(${[...holds, ...paid]})`;
                const at = (ids: string[]) =>
                  creates.filter((c) => ids.includes(c.booking_id)).map((c) =>
                    Date.parse(c.started_at)
                  );
                const lastPaid = Math.max(...at(paid));
                const lastHold = Math.max(...at(holds));
                assert.ok(
                  lastPaid < lastHold,
                  `the paid bookings went out first (last paid ${
                    lastPaid - lastHold
                  } ms after the last hold)`,
                );
              },
            );
          } finally {
            // Holds off again for every later test: the stack's own guestly-sync reports 0.
            await sql`delete from guestly.function_state`;
          }
        });
      },
    );
  },
);

addEventListener("unload", () => sql.end());
