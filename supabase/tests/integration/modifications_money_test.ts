// Modifications and money follow a booking to Guestly: the sync core against the real database
// and a private sandbox (so fault injection disturbs nothing else), and the whole path from a
// Stripe event through the trigger, pg_net and guestly-sync to the stack's sandbox.
import assert from "node:assert/strict";
import { booking, insertBooking, PROPERTY, sandbox, waitFor } from "./harness.ts";
import { syncBookingToGuestly } from "../../functions/_shared/guestly/sync.ts";
import { insertConfirmed, updateQuietly, waitForSettle, withSandbox } from "./own_sandbox.ts";
import { dbTest, deliver, newBooking, paid } from "./stripe_helpers.ts";
import { stripeEvent, uniqueId } from "../fixtures/stripe/events.ts";
import { nextStay } from "../../../local/stays.ts";

type Reservation = Record<string, unknown> & {
  money?: { totalPaid: number; balanceDue: number; payments: Array<Record<string, unknown>> };
};

async function sandboxRequests(url: string, query: string): Promise<number> {
  const response = await fetch(`${url}/__sandbox/requests/count?${query}`);
  return (await response.json()).count as number;
}

Deno.test("dates moved, guests changed, property changed: one request each, no new reservation", async () => {
  await withSandbox(async ({ sandbox: own, sql, deps, reservations }) => {
    const id = await insertConfirmed(sql);
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    const moved = nextStay(3);
    await updateQuietly(
      sql,
      id,
      (tx) =>
        tx`update public.bookings set check_in = ${moved.checkIn}, check_out = ${moved.checkOut}
         where id = ${id}`,
    );
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    let [reservation] = await reservations();
    assert.equal(reservation.checkInDateLocalized, moved.checkIn);
    assert.equal(reservation.checkOutDateLocalized, moved.checkOut);
    // One dates change (besides our reference, set once after the create).
    assert.equal(
      await sandboxRequests(own.url, "method=PUT&pathPrefix=/v1/reservations-v3/"),
      1 + 1,
    );

    await updateQuietly(
      sql,
      id,
      (tx) =>
        tx`update public.bookings set guests_count = 5, property_id = ${PROPERTY.pineCabin}
         where id = ${id}`,
    );
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    const all = await reservations();
    assert.equal(all.length, 1, "still one reservation");
    [reservation] = all;
    assert.equal(reservation.guestsCount, 5);
    const [pine] = await sql`select guestly_listing_id from public.properties
                             where id = ${PROPERTY.pineCabin}`;
    assert.equal(reservation.listingId, pine.guestly_listing_id, "relocated");
    assert.equal(await sandboxRequests(own.url, "method=POST&path=/v1/reservations-v3"), 1);
    const row = await booking(sql, id);
    assert.equal(row.guestly_sync_status, "synced");
    assert.equal(row.guestly_synced_state.guests_count, 5);
  });
});

Deno.test("the guest's email fixed after Guestly refused it: the retry succeeds", async () => {
  await withSandbox(async ({ sql, deps, faults, reservations }) => {
    await faults({ rejectGuestEmails: ["typo@exmaple.com"] });
    const id = await insertConfirmed(sql, { email: "typo@exmaple.com" });
    const first = await syncBookingToGuestly(id, deps);
    assert.equal(first.outcome === "failed" && first.final, true, "a 422 is final");
    await updateQuietly(
      sql,
      id,
      (tx) => tx`update public.bookings set guest_email = 'fixed@example.com' where id = ${id}`,
    );
    const row = await booking(sql, id);
    assert.equal(row.guestly_sync_status, "pending", "the fix starts a new episode");
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    const [reservation] = await reservations();
    assert.equal((reservation.guest as { email: string }).email, "fixed@example.com");
  });
});

Deno.test("a guest's email changed on a synced booking reaches the guest record", async () => {
  await withSandbox(async ({ sql, deps, reservations }) => {
    const id = await insertConfirmed(sql);
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    await updateQuietly(
      sql,
      id,
      (tx) =>
        tx`update public.bookings set guest_email = 'new-address@example.com',
           guest_phone = '+33 6 12 34 56 78' where id = ${id}`,
    );
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    const [reservation] = await reservations();
    const guest = reservation.guest as { email: string; phones?: string[] };
    assert.equal(guest.email, "new-address@example.com");
    assert.deepEqual(guest.phones, ["+33612345678"]);
  });
});

Deno.test("two changes racing with a sync: Guestly ends with the latest", async () => {
  await withSandbox(async ({ sql, deps, faults, reservations }) => {
    const id = await insertConfirmed(sql);
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    const first = nextStay(2);
    const second = nextStay(4);
    await updateQuietly(
      sql,
      id,
      (tx) =>
        tx`update public.bookings set check_in = ${first.checkIn}, check_out = ${first.checkOut}
         where id = ${id}`,
    );
    await faults({ latencyMs: 600 });
    const running = syncBookingToGuestly(id, deps);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The guest changes their mind while the first change is on its way.
    await updateQuietly(
      sql,
      id,
      (tx) =>
        tx`update public.bookings set check_in = ${second.checkIn}, check_out = ${second.checkOut}
         where id = ${id}`,
    );
    assert.equal((await running).outcome, "synced");
    const [reservation] = await reservations();
    assert.equal(reservation.checkInDateLocalized, second.checkIn);
    assert.equal(reservation.checkOutDateLocalized, second.checkOut);
    const row = await booking(sql, id);
    assert.equal(row.guestly_sync_status, "synced");
    assert.equal(row.guestly_synced_state.check_in, second.checkIn);
  });
});

