// Settings of the guestly-webhook function, read from the environment once and validated: the
// signing secret Guestly gives (`GET /webhooks-v2/secret`), and the same Guestly settings as
// guestly-sync (its client reads reservations through the shared token cache and rate limiter).
import { z } from "zod";
import { parseEnv } from "../env.ts";
import { assertStrongSecrets } from "../secrets.ts";
import { type GuestlyEnv, parseGuestlyEnv } from "../guestly/config.ts";

const Fields = z.object({
  GUESTLY_WEBHOOK_SECRET: z.string({
    required_error: "GUESTLY_WEBHOOK_SECRET is required: run `npm run guestly:webhook -- secret` " +
      "and set what it prints",
  }).regex(
    /^whsec_[A-Za-z0-9+/]+={0,2}$/,
    "must be Guestly's webhook signing secret (whsec_ followed by base64)",
  ),
});

export interface GuestlyWebhookEnv {
  webhookSecret: string;
  guestly: GuestlyEnv;
}

export function parseGuestlyWebhookEnv(
  env: Record<string, string | undefined>,
): GuestlyWebhookEnv {
  // The placeholder first: its message says where the real one comes from.
  assertStrongSecrets(env, [{
    name: "GUESTLY_WEBHOOK_SECRET",
    howToFix: "run `npm run guestly:webhook -- secret` and set the secret it prints",
  }]);
  const fields = parseEnv(Fields, env);
  return { webhookSecret: fields.GUESTLY_WEBHOOK_SECRET, guestly: parseGuestlyEnv(env) };
}
