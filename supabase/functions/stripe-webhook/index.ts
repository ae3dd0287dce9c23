// stripe-webhook: Stripe's endpoint for payment events (verify_jwt = false: Stripe signs its
// requests instead). Reads its configuration and wires the handler to Postgres.
import Stripe from "stripe";
import { parseStripeWebhookEnv } from "../_shared/stripe/config.ts";
import { database } from "../_shared/db.ts";
import { postgresRecorder } from "../_shared/stripe/recorder.ts";
import { createStripeWebhookHandler } from "../_shared/stripe/webhook-handler.ts";
import { jsonLogger } from "../_shared/log.ts";
import { handlerOrConfigurationError } from "../_shared/http.ts";

const log = jsonLogger(undefined, { fn: "stripe-webhook" });

Deno.serve(handlerOrConfigurationError(() => {
  const config = parseStripeWebhookEnv(Deno.env.toObject());
  return createStripeWebhookHandler({
    secret: config.STRIPE_WEBHOOK_SECRET,
    livemode: config.livemode,
    record: postgresRecorder(database(config.SUPABASE_DB_URL), {
      unmatchedGraceSeconds: config.unmatchedGraceSeconds,
    }),
    log,
    now: Date.now,
    // Only used to verify signatures, which needs no real key.
    stripe: new Stripe(config.STRIPE_SECRET_KEY ?? "sk_test_placeholder_not_used"),
  });
}, (error) => log.error("stripe_webhook.misconfigured", { error })));
