// What the Stripe webhook integration tests share: signed deliveries to the function through
// the gateway, a test with its own database connection, the ledger row, bookings with nights of
// their own, and a paid event.
import postgres from "postgres";
import { connect, type NewBooking, nextStay, stack } from "./harness.ts";
import { stripeEvent, stripeRequest, uniqueId } from "../fixtures/stripe/events.ts";

export const URL_ = `${stack.functionsUrl}/stripe-webhook`;
export const SECRET = stack.stripeWebhookSecret;
export const opts = { sanitizeResources: false, sanitizeOps: false };

/** A test with its own connection (as `postgres`, like the functions), closed afterwards. */
export function dbTest(name: string, fn: (sql: postgres.Sql) => Promise<void>) {
  Deno.test(name, opts, async () => {
    const sql = connect();
    try {
      await fn(sql);
    } finally {
      await sql.end();
    }
  });
}

export async function deliver(
  event: Record<string, unknown> | string,
  options: { secret?: string; timestamp?: number; signature?: string | null } = {},
) {
  const request = await stripeRequest(URL_, event, options.secret ?? SECRET, options);
  const response = await fetch(request);
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text);
  } catch { /* keep {} */ }
  return { status: response.status, body, text };
}

export async function ledger(sql: postgres.Sql, eventId: string) {
  return await sql`select * from payments.stripe_events where id = ${eventId}`;
}

/** Unique dates per booking, so no two test bookings compete for the same nights. */
export function newBooking(overrides: NewBooking = {}): NewBooking {
  return {
    ...nextStay(3),
    amount: 45000,
    currency: "usd",
    ...overrides,
  };
}

/** Epoch seconds, `n` minutes ago: event.created of an event Stripe redelivers after a while. */
export function minutesAgo(n: number): number {
  return Math.floor(Date.now() / 1000) - n * 60;
}

export function paid(bookingId: string, overrides: Parameters<typeof stripeEvent>[1] = {}) {
  return stripeEvent("payment_intent.succeeded", {
    bookingId,
    amount: 45000,
    currency: "usd",
    paymentIntentId: uniqueId("pi"),
    ...overrides,
  });
}
