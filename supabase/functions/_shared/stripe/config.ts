// Settings of the stripe-webhook function, read from the environment once and validated.
import { z } from "zod";
import { parseEnv } from "../env.ts";
import { assertStrongSecrets } from "../secrets.ts";
import { DEFAULT_UNMATCHED_GRACE_SECONDS } from "./recorder.ts";

const LIVE_KEY = /^(sk|rk)_live_/;
const TEST_KEY = /^(sk|rk)_test_/;

const Fields = z.object({
  STRIPE_WEBHOOK_SECRET: z.string({ required_error: "STRIPE_WEBHOOK_SECRET is required" })
    .startsWith("whsec_", "must be the endpoint's signing secret (whsec_…)"),
  SUPABASE_DB_URL: z.string({ required_error: "SUPABASE_DB_URL is required" }).min(1),
  // Only needed if the function ever calls Stripe's API; verifying signatures does not. Its
  // prefix (sk_live_/rk_live_ or sk_test_/rk_test_) tells the mode when STRIPE_LIVEMODE is unset.
  STRIPE_SECRET_KEY: z.string().optional().transform((v) => v || undefined),
  // "true": only live-mode events are accepted; "false": only test-mode events.
  STRIPE_LIVEMODE: z.string().optional().transform((v) => v?.trim().toLowerCase() || undefined)
    .pipe(
      z.enum(["true", "false"], {
        errorMap: () => ({ message: 'must be "true" (live mode) or "false" (test mode)' }),
      }).optional(),
    ),
  // Minutes after event.created during which a payment no booking matches is answered 503 (Stripe
  // delivers it again) instead of being recorded unmatched: the booking row may not be committed.
  STRIPE_UNMATCHED_GRACE_MINUTES: z.string().optional()
    .transform((v) =>
      v === undefined || v.trim() === "" ? String(DEFAULT_UNMATCHED_GRACE_SECONDS / 60) : v.trim()
    )
    .pipe(
      z.coerce.number({ invalid_type_error: "must be a number of minutes" }).int(
        "must be a whole number of minutes",
      ).min(0, "must be 0 or more").max(1440, "must be at most 1440 (24 h)"),
    ),
});

export const StripeWebhookEnv = Fields.transform((env, ctx) => {
  const fromKey = env.STRIPE_SECRET_KEY === undefined
    ? undefined
    : LIVE_KEY.test(env.STRIPE_SECRET_KEY)
    ? true
    : TEST_KEY.test(env.STRIPE_SECRET_KEY)
    ? false
    : undefined;
  const fromFlag = env.STRIPE_LIVEMODE === undefined ? undefined : env.STRIPE_LIVEMODE === "true";
  if (fromFlag !== undefined && fromKey !== undefined && fromFlag !== fromKey) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ["STRIPE_LIVEMODE"],
      message: `is ${env.STRIPE_LIVEMODE}, but STRIPE_SECRET_KEY is a ${
        fromKey ? "live" : "test"
      }-mode key`,
    });
    return z.NEVER;
  }
  const livemode = fromFlag ?? fromKey;
  if (livemode === undefined) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ["STRIPE_LIVEMODE"],
      message: env.STRIPE_SECRET_KEY === undefined
        ? 'is required: "true" for live mode, "false" for test mode (or set STRIPE_SECRET_KEY, ' +
          "whose prefix tells the mode)"
        : 'is required: STRIPE_SECRET_KEY does not start with sk_live_/rk_live_/sk_test_/rk_test_, so set "true" or "false"',
    });
    return z.NEVER;
  }
  return { ...env, livemode, unmatchedGraceSeconds: env.STRIPE_UNMATCHED_GRACE_MINUTES * 60 };
});
export type StripeWebhookEnv = z.infer<typeof StripeWebhookEnv>;

export function parseStripeWebhookEnv(env: Record<string, string | undefined>): StripeWebhookEnv {
  const config = parseEnv(StripeWebhookEnv, env);
  assertStrongSecrets(env, [
    {
      name: "STRIPE_WEBHOOK_SECRET",
      howToFix:
        "copy this endpoint's signing secret from the Stripe Dashboard (Developers → Webhooks)",
    },
    {
      name: "STRIPE_SECRET_KEY",
      howToFix: "use a restricted key from the Stripe Dashboard, or leave it unset",
    },
  ]);
  return config;
}
