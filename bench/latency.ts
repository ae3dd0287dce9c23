// Measurement 2: payment → reservation. Signed payment_intent.succeeded events posted to
// stripe-webhook at a steady rate (open loop: one every 1/rate s, whatever the answers do); for
// each, the time from the webhook's 200 (read by this process) to the reservation's createdAt in
// the sandbox (stamped when the sandbox stores it, before it answers: the sandbox's own answer
// time is not in the figure; no latency fault is injected).
import type { StackConfig } from "../local/stack/config.ts";
import {
  createdAtByBooking,
  deliver,
  type Delivery,
  insertPendingBookings,
  paymentPayload,
  percentile,
  progress,
  sandbox,
  sleep,
  type Sql,
  waitSettled,
} from "./lib.ts";

export interface LatencyResult {
  rate: number;
  seconds: number;
  sent: number;
  answered200: number;
  measured: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  sandboxCreateMedianMs: number;
  lateStart: number;
}

export async function measurePaymentToReservation(
  config: StackConfig,
  sql: Sql,
  options: { rate: number; seconds: number },
): Promise<LatencyResult> {
  const count = Math.round(options.rate * options.seconds);
  const bookings = await insertPendingBookings(sql, count, "latency");
  const payloads = bookings.map(paymentPayload);
  const url = `${config.functionsUrl}/stripe-webhook`;
  const interval = 1000 / options.rate;
  progress(`payment→reservation: ${count} payments at ${options.rate}/s`);
  const t0 = Date.now() + 200;
  let lateStart = 0;
  const deliveries: Promise<Delivery>[] = [];
  for (let i = 0; i < count; i++) {
    const due = t0 + i * interval;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    else if (wait < -20) lateStart++;
    deliveries.push(deliver(url, payloads[i], config.stripeWebhookSecret));
  }
  const answers = await Promise.all(deliveries);
  await waitSettled(sql, bookings.map((b) => b.id), 120_000);

  const created = createdAtByBooking(await sandbox(config).reservations());
  const latencies: number[] = [];
  answers.forEach((answer, i) => {
    const at = created.get(bookings[i].id);
    if (answer.status === 200 && at !== undefined) latencies.push(at - answer.answeredAt);
  });
  const creates = (await sandbox(config).requests())
    .filter((r) => Date.parse(r.time) >= t0 && r.method === "POST" && r.status === 201)
    .map((r) => r.durationMs);
  return {
    rate: options.rate,
    seconds: options.seconds,
    sent: count,
    answered200: answers.filter((a) => a.status === 200).length,
    measured: latencies.length,
    p50: percentile(latencies, 0.5),
    p90: percentile(latencies, 0.9),
    p99: percentile(latencies, 0.99),
    max: Math.max(...latencies),
    sandboxCreateMedianMs: percentile(creates, 0.5),
    lateStart,
  };
}
