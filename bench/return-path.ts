// Measurement 7: Guestly change → booking updated. For bookings already in Guestly, a host moves
// each stay to other dates in the sandbox (its admin API, as the inspector's "change dates"
// button does) at a steady rate; the sandbox sends its signed webhook to guestly-webhook, which
// verifies it, records it, reads the reservation through the API and applies it. Measured: from
// the sandbox's answer to the host change to the booking's new dates being visible in Postgres
// (polled every 10 ms).
import type { StackConfig } from "../local/stack/config.ts";
import { nextStay } from "../local/stays.ts";
import {
  deliver,
  insertPendingBookings,
  paymentPayload,
  percentile,
  postJson,
  progress,
  sleep,
  type Sql,
  waitSettled,
} from "./lib.ts";

export interface ReturnPathResult {
  changes: number;
  measured: number;
  p50: number;
  p99: number;
  max: number;
  rate: number;
}

export async function measureGuestlyChangeToBooking(
  config: StackConfig,
  sql: Sql,
  options: { count: number; rate: number },
): Promise<ReturnPathResult> {
  const bookings = await insertPendingBookings(sql, options.count, "return-path");
  const ids = bookings.map((b) => b.id);
  progress(`guestly change→booking: paying ${ids.length} bookings first`);
  for (const booking of bookings) {
    await deliver(
      `${config.functionsUrl}/stripe-webhook`,
      paymentPayload(booking),
      config.stripeWebhookSecret,
    );
  }
  if (!await waitSettled(sql, ids, 180_000)) throw new Error("the bookings did not sync");
  const rows = await sql<{ id: string; reservation: string; nights: number }[]>`
    select id, guestly_reservation_id as reservation, (check_out - check_in) as nights
      from public.bookings where id = any(${ids}::uuid[])`;

  progress(`guestly change→booking: ${rows.length} host date changes at ${options.rate}/s`);
  const changedAt = new Map<string, number>();
  const wanted = new Map<string, string>();
  const latencies = new Map<string, number>();
  // Polled while the changes go out (not after: a change made early would be timed from its
  // own moment to the end of the sending, not to its booking's update).
  let sending = true;
  const watching = (async () => {
    const deadline = Date.now() + rows.length * (1000 / options.rate) + 60_000;
    while ((sending || latencies.size < changedAt.size) && Date.now() < deadline) {
      const open = [...changedAt.keys()].filter((id) => !latencies.has(id));
      if (open.length) {
        const now = await sql<{ id: string; check_in: string }[]>`
          select id, to_char(check_in, 'YYYY-MM-DD') as check_in
            from public.bookings where id = any(${open}::uuid[])`;
        const seenAt = Date.now();
        for (const r of now) {
          if (r.check_in === wanted.get(r.id)) latencies.set(r.id, seenAt - changedAt.get(r.id)!);
        }
      }
      await sleep(10);
    }
  })();
  const interval = 1000 / options.rate;
  const t0 = Date.now();
  const sent: Promise<void>[] = [];
  for (const [i, row] of rows.entries()) {
    const wait = t0 + i * interval - Date.now();
    if (wait > 0) await sleep(wait);
    const stay = nextStay(row.nights);
    wanted.set(row.id, stay.checkIn);
    sent.push(
      postJson(
        `${config.sandboxUrl}/__sandbox/reservations/${row.reservation}/host-change-dates`,
        { checkIn: stay.checkIn, checkOut: stay.checkOut },
      ).then(() => {
        changedAt.set(row.id, Date.now());
      }),
    );
  }
  await Promise.all(sent);
  sending = false;
  await watching;
  const values = [...latencies.values()];
  return {
    changes: rows.length,
    measured: values.length,
    p50: percentile(values, 0.5),
    p99: percentile(values, 0.99),
    max: Math.max(...values),
    rate: options.rate,
  };
}
