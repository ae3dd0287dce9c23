// The load: N bookings waiting for payment, each paid through a signed Stripe event that is
// re-delivered, like Stripe does, until the webhook answers 200.

import type postgres from "postgres";
import { signatureFor, stripeEvent } from "../../supabase/tests/fixtures/stripe/events.ts";
import type { StackConfig } from "../../local/stack/config.ts";
import { sleep } from "./util.ts";
import { nextStay } from "../../local/stays.ts";

export interface DeliveryStats {
  events: number;
  deliveries: number;
  redeliveries: number;
  ok: number;
  duplicateAnswers: number;
  byStatus: Record<string, number>;
  lost: string[];
  outcomes: Record<string, number>;
}

export function newDeliveryStats(): DeliveryStats {
  return {
    events: 0,
    deliveries: 0,
    redeliveries: 0,
    ok: 0,
    duplicateAnswers: 0,
    byStatus: {},
    lost: [],
    outcomes: {},
  };
}

export interface BookingSeed {
  id: string;
  amount: number;
  currency: string;
}

/** Inserts n bookings (pending_payment) spread over the seeded properties. */
export async function insertBookings(
  sql: postgres.Sql,
  n: number,
  runId: string,
): Promise<{ seeds: BookingSeed[]; properties: number }> {
  const properties = (await sql`select id from public.properties order by id`).map((r) =>
    r.id as string
  );
  if (properties.length === 0) throw new Error("the seed created no properties");
  const currencies = ["usd", "eur", "gbp"];
  const rows = Array.from({ length: n }, (_, i) => {
    // Nights of its own: the sandbox refuses overlapping stays (local/stays.ts).
    const stay = nextStay(1 + (i % 7));
    return {
      property_id: properties[i % properties.length],
      guest_first_name: "Chaos",
      guest_last_name: `Guest ${i + 1}`,
      guest_email: `chaos-${runId}-${i + 1}@example.com`,
      guest_phone: "+15555550123",
      check_in: stay.checkIn,
      check_out: stay.checkOut,
      guests_count: 1 + (i % 4),
      amount_total: 10_000 + Math.floor(Math.random() * 190_000),
      currency: currencies[i % currencies.length],
    };
  });
  const seeds: BookingSeed[] = [];
  for (let i = 0; i < rows.length; i += 250) {
    const inserted = await sql`insert into public.bookings ${sql(rows.slice(i, i + 250))}
                               returning id, amount_total, currency`;
    for (const r of inserted) {
      seeds.push({ id: r.id, amount: Number(r.amount_total), currency: r.currency });
    }
  }
  return { seeds, properties: properties.length };
}

export function paymentEvent(booking: BookingSeed, index: number, run: string): string {
  return JSON.stringify(stripeEvent("payment_intent.succeeded", {
    id: `evt_chaos_${run}_${index}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`,
    bookingId: booking.id,
    amount: booking.amount,
    currency: booking.currency,
    paymentIntentId: `pi_chaos_${run}_${index}`,
  }));
}

export async function deliverUntilAccepted(
  config: StackConfig,
  payload: string,
  stats: DeliveryStats,
  deadline: number,
): Promise<boolean> {
  stats.events++;
  for (let attempt = 0;; attempt++) {
    if (attempt > 0) stats.redeliveries++;
    stats.deliveries++;
    let status = "network";
    try {
      // Stripe signs every delivery anew, with the time of that delivery.
      const signature = await signatureFor(payload, config.stripeWebhookSecret);
      const response = await fetch(`${config.functionsUrl}/stripe-webhook`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Stripe-Signature": signature },
        body: payload,
        signal: AbortSignal.timeout(20_000),
      });
      const text = await response.text();
      status = String(response.status);
      if (response.status === 200) {
        const body = JSON.parse(text) as { outcome: string; duplicate: boolean };
        stats.ok++;
        if (body.duplicate) stats.duplicateAnswers++;
        stats.outcomes[body.outcome] = (stats.outcomes[body.outcome] ?? 0) + 1;
        stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
        return true;
      }
    } catch (error) {
      status = error instanceof DOMException && error.name === "TimeoutError"
        ? "timeout"
        : "network";
    }
    stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
    if (Date.now() > deadline) return false;
    // Stripe backs off exponentially (hours, in reality); compressed here.
    await sleep(Math.min(500 * 2 ** attempt, 8_000) * (0.8 + Math.random() * 0.4));
  }
}

