// The benchmark's floor, never deployed: the cheapest correct Stripe webhook this stack allows.
// It verifies the signature on the raw body exactly as our handler does (stripe-node's
// constructEventAsync with the SubtleCrypto provider) and stores the event with ONE INSERT into a
// bench-only table (bench.floor_stripe_events, created and dropped by bench/webhook.ts), nothing
// else: no booking, no ledger, no trigger. Its database connection is set up like our functions'
// (postgres npm, prepare: false, the same pool size), so stripe-webhook ÷ floor isolates the work
// our webhook does, not the plumbing. One log line per event carries the handler's own time, the
// same field the bench reads from stripe-webhook's log.
import Stripe from "stripe";
import postgres from "postgres";

const secret = Deno.env.get("STRIPE_WEBHOOK_SECRET") ?? "";
const sql = postgres(Deno.env.get("SUPABASE_DB_URL") ?? "", {
  prepare: false,
  max: 5,
  idle_timeout: 20,
  connect_timeout: 10,
  onnotice: () => {},
  connection: { application_name: "edge-function", statement_timeout: 15_000 },
});
const stripe = new Stripe("sk_test_placeholder_not_used");
const cryptoProvider = Stripe.createSubtleCryptoProvider();

Deno.serve(async (request) => {
  const started = Date.now();
  const rawBody = await request.text();
  let event: Stripe.Event;
  try {
    event = await stripe.webhooks.constructEventAsync(
      rawBody,
      request.headers.get("stripe-signature") ?? "",
      secret,
      300,
      cryptoProvider,
    );
  } catch {
    return new Response('{"error":"bad signature"}', { status: 400 });
  }
  try {
    await sql`
      insert into bench.floor_stripe_events (id, type, payload)
      values (${event.id}, ${event.type}, ${rawBody}::jsonb)
      on conflict (id) do nothing`;
  } catch {
    return new Response('{"error":"not stored"}', { status: 500 });
  }
  console.log(
    JSON.stringify({ event: "floor.webhook", event_id: event.id, ms: Date.now() - started }),
  );
  return new Response('{"received":true}', { headers: { "content-type": "application/json" } });
});
