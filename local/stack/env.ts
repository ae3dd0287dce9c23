// The environment the local stack gives its Edge Functions: what `supabase functions serve`
// would inject, plus this project's settings pointed at the local sandbox and mail catcher.
import type { StackConfig } from "./config.ts";
import { apiKeysEnv, localKeys, stackApiKeys } from "../keys.ts";
import { parseEnvFile } from "../gateway/config.ts";
import { stackWebhookSecret } from "./webhooks.ts";

/** Variables a developer may override when starting the stack (e.g. GUESTLY_SYNC_ENABLED=true). */
const PASS_THROUGH = /^(GUESTLY_|RESEND_|ADMIN_ALERT_|ALERT_FROM_|STRIPE_|RETRY_LINK_|LOG_)/;
const SANDBOX_ONLY = /^GUESTLY_SANDBOX_/;

export async function functionsEnv(config: StackConfig): Promise<Record<string, string>> {
  const keys = await localKeys();
  const defaults: Record<string, string> = {
    SUPABASE_URL: config.apiUrl,
    SUPABASE_DB_URL: config.dbUrl,
    SUPABASE_ANON_KEY: keys.anonKey,
    SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
    // As the platform injects them: {"default":"sb_secret_…"} / {"default":"sb_publishable_…"}.
    ...apiKeysEnv(await stackApiKeys(config.stateDir)),
    GUESTLY_SYNC_ENABLED: "false",
    GUESTLY_TEST_MODE: "false",
    GUESTLY_BASE_URL: `${config.sandboxUrl}/v1`,
    GUESTLY_TOKEN_URL: `${config.sandboxUrl}/oauth2/token`,
    GUESTLY_CLIENT_ID: config.guestlyClientId,
    GUESTLY_CLIENT_SECRET: config.guestlyClientSecret,
    RESEND_API_KEY: "re_local_mail_catcher",
    RESEND_BASE_URL: config.mailUrl,
    ADMIN_ALERT_EMAILS: "admin@rental.example",
    ALERT_FROM_EMAIL: "Guestly Sync <alerts@rental.example>",
    STRIPE_WEBHOOK_SECRET: config.stripeWebhookSecret,
    STRIPE_LIVEMODE: "false",
    // Random per stack (kept in its state directory): the functions refuse a guessable one.
    RETRY_LINK_SECRET: await stackSecret(config, "RETRY_LINK_SECRET"),
    // The sandbox signs its webhooks with the same one (local/stack/webhooks.ts).
    GUESTLY_WEBHOOK_SECRET: await stackWebhookSecret(config),
  };
  const dotEnv = parseEnvFile(
    await Deno.readTextFile(`${config.root}/supabase/functions/.env`).catch(() => ""),
  );
  const overrides: Record<string, string> = {};
  for (const [key, value] of Object.entries(Deno.env.toObject())) {
    if (PASS_THROUGH.test(key) && !SANDBOX_ONLY.test(key)) overrides[key] = value;
  }
  return { ...defaults, ...dotEnv, ...overrides };
}

/** A random secret made once per stack state directory, the way a deployment's would be. */
async function stackSecret(config: StackConfig, name: string): Promise<string> {
  const file = `${config.stateDir}/local-secrets.json`;
  const saved = JSON.parse(await Deno.readTextFile(file).catch(() => "{}")) as Record<
    string,
    string
  >;
  if (saved[name]) return saved[name];
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  saved[name] = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  await Deno.mkdir(config.stateDir, { recursive: true });
  await Deno.writeTextFile(file, JSON.stringify(saved, null, 2));
  return saved[name];
}
