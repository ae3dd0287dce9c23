// The chaos run's deleted-and-re-created reservations (issue 24 §2): a share of the synced stays
// is deleted in Guestly (as by hand, or by another integration), half of them after a partial
// refund was recorded on them; the reconciliation (`sync:reconcile --fix`) must re-create each
// once, with its payment and refund recorded on the new reservation exactly once (Guesty's
// create/payment race losing the first try, so the lookup after an unknown outcome runs on the
// new reservation); then a partial refund of the other half must land on the new reservation.
// Money is then exact in Guestly: what Stripe took less what it gave back, on the one
// reservation each booking holds.
import type postgres from "postgres";
import type { StackConfig } from "../../local/stack/config.ts";
import { stripeEvent } from "../../supabase/tests/fixtures/stripe/events.ts";
import { deliverUntilAccepted, newDeliveryStats } from "./load.ts";
import { httpJson } from "./util.ts";

export interface Recreated {
  /** Bookings whose reservation was deleted in Guestly. */
  deleted: string[];
  /** Of those, the ones partly refunded before the delete (the refund re-recorded too). */
  refundedBefore: string[];
  /** And the ones partly refunded after the re-create (it must land on the new reservation). */
  refundedAfter: string[];
  /** Refund events Stripe's retries never got accepted. */
  lost: number;
}

/** What deleteReservations did, with the bookings it picked. */
export type DeletedInGuestly = Recreated & { picked: Picked[] };

interface Picked {
  id: string;
  reservation: string;
  amount: number;
  currency: string;
  pi: string;
}

/** A quarter of the booking's amount back, as Stripe reports it (cumulative, on the charge). */
async function refundQuarter(config: StackConfig, b: Picked, run: string, deadline: number) {
  const payload = JSON.stringify(stripeEvent("charge.refunded", {
    id: `evt_chaos_refund_${run}_${b.id.slice(0, 8)}_${crypto.randomUUID().slice(0, 8)}`,
    bookingId: b.id,
    amount: b.amount,
    amountRefunded: Math.floor(b.amount / 4),
    currency: b.currency,
    paymentIntentId: b.pi,
  }));
  return await deliverUntilAccepted(config, payload, newDeliveryStats(), deadline);
}

/**
 * Picks every `every`-th synced, confirmed booking (leaving out `exclude`), partly refunds every
 * other one, waits (`settle`) until the refunds are in Guestly, then deletes their reservations.
 */
export async function deleteReservations(
  config: StackConfig,
  sql: postgres.Sql,
  ids: string[],
  exclude: string[],
  opts: { run: string; deadline: number; settle: () => Promise<unknown>; every?: number },
): Promise<DeletedInGuestly> {
  const rows = await sql<Picked[]>`
    select id, guestly_reservation_id as reservation, amount_total::int as amount, currency,
           stripe_payment_intent_id as pi
      from public.bookings
     where id = any(${ids}::uuid[]) and not (id = any(${exclude}::uuid[]))
       and status = 'confirmed' and guestly_sync_status = 'synced'
       and guestly_reservation_id is not null
     order by id`;
  const picked = rows.filter((_, i) => i % (opts.every ?? 9) === 4);
  const result: DeletedInGuestly = {
    deleted: [],
    refundedBefore: [],
    refundedAfter: [],
    lost: 0,
    picked,
  };
  for (const [i, b] of picked.entries()) {
    if (i % 2 !== 0) continue;
    if (await refundQuarter(config, b, opts.run, opts.deadline)) result.refundedBefore.push(b.id);
    else result.lost++;
  }
  await opts.settle();
  for (const b of picked) {
    await httpJson(`${config.sandboxUrl}/__sandbox/reservations/${b.reservation}`, {
      method: "DELETE",
    });
    result.deleted.push(b.id);
  }
  return result;
}

/** After the re-create: a partial refund of each deleted booking not refunded yet. */
export async function refundAfterRecreate(
  config: StackConfig,
  recreated: DeletedInGuestly,
  opts: { run: string; deadline: number },
): Promise<void> {
  for (const b of recreated.picked) {
    if (recreated.refundedBefore.includes(b.id)) continue;
    if (await refundQuarter(config, b, opts.run, opts.deadline)) recreated.refundedAfter.push(b.id);
    else recreated.lost++;
  }
}

interface MoneyRow {
  id: string;
  guestly_reservation_id: string | null;
  paid: number;
  refunded: number;
}

/**
 * Money exact in Guestly for every confirmed booking: its reservation's totalPaid is what
 * Stripe took less what it gave back (the ledger's amounts), and a stay refunded nothing owes
 * nothing. For the re-created ones also: a new reservation, one payment on it.
 */
export async function moneyExact(
  config: StackConfig,
  sql: postgres.Sql,
  ids: string[],
  recreated: DeletedInGuestly,
): Promise<{ exact: string[]; recreatedWrong: string[]; checked: number }> {
  const rows = await sql<MoneyRow[]>`
    select b.id, b.guestly_reservation_id,
           coalesce((select sum(e.amount) from payments.stripe_events e
                      where e.booking_id = b.id and e.outcome = 'confirmed'), 0)::int as paid,
           coalesce((select max(e.amount) from payments.stripe_events e
                      where e.booking_id = b.id and e.outcome in ('partial_refund', 'refunded')),
                    0)::int as refunded
      from public.bookings b
     where b.id = any(${ids}::uuid[]) and b.status = 'confirmed'`;
  const reservations = await httpJson(`${config.sandboxUrl}/__sandbox/reservations`) as Array<{
    reservationId: string;
    money?: { totalPaid: number; balanceDue: number; payments: Array<{ status: string }> };
  }>;
  const byId = new Map(reservations.map((r) => [r.reservationId, r]));
  const wrong: string[] = [];
  for (const b of rows) {
    const money = byId.get(b.guestly_reservation_id ?? "")?.money;
    const paid = money ? Math.round(money.totalPaid * 100) : null;
    const want = b.paid - b.refunded;
    if (paid !== want || (b.refunded === 0 && money?.balanceDue !== 0)) {
      wrong.push(
        `${b.id}: Guestly shows ${paid ?? "no reservation"} paid (balance due ` +
          `${money?.balanceDue ?? "-"}), Stripe ${want}`,
      );
    }
  }
  const oldReservation = new Map(recreated.picked.map((b) => [b.id, b.reservation]));
  const recreatedWrong = rows.filter((b) => oldReservation.has(b.id)).filter((b) => {
    const r = byId.get(b.guestly_reservation_id ?? "");
    return !r || b.guestly_reservation_id === oldReservation.get(b.id) ||
      (r.money?.payments ?? []).length !== 1;
  }).map((b) => b.id);
  return { exact: wrong, recreatedWrong, checked: rows.length };
}
