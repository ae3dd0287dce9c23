// A value copied from .env.example must never work in production: every placeholder is refused
// at start-up by the function that reads it, with the variable named and the fix given.
import assert from "node:assert/strict";
import { parseGuestlyEnv } from "../../functions/_shared/guestly/config.ts";
import { parseStripeWebhookEnv } from "../../functions/_shared/stripe/config.ts";
import { parseGuestlyWebhookEnv } from "../../functions/_shared/guestly-webhook/config.ts";
import {
  notifyAdminConfig,
  retryLinkConfig,
} from "../../functions/_shared/notifications/config.ts";
import {
  ENV_EXAMPLE_PLACEHOLDERS,
  estimatedEntropyBits,
  LOCAL_TEST_VALUES,
} from "../../functions/_shared/secrets.ts";
import { handlerOrConfigurationError } from "../../functions/_shared/http.ts";

const example = Object.fromEntries(
  (await Deno.readTextFile(new URL("../../../.env.example", import.meta.url)))
    .split("\n")
    .filter((line) => /^[A-Z0-9_]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
);

const STRONG = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
/** A deployed project's environment with good values everywhere. */
const deployed: Record<string, string> = {
  SUPABASE_URL: "https://abcdefghijklmnop.supabase.co",
  SUPABASE_DB_URL: "postgresql://postgres:x@db.abcdefghijklmnop.supabase.co:5432/postgres",
  SUPABASE_SERVICE_ROLE_KEY: "eyJ.service.role",
  GUESTLY_SYNC_ENABLED: "true",
  GUESTLY_CLIENT_ID: "0oa1b2c3d4e5f6g7h8i9",
  GUESTLY_CLIENT_SECRET: "Zx8-qL2vN7rT4wY1mK9pB6cF3hJ5sD0g",
  STRIPE_WEBHOOK_SECRET: "whsec_4eC39HqLyjWDarjtT1zdp7dc9f86d081",
  GUESTLY_WEBHOOK_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  STRIPE_LIVEMODE: "true",
  RESEND_API_KEY: "re_123456789_AbCdEfGhIjKlMnOp",
  ALERT_FROM_EMAIL: "Guestly Sync <alerts@rental.example>",
  ADMIN_ALERT_EMAILS: "owner@rental.example",
  RETRY_LINK_SECRET: STRONG,
};

/** What each function says at start-up about an environment ("" = it runs). */
const startUp: Record<string, (env: Record<string, string>) => string> = {
  "guestly-sync": (env) => errorOf(() => parseGuestlyEnv(env)),
  "stripe-webhook": (env) => errorOf(() => parseStripeWebhookEnv(env)),
  "guestly-webhook": (env) => errorOf(() => parseGuestlyWebhookEnv(env)),
  "notify-admin": (env) => notifyAdminConfig(env).configError ?? "",
  "retry-link": (env) => errorOf(() => retryLinkConfig(env)),
};
const READS: Record<string, string> = {
  GUESTLY_CLIENT_ID: "guestly-sync",
  GUESTLY_CLIENT_SECRET: "guestly-sync",
  STRIPE_WEBHOOK_SECRET: "stripe-webhook",
  GUESTLY_WEBHOOK_SECRET: "guestly-webhook",
  RESEND_API_KEY: "notify-admin",
  RETRY_LINK_SECRET: "retry-link",
};

function errorOf(run: () => unknown): string {
  try {
    run();
    return "";
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

Deno.test("with good values every function starts", () => {
  for (const [name, start] of Object.entries(startUp)) assert.equal(start(deployed), "", name);
});

Deno.test("every placeholder in .env.example is known, and refused by the function reading it", () => {
  const placeholders = Object.entries(example).filter(([, value]) => /replace|your-/i.test(value));
  assert.ok(placeholders.length >= 5, "the scan finds the placeholders");
  for (const [name, value] of placeholders) {
    assert.ok(ENV_EXAMPLE_PLACEHOLDERS.has(value), `${name}=${value} is in the refused list`);
    const fn = READS[name];
    assert.ok(fn, `${name}: which function reads it?`);
    const error = startUp[fn]({ ...deployed, [name]: value });
    assert.match(error, new RegExp(`${name} is still the placeholder from \\.env\\.example`));
  }
});

Deno.test("the local stack's test values are refused on a deployed project, accepted locally", () => {
  const local = { ...deployed, SUPABASE_URL: "http://127.0.0.1:54321" };
  for (
    const [name, value] of [
      ["GUESTLY_CLIENT_SECRET", "sandbox-client-secret"],
      ["STRIPE_WEBHOOK_SECRET", "whsec_local_stack_only"],
      ["RESEND_API_KEY", "re_local_mail_catcher"],
    ] as const
  ) {
    assert.ok(LOCAL_TEST_VALUES.has(value));
    const fn = READS[name];
    assert.match(startUp[fn]({ ...deployed, [name]: value }), new RegExp(`${name} is the local`));
    assert.equal(startUp[fn]({ ...local, [name]: value }), "", `${name} works on a local stack`);
  }
});

Deno.test("a short or regular RETRY_LINK_SECRET is refused with the command that makes one", () => {
  for (
    const weak of [
      "local-stack-retry-link-secret-not-for-production",
      "a".repeat(80),
      "0123456789abcdef0123456789abcdef", // 16 bytes of hex
      "correct horse battery staple",
    ]
  ) {
    const error = startUp["retry-link"]({ ...deployed, RETRY_LINK_SECRET: weak });
    assert.match(error, /RETRY_LINK_SECRET is (too weak|the local)/, weak);
    assert.match(error, /openssl rand -hex 32/);
  }
  assert.ok(estimatedEntropyBits(STRONG) >= 256);
  assert.ok(estimatedEntropyBits("q2Vb9rYxT4mZpL7cN1wK8sD3fG6hJ0aE5uR2tY9iO4p") >= 256, "base64");
});

Deno.test("notify-admin still sends alerts with a weak link secret, only without the link", () => {
  const config = notifyAdminConfig({ ...deployed, RETRY_LINK_SECRET: "short" });
  assert.equal(config.configError, null);
  assert.equal(config.retryLinkSecret, "");
  assert.match(config.retryLinkProblem ?? "", /RETRY_LINK_SECRET is too weak/);
});

Deno.test("a function that cannot run safely answers 500 with the reason", async () => {
  const logged: string[] = [];
  const handler = handlerOrConfigurationError(() => {
    retryLinkConfig({ ...deployed, RETRY_LINK_SECRET: example.RETRY_LINK_SECRET });
    throw new Error("unreachable");
  }, (message) => logged.push(message));
  const response = await handler(new Request("http://x/", { method: "POST" }));
  assert.equal(response.status, 500);
  const body = await response.json();
  assert.match(body.error, /RETRY_LINK_SECRET is still the placeholder/);
  assert.deepEqual(logged, [body.error]);
  assert.doesNotMatch(JSON.stringify(body), /replace-with-at-least/, "the value is never echoed");
});
