// Measurement 8: holds (GUESTLY_HOLD_MINUTES). With holds on and Guestly healthy: a booking
// inserted as pending_payment, one every 1/rate s, until its hold is `held` in Postgres (the
// trigger, pg_net, guestly-sync at the hold priority, the sandbox's create, record_success);
// then the payment of each held booking until it is confirmed in Guestly and recorded (one status
// PUT on the held reservation), against the same for bookings without a hold (a create). Both
// polled every 10 ms from this process; the payment is timed from the webhook's 200.
import type { StackConfig } from "../local/stack/config.ts";
import { nextStay } from "../local/stays.ts";
import { deliver, paymentPayload, percentile, progress, sleep, type Sql } from "./lib.ts";

export interface HoldsResult {
  count: number;
  rate: number;
  placed: { measured: number; p50: number; p99: number; max: number; notHeld: number };
  confirmHeld: { measured: number; p50: number; p99: number };
  confirmUnheld: { measured: number; p50: number; p99: number };
}

async function insertOne(sql: Sql, tag: string, i: number, withHold: boolean) {
  const stay = nextStay(2);
  const [row] = await sql<{ id: string; amount: string; currency: string }[]>`
    insert into public.bookings (property_id, guest_first_name, guest_last_name, guest_email,
      check_in, check_out, guests_count, amount_total, currency, guestly_hold_status)
    values ('0b0e7f3a-0000-4000-8000-000000000001', 'Bench', ${tag + "-" + i},
      ${tag + "." + i + "@bench.example"}, ${stay.checkIn}, ${stay.checkOut}, 2, 30000, 'usd',
      -- A row that arrives with hold state set is left alone by the insert trigger: the way
      -- to have bookings without a hold while holds are on.
      ${withHold ? null : "released"})
    returning id, amount_total as amount, currency`;
  return { id: row.id, amount: Number(row.amount), currency: row.currency };
}

/**
 * Times bookings from a start each is given (`start`) until `done` (SQL over public.bookings)
 * holds for it, polling every 10 ms while the load is still being sent — not after it, which
 * would time an early booking to the end of the sending. `close()` waits for the stragglers
 * (60 s at most) and returns the latencies in ms.
 */
function watcher(sql: Sql, done: string) {
  const started = new Map<string, number>();
  const latencies = new Map<string, number>();
  let sending = true;
  const finished = (async () => {
    let deadline = Infinity;
    while (true) {
      if (!sending && deadline === Infinity) deadline = Date.now() + 60_000;
      const waiting = [...started.keys()].filter((id) => !latencies.has(id));
      if (!sending && (waiting.length === 0 || Date.now() > deadline)) break;
      if (waiting.length) {
        const rows = await sql.unsafe(
          `select id from public.bookings where id = any($1::uuid[]) and ${done}`,
          [waiting],
        );
        const at = Date.now();
        for (const r of rows) latencies.set(r.id as string, at - started.get(r.id as string)!);
      }
      await sleep(10);
    }
    return [...latencies.values()];
  })();
  return {
    start: (id: string, at: number) => started.set(id, at),
    close: async () => {
      sending = false;
      return await finished;
    },
  };
}

async function payAndTime(
  config: StackConfig,
  sql: Sql,
  bookings: Awaited<ReturnType<typeof insertOne>>[],
  rate: number,
) {
  const confirmed = watcher(
    sql,
    "guestly_sync_status = 'synced' and guestly_synced_status = 'confirmed'",
  );
  const sends: Promise<void>[] = [];
  const t0 = Date.now();
  for (const [i, booking] of bookings.entries()) {
    const wait = t0 + i * (1000 / rate) - Date.now();
    if (wait > 0) await sleep(wait);
    sends.push(
      deliver(
        `${config.functionsUrl}/stripe-webhook`,
        paymentPayload(booking),
        config.stripeWebhookSecret,
      ).then((d) => {
        if (d.status === 200) confirmed.start(booking.id, d.answeredAt);
      }),
    );
  }
  await Promise.all(sends);
  const latencies = await confirmed.close();
  return {
    measured: latencies.length,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

export async function measureHolds(
  config: StackConfig,
  sql: Sql,
  options: { count: number; rate: number },
): Promise<HoldsResult> {
  progress(`holds: ${options.count} bookings inserted at ${options.rate}/s, until held`);
  const placedWatch = watcher(sql, "guestly_hold_status = 'held'");
  const held: Awaited<ReturnType<typeof insertOne>>[] = [];
  const t0 = Date.now();
  for (let i = 0; i < options.count; i++) {
    const wait = t0 + i * (1000 / options.rate) - Date.now();
    if (wait > 0) await sleep(wait);
    const booking = await insertOne(sql, "hold", i, true);
    placedWatch.start(booking.id, Date.now());
    held.push(booking);
  }
  const placed = await placedWatch.close();

  progress(`holds: paying ${held.length} held bookings at ${options.rate}/s`);
  const confirmHeld = await payAndTime(config, sql, held, options.rate);
  progress(`holds: paying ${options.count} bookings without a hold at ${options.rate}/s`);
  const unheld = [];
  for (let i = 0; i < options.count; i++) unheld.push(await insertOne(sql, "nohold", i, false));
  const confirmUnheld = await payAndTime(config, sql, unheld, options.rate);
  return {
    count: options.count,
    rate: options.rate,
    placed: {
      measured: placed.length,
      p50: percentile(placed, 0.5),
      p99: percentile(placed, 0.99),
      max: Math.max(...placed),
      notHeld: options.count - placed.length,
    },
    confirmHeld,
    confirmUnheld,
  };
}
