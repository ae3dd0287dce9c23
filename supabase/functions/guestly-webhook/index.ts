// guestly-webhook: Guestly's endpoint for reservation events (verify_jwt = false: Guestly signs
// its requests instead), and the database sweep's way to re-apply recorded events. Reads its
// configuration and wires the handler to Postgres and Guestly.
import { parseGuestlyWebhookEnv } from "../_shared/guestly-webhook/config.ts";
import { tokenUrlFor } from "../_shared/guestly/config.ts";
import { database } from "../_shared/db.ts";
import { postgresRateLimiter, postgresTokenStore } from "../_shared/guestly/db.ts";
import { GuestlyClient } from "../_shared/guestly/client.ts";
import { postgresEventLedger } from "../_shared/guestly-webhook/store.ts";
import { createGuestlyWebhookHandler } from "../_shared/guestly-webhook/handler.ts";
import { jsonLogger } from "../_shared/log.ts";
import { handlerOrConfigurationError } from "../_shared/http.ts";
import { serviceKeysFrom } from "../_shared/service-keys.ts";

const log = jsonLogger(undefined, { fn: "guestly-webhook" });

/** The platform's runtime object (absent locally). */
const edgeRuntime = (globalThis as {
  EdgeRuntime?: { waitUntil(promise: Promise<unknown>): void };
}).EdgeRuntime;

Deno.serve(handlerOrConfigurationError(() => {
  const env = Deno.env.toObject();
  const config = parseGuestlyWebhookEnv(env);
  const serviceKeys = serviceKeysFrom(env);
  for (const problem of serviceKeys.problems) {
    log.error("guestly.webhook.misconfigured", { problem });
  }
  const sql = database(config.guestly.SUPABASE_DB_URL);
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  const guestly = new GuestlyClient(
    {
      baseUrl: config.guestly.GUESTLY_BASE_URL.replace(/\/$/, ""),
      tokenUrl: tokenUrlFor(config.guestly),
      clientId: config.guestly.GUESTLY_CLIENT_ID,
      clientSecret: config.guestly.GUESTLY_CLIENT_SECRET,
    },
    {
      fetch,
      // This function only reads (GET): nothing it sends is harmful if the stack sends it twice.
      fetchOnce: fetch,
      tokens: postgresTokenStore(sql),
      limiter: postgresRateLimiter(sql, config.guestly.GUESTLY_RATE_LIMITS),
      maxSlotWaitMs: 20_000,
      now: Date.now,
      sleep,
      timeoutMs: config.guestly.GUESTLY_REQUEST_TIMEOUT_MS,
    },
  );
  // On the platform the work after the answer is kept alive by waitUntil; locally (one
  // long-lived process per function) a promise that is not awaited runs on. Either way a lost
  // apply is re-done by the sweep.
  const afterResponse = edgeRuntime
    ? (work: Promise<unknown>) => edgeRuntime.waitUntil(work)
    : (work: Promise<unknown>) => void work;
  return createGuestlyWebhookHandler({
    secret: config.webhookSecret,
    ledger: postgresEventLedger(sql),
    serviceKeys,
    readReservation: (id) =>
      guestly.getReservation(id, {
        deadline: Date.now() + 20_000 + config.guestly.GUESTLY_REQUEST_TIMEOUT_MS,
      }),
    bookingRefFieldId: config.guestly.GUESTLY_BOOKING_REF_FIELD_ID,
    log,
    afterResponse,
    now: Date.now,
  });
}, (error) => log.error("guestly.webhook.misconfigured", { error })));
