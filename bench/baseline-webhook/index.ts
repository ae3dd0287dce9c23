// The benchmark's comparison point, never deployed: a Stripe webhook that creates the Guestly
// reservation INLINE before answering, as many integrations do. Everything else is our webhook's
// own code, so the comparison isolates that one design choice:
// - the same handler (size limit, signature verified on the raw body, event parsing, 200/400/500
//   rules) and the same recorder (payments.record_stripe_event: ledger row + booking confirmed in
//   one transaction, which also fires the trigger, exactly as for our webhook);
// - then, only for a payment that just confirmed the booking, one POST /reservations-v3 with the
//   same mapping and the same Guestly client (the token cached in the database; no rate limiter
//   and no retries — the generous reading of "call it inline"): success stores the reservation id,
//   any failure answers 500 (the only retry such a design has is Stripe's redelivery).
// The bench inserts these bookings with the sync lease already taken, so the guestly-sync
// invocation their trigger causes skips them (claim_sync: "leased") and no duplicate is created.
import Stripe from "stripe";
import { parseStripeWebhookEnv } from "../../supabase/functions/_shared/stripe/config.ts";
import { parseGuestlyEnv, tokenUrlFor } from "../../supabase/functions/_shared/guestly/config.ts";
import { database } from "../../supabase/functions/_shared/db.ts";
import { postgresRecorder } from "../../supabase/functions/_shared/stripe/recorder.ts";
import { createStripeWebhookHandler } from "../../supabase/functions/_shared/stripe/webhook-handler.ts";
import { postgresTokenStore } from "../../supabase/functions/_shared/guestly/db.ts";
import { GuestlyClient } from "../../supabase/functions/_shared/guestly/client.ts";
import { mapBookingToGuestlyReservation } from "../../supabase/functions/_shared/guestly/mapping.ts";
import { BookingRow } from "../../supabase/functions/_shared/guestly/schemas.ts";
import { jsonLogger } from "../../supabase/functions/_shared/log.ts";

const env = Deno.env.toObject();
const config = parseStripeWebhookEnv(env);
const guestlyConfig = parseGuestlyEnv(env);
const sql = database(config.SUPABASE_DB_URL);
const record = postgresRecorder(sql);

const unpooled = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
const guestly = new GuestlyClient(
  {
    baseUrl: guestlyConfig.GUESTLY_BASE_URL.replace(/\/$/, ""),
    tokenUrl: tokenUrlFor(guestlyConfig),
    clientId: guestlyConfig.GUESTLY_CLIENT_ID,
    clientSecret: guestlyConfig.GUESTLY_CLIENT_SECRET,
  },
  {
    fetch,
    // The baseline measures the webhook's own cost; its inline creates never see a dropped
    // reused connection, but they take the same unpooled path as guestly-sync.
    fetchOnce: (input, init) => fetch(input, { ...init, client: unpooled }),
    tokens: postgresTokenStore(sql),
    limiter: { reserve: () => Promise.resolve(new Date()) },
    maxSlotWaitMs: 100_000,
    now: Date.now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    timeoutMs: guestlyConfig.GUESTLY_REQUEST_TIMEOUT_MS,
  },
);

async function createInline(bookingId: string) {
  // The row as claim_sync hands it to guestly-sync: to_jsonb, plus the property's listing id.
  const [row] = await sql`
    select to_jsonb(b) || jsonb_build_object('guestly_listing_id', p.guestly_listing_id) as booking
      from public.bookings b join public.properties p on p.id = b.property_id
     where b.id = ${bookingId}::uuid`;
  const booking = BookingRow.parse(row.booking);
  const result = await guestly.createReservation(
    mapBookingToGuestlyReservation(booking),
  );
  if (result.outcome !== "success" || !result.data) {
    throw new Error(result.error ?? `Guestly answered ${result.httpStatus}`);
  }
  await sql`
    update public.bookings
       set guestly_reservation_id = ${result.data.id}, guestly_sync_status = 'synced',
           guestly_synced_status = status, guestly_synced_at = now(),
           guestly_sync_next_attempt_at = null, guestly_sync_attempts = 1
     where id = ${bookingId}::uuid`;
}

Deno.serve(createStripeWebhookHandler({
  secret: config.STRIPE_WEBHOOK_SECRET,
  livemode: config.livemode,
  record: async (event) => {
    const result = await record(event);
    if (result.outcome === "confirmed" && !result.duplicate && result.bookingId) {
      await createInline(result.bookingId);
    }
    return result;
  },
  log: jsonLogger(undefined, { fn: "baseline-webhook" }),
  now: Date.now,
  stripe: new Stripe("sk_test_placeholder_not_used"),
}));
