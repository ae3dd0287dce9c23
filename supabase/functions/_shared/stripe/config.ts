// Settings of the stripe-webhook function, read from the environment once and validated.
import { z } from "zod";
import { parseEnv } from "../env.ts";

export const StripeWebhookEnv = z.object({
  STRIPE_WEBHOOK_SECRET: z.string({ required_error: "STRIPE_WEBHOOK_SECRET is required" })
    .startsWith("whsec_", "must be the endpoint's signing secret (whsec_…)"),
  SUPABASE_DB_URL: z.string({ required_error: "SUPABASE_DB_URL is required" }).min(1),
  // Only needed if the function ever calls Stripe's API; verifying signatures does not.
  STRIPE_SECRET_KEY: z.string().optional().transform((v) => v || undefined),
});
export type StripeWebhookEnv = z.infer<typeof StripeWebhookEnv>;

export function parseStripeWebhookEnv(env: Record<string, string | undefined>): StripeWebhookEnv {
  return parseEnv(StripeWebhookEnv, env);
}
