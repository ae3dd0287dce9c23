// Wires the reconciliation core to Postgres and Guestly. Shared by guestly-reconcile and
// `npm run sync:reconcile`, so the CLI runs exactly what the daily job runs.
import type { Sql } from "../db.ts";
import { GuestlyClient } from "../guestly/client.ts";
import { tokenUrlFor } from "../guestly/config.ts";
import { postgresRateLimiter, postgresTokenStore } from "../guestly/db.ts";
import { BOOKING_REF_SOURCE } from "../guestly/mapping.ts";
import type { Logger } from "../log.ts";
import type { ReconcileConfig } from "./config.ts";
import type { RunDeps } from "./run.ts";
import { postgresRunStore } from "./store.ts";

/**
 * A background request takes only a slot that is free (almost) now. The limiter hands out slots
 * in time order, so a background slot reserved ahead would make the next live request wait
 * behind it: with 2 s, live syncs' p99 rose from ~120 ms to ~550 ms during a run (bench/
 * reconcile.ts). Without a slot the run sleeps and asks again instead (run.ts).
 */
const BACKGROUND_SLOT_WAIT_MS = 100;

export function reconcileDeps(config: ReconcileConfig, sql: Sql, log: Logger): RunDeps {
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  const env = config.guestly;
  const client = new GuestlyClient(
    {
      baseUrl: env.GUESTLY_BASE_URL.replace(/\/$/, ""),
      tokenUrl: tokenUrlFor(env),
      clientId: env.GUESTLY_CLIENT_ID,
      clientSecret: env.GUESTLY_CLIENT_SECRET,
    },
    {
      fetch,
      // The reconciliation only reads (GET): nothing it sends is harmful if sent twice.
      fetchOnce: fetch,
      tokens: postgresTokenStore(sql),
      limiter: postgresRateLimiter(sql, env.GUESTLY_RATE_LIMITS),
      maxSlotWaitMs: BACKGROUND_SLOT_WAIT_MS,
      now: Date.now,
      sleep,
      timeoutMs: env.GUESTLY_REQUEST_TIMEOUT_MS,
    },
  );
  return {
    store: postgresRunStore(sql),
    guestly: {
      page: (skip, limit) =>
        client.listReservationsPage({ source: BOOKING_REF_SOURCE, skip, limit }, {
          priority: "background",
        }),
      get: (id) => client.getReservation(id, { priority: "background" }),
    },
    bookingRefFieldId: env.GUESTLY_BOOKING_REF_FIELD_ID,
    log,
    now: Date.now,
    sleep,
  };
}