Deno.test("a payment whose answer was lost (committed, then 502) is recorded once", async () => {
  await withSandbox(async ({ sandbox: own, sql, deps, faults, reservations }) => {
    const id = await insertConfirmed(sql);
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    await updateQuietly(
      sql,
      id,
      (tx) =>
        tx`insert into guestly.payments (booking_id, kind, amount, currency, reference)
         values (${id}, 'payment', 30000, 'usd', ${uniqueId("pi")})`,
    );
    await faults({ failNext: [{ status: 502, commit: true }] });
    const lost = await syncBookingToGuestly(id, deps);
    assert.equal(lost.outcome, "failed");
    await waitForSettle();
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    const [reservation] = (await reservations()) as Reservation[];
    assert.equal(reservation.money?.payments.length, 1, "one payment in Guestly");
    assert.equal(reservation.money?.balanceDue, 0);
    assert.equal(
      await sandboxRequests(own.url, `method=POST&pathPrefix=/v1/reservations/`),
      1,
      "posted once, then found by its amount (Guestly shows no note)",
    );
    const [money] = await sql`select status from guestly.payments where booking_id = ${id}`;
    assert.equal(money.status, "recorded");
  });
});

Deno.test("two payments of one amount, the second committed behind a 502: found without a note, each recorded once", async () => {
  await withSandbox(async ({ sandbox: own, sql, deps, faults, reservations }) => {
    const id = await insertConfirmed(sql);
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    const addPayment = (reference: string) =>
      updateQuietly(
        sql,
        id,
        (tx) =>
          tx`insert into guestly.payments (booking_id, kind, amount, currency, reference)
           values (${id}, 'payment', 30000, 'usd', ${reference})`,
      );
    const first = uniqueId("pi");
    await addPayment(first);
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");
    await addPayment(uniqueId("pi"));
    await faults({ failNext: [{ status: 502, commit: true }] });
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "failed");
    await waitForSettle();
    assert.equal((await syncBookingToGuestly(id, deps)).outcome, "synced");

    const [reservation] = (await reservations()) as Reservation[];
    const payments = reservation.money?.payments ?? [];
    assert.equal(payments.length, 2, "two payments in Guestly, not three");
    assert.equal(
      await sandboxRequests(own.url, `method=POST&pathPrefix=/v1/reservations/`),
      2,
      "each posted once: the lost one found by amount, currency and time",
    );
    // The API shows a payment only by its declared fields: the lookup had no note to go by.
    const [row] = await sql`select guestly_reservation_id from public.bookings where id = ${id}`;
    const read = await deps.guestly.getReservation(row.guestly_reservation_id);
    assert.equal(read.outcome, "success");
    const shown = read.data?.money?.payments ?? [];
    assert.ok(shown.every((p) => !Object.hasOwn(p as object, "note")), JSON.stringify(shown));
    const money = await sql`select reference, status, guestly_payment_id from guestly.payments
                            where booking_id = ${id} order by created_at`;
    assert.deepEqual(money.map((m) => m.status), ["recorded", "recorded"]);
    assert.equal(money[0].reference, first);
    assert.equal(money[1].guestly_payment_id, payments[1]._id, "the second is Guestly's second");
  });
});

/** The stack's reservation for a booking once its money matches `done`. */
async function reservationWhen(id: string, what: string, done: (r: Reservation) => boolean) {
  return await waitFor(
    what,
    async () => {
      const [reservation] = (await sandbox.reservationsFor(id)) as Reservation[];
      return reservation && done(reservation) ? reservation : null;
    },
    15_000,
    200,
  );
}

dbTest("paid through Stripe: Guestly shows the balance paid (0 due)", async (sql) => {
  const id = await insertBooking(sql, newBooking());
  assert.equal((await deliver(paid(id))).body.outcome, "confirmed");
  const reservation = await reservationWhen(
    id,
    "the payment in Guestly",
    (r) => (r.money?.payments.length ?? 0) > 0,
  );
  assert.equal(reservation.money?.totalPaid, 450);
  assert.equal(reservation.money?.balanceDue, 0);
  assert.equal(
    reservation.money?.payments[0].note,
    `Stripe ${(await booking(sql, id)).stripe_payment_intent_id}`,
  );
});

dbTest("a partial refund is recorded in Guestly; the booking stays confirmed", async (sql) => {
  const id = await insertBooking(sql, newBooking());
  const pi = uniqueId("pi");
  await deliver(paid(id, { paymentIntentId: pi }));
  await reservationWhen(id, "the payment", (r) => r.money?.totalPaid === 450);
  const refund = stripeEvent("charge.refunded", {
    bookingId: id,
    amount: 45000,
    amountRefunded: 15000,
    currency: "usd",
    paymentIntentId: pi,
  });
  assert.equal((await deliver(refund)).body.outcome, "partial_refund");
  const reservation = await reservationWhen(id, "the refund", (r) => r.money?.totalPaid === 300);
  assert.equal(reservation.status, "confirmed");
  assert.equal((await booking(sql, id)).status, "confirmed");
});

dbTest("a full refund is recorded in Guestly, then the reservation is cancelled", async (sql) => {
  const id = await insertBooking(sql, newBooking());
  const pi = uniqueId("pi");
  await deliver(paid(id, { paymentIntentId: pi }));
  await reservationWhen(id, "the payment", (r) => r.money?.totalPaid === 450);
  const refund = stripeEvent("charge.refunded", {
    bookingId: id,
    amount: 45000,
    currency: "usd",
    paymentIntentId: pi,
  });
  assert.equal((await deliver(refund)).body.outcome, "refunded");
  const reservation = await reservationWhen(
    id,
    "refunded and cancelled",
    (r) => r.status === "canceled" && r.money?.totalPaid === 0,
  );
  assert.equal(reservation.money?.payments.length, 1);
});
