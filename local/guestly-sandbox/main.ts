// Entry point for the Guestly sandbox (local test infrastructure only).
//
// Env:
//   GUESTLY_SANDBOX_PORT        port to listen on (default 54330)
//   GUESTLY_SANDBOX_RATE_SCALE  multiplies all three rate limits (default 1)
//   GUESTLY_CLIENT_ID / GUESTLY_CLIENT_SECRET  if both set, the only accepted client
//   GUESTLY_SANDBOX_WEBHOOK_SECRET       the webhook signing secret (whsec_…; default random)
//   GUESTLY_SANDBOX_WEBHOOK_RETRY_SCALE  multiplies the Svix-like retry schedule (default 1)
//
// Run: node_modules/.bin/deno run -A local/guestly-sandbox/main.ts

import { DEFAULT_LIMITS, startGuestlySandbox } from "./server.ts";

function envNumber(name: string, def: number): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw.trim() === "") return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  }
  return n;
}

const port = envNumber("GUESTLY_SANDBOX_PORT", 54330);
const scale = envNumber("GUESTLY_SANDBOX_RATE_SCALE", 1);
const limits = {
  perSecond: Math.max(1, Math.round(DEFAULT_LIMITS.perSecond * scale)),
  perMinute: Math.max(1, Math.round(DEFAULT_LIMITS.perMinute * scale)),
  perHour: Math.max(1, Math.round(DEFAULT_LIMITS.perHour * scale)),
};

const clientId = Deno.env.get("GUESTLY_CLIENT_ID");
const clientSecret = Deno.env.get("GUESTLY_CLIENT_SECRET");
const clients = clientId && clientSecret ? { [clientId]: clientSecret } : undefined;
if ((clientId && !clientSecret) || (!clientId && clientSecret)) {
  console.warn(
    "[guestly-sandbox] only one of GUESTLY_CLIENT_ID / GUESTLY_CLIENT_SECRET is set; using default client",
  );
}

const sandbox = await startGuestlySandbox({
  port,
  limits,
  clients,
  webhookSecret: Deno.env.get("GUESTLY_SANDBOX_WEBHOOK_SECRET") || undefined,
  webhookRetryScale: envNumber("GUESTLY_SANDBOX_WEBHOOK_RETRY_SCALE", 1),
});
console.log(
  `[guestly-sandbox] listening on ${sandbox.url} (inspector: ${sandbox.url}/__sandbox/, limits ${limits.perSecond}/s ${limits.perMinute}/min ${limits.perHour}/h)`,
);

const shutdown = async () => {
  await sandbox.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", shutdown);
if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", shutdown);