/**
 * Pays every booking at `rate` per second, at most `concurrency` deliveries in flight.
 * `onDispatched(count)` lets the chaos schedule follow the progress.
 */
export async function payAll(
  config: StackConfig,
  seeds: BookingSeed[],
  runId: string,
  stats: DeliveryStats,
  opts: {
    rate: number;
    concurrency: number;
    deadline: number;
    onDispatched: (count: number) => void;
    progress: (line: string) => void;
  },
): Promise<void> {
  const t = Date.now();
  const inFlight = new Set<Promise<void>>();
  const interval = 1000 / opts.rate;
  let lastReport = Date.now();
  for (const [i, seed] of seeds.entries()) {
    const due = t + i * interval;
    if (due > Date.now()) await sleep(due - Date.now());
    while (inFlight.size >= opts.concurrency) await Promise.race(inFlight);
    const task = deliverUntilAccepted(config, paymentEvent(seed, i, runId), stats, opts.deadline)
      .then((accepted) => {
        if (!accepted) stats.lost.push(seed.id);
      })
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
    opts.onDispatched(i + 1);
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      opts.progress(
        `paid ${stats.ok}/${seeds.length} (dispatched ${i + 1}, deliveries ${stats.deliveries}, ` +
          `re-sent ${stats.redeliveries})`,
      );
    }
  }
  await Promise.all(inFlight);
}

/**
 * A booking paid the hard way (issue 24 §1): the PaymentIntent event names no booking (recorded
 * unmatched), the admin refunds part or all of it, and only then does Stripe's retry of the
 * Checkout event name the booking. Guestly must end with the money Stripe holds.
 */
export interface EarlyRefund {
  id: string;
  amount: number;
  currency: string;
  paymentIntentId: string;
  /** Stripe's cumulative amount_refunded. */
  refunded: number;
  full: boolean;
}

/** About one booking in 50 (at least 2 from 10 bookings on), alternately partly and fully refunded. */
export function earlyRefundPlan(seeds: BookingSeed[], runId: string): EarlyRefund[] {
  if (seeds.length < 10) return [];
  const count = Math.max(2, Math.round(seeds.length / 50));
  return Array.from({ length: count }, (_, k) => {
    const seed = seeds[Math.floor(((k + 0.5) * seeds.length) / count)];
    const full = k % 2 === 1;
    return {
      id: seed.id,
      amount: seed.amount,
      currency: seed.currency,
      paymentIntentId: `pi_chaos_${runId}_early_${k}`,
      refunded: full ? seed.amount : Math.floor(seed.amount / 4),
      full,
    };
  });
}

function earlyRefundEvents(e: EarlyRefund): string[] {
  const eventId = (what: string) =>
    `evt_chaos_early_${what}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  // Long past the unmatched grace window: Stripe's retry of the Checkout event comes hours late.
  const created = Math.floor(Date.now() / 1000) - 3 * 3600;
  const money = { amount: e.amount, currency: e.currency, paymentIntentId: e.paymentIntentId };
  return [
    stripeEvent("payment_intent.succeeded", {
      ...money,
      id: eventId("pi"),
      bookingId: null,
      created,
    }),
    stripeEvent("charge.refunded", {
      ...money,
      id: eventId("refund"),
      bookingId: null,
      amountRefunded: e.refunded,
      created: created + 1800,
    }),
    stripeEvent("checkout.session.completed", {
      ...money,
      id: eventId("cs"),
      bookingId: e.id,
      created,
    }),
  ].map((event) => JSON.stringify(event));
}

/** Each early-refund booking's three events in order, each re-sent until accepted. */
export async function payEarlyRefunds(
  config: StackConfig,
  plan: EarlyRefund[],
  stats: DeliveryStats,
  deadline: number,
): Promise<void> {
  await Promise.all(plan.map(async (e) => {
    for (const payload of earlyRefundEvents(e)) {
      if (!await deliverUntilAccepted(config, payload, stats, deadline)) {
        stats.lost.push(e.id);
        return;
      }
    }
  }));
}
