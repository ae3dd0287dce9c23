// guestly-sync: called by the database (trigger and cron, through pg_net) and by operators.
// Reads its configuration and wires the sync core to Postgres and Guestly.
import { parseGuestlyEnv, tokenUrlFor } from "../_shared/guestly/config.ts";
import { database } from "../_shared/db.ts";
import {
  postgresRateLimiter,
  postgresSyncStore,
  postgresTokenStore,
} from "../_shared/guestly/db.ts";
import { GuestlyClient } from "../_shared/guestly/client.ts";
import { retryFailedSync, syncBookingToGuestly, type SyncDeps } from "../_shared/guestly/sync.ts";
import { createGuestlySyncHandler } from "../_shared/guestly/handler.ts";
import { jsonLogger } from "../_shared/log.ts";
import { handlerOrConfigurationError } from "../_shared/http.ts";
import { serviceKeysFrom } from "../_shared/service-keys.ts";
import {
  functionStateHeartbeat,
  parseStallEnv,
  postgresFunctionStateReporter,
} from "../_shared/guestly/function-state.ts";

const log = jsonLogger(undefined, { fn: "guestly-sync" });

Deno.serve(handlerOrConfigurationError(() => {
  const env = Deno.env.toObject();
  const config = parseGuestlyEnv(env);
  const serviceKeys = serviceKeysFrom(env);
  for (const problem of serviceKeys.problems) log.error("guestly.sync.misconfigured", { problem });
  const sql = database(config.SUPABASE_DB_URL);
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  // Creates go out on a connection of their own, never a reused keep-alive one: on a reused
  // connection that drops, the HTTP stack may send the request again by itself, and a create sent
  // twice is two reservations (see docs/guestly-api.md). Everything else may share the pool.
  const unpooled = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const fetchOnce: typeof fetch = (input, init) => fetch(input, { ...init, client: unpooled });

  const deps: SyncDeps = {
    store: postgresSyncStore(sql),
    guestly: new GuestlyClient(
      {
        baseUrl: config.GUESTLY_BASE_URL.replace(/\/$/, ""),
        tokenUrl: tokenUrlFor(config),
        clientId: config.GUESTLY_CLIENT_ID,
        clientSecret: config.GUESTLY_CLIENT_SECRET,
      },
      {
        fetch,
        fetchOnce,
        tokens: postgresTokenStore(sql),
        limiter: postgresRateLimiter(sql, config.GUESTLY_RATE_LIMITS),
        // Waiting up to 100 s for a send slot keeps a backlog flowing at the rate limit; the
        // invocation's budget shortens the wait, and the lease (180 s, renewed before every
        // change) outlasts it.
        maxSlotWaitMs: 100_000,
        now: Date.now,
        sleep,
        timeoutMs: config.GUESTLY_REQUEST_TIMEOUT_MS,
      },
    ),
    settings: {
      enabled: config.GUESTLY_SYNC_ENABLED,
      testMode: config.GUESTLY_TEST_MODE,
      maxAttempts: config.GUESTLY_MAX_ATTEMPTS,
      bookingRefFieldId: config.GUESTLY_BOOKING_REF_FIELD_ID,
      settleMs: config.GUESTLY_UNKNOWN_SETTLE_MS,
      paymentDelayMs: config.GUESTLY_PAYMENT_DELAY_MS,
      budgetMs: config.GUESTLY_FUNCTION_BUDGET_MS,
    },
    log,
    sleep,
    now: Date.now,
  };

  return createGuestlySyncHandler({
    serviceKeys,
    enabled: config.GUESTLY_SYNC_ENABLED,
    sync: (bookingId, arrivedAt) => syncBookingToGuestly(bookingId, deps, arrivedAt),
    retry: (bookingId, arrivedAt, options) => retryFailedSync(bookingId, deps, arrivedAt, options),
    log,
    heartbeat: functionStateHeartbeat({
      report: postgresFunctionStateReporter(sql),
      state: {
        enabled: config.GUESTLY_SYNC_ENABLED,
        testMode: config.GUESTLY_TEST_MODE,
        stallAlertMinutes: parseStallEnv(env),
        holdMinutes: config.GUESTLY_HOLD_MINUTES,
      },
      log,
    }),
  });
}, (error) => log.error("guestly.sync.misconfigured", { error })));
