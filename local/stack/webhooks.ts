// The return path on the local stack: one webhook signing secret per stack (kept in its state
// directory, like a real account's), given to the sandbox (it signs with it) and to the
// functions (GUESTLY_WEBHOOK_SECRET, guestly-webhook verifies with it); and, once everything is
// up, the sandbox's subscription to guestly-webhook, so the demo and the tests get webhooks.
import type { StackConfig } from "./config.ts";

const EVENTS = ["reservation.created.v2", "reservation.updated.v2"];

export async function stackWebhookSecret(config: StackConfig): Promise<string> {
  const file = `${config.stateDir}/local-secrets.json`;
  const saved = JSON.parse(await Deno.readTextFile(file).catch(() => "{}")) as Record<
    string,
    string
  >;
  if (saved.GUESTLY_WEBHOOK_SECRET) return saved.GUESTLY_WEBHOOK_SECRET;
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  saved.GUESTLY_WEBHOOK_SECRET = `whsec_${btoa(String.fromCharCode(...bytes))}`;
  await Deno.mkdir(config.stateDir, { recursive: true });
  await Deno.writeTextFile(file, JSON.stringify(saved, null, 2));
  return saved.GUESTLY_WEBHOOK_SECRET;
}

export function webhookFunctionUrl(config: StackConfig): string {
  return `${config.functionsUrl}/guestly-webhook`;
}

/**
 * Subscribes guestly-webhook through the sandbox's admin API (no token: a stack start must not
 * use one of the 5 tokens a day). Registering again changes nothing.
 */
export async function registerSandboxWebhook(config: StackConfig): Promise<void> {
  const response = await fetch(`${config.sandboxUrl}/__sandbox/webhooks`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ url: webhookFunctionUrl(config), events: EVENTS }),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`registering the webhook with the sandbox: ${response.status} ${text}`);
  }
}
