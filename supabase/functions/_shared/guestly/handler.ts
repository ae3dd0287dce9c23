// HTTP edge of guestly-sync: who may call, what the body must be, and how outcomes answer.
import { SyncRequest } from "./schemas.ts";
import type { SyncOutcome } from "./sync.ts";
import { json, readValidBody } from "../http.ts";
import { refuseUnlessServicePost, type ServiceKeys } from "../service-keys.ts";
import type { Logger } from "../log.ts";

export interface GuestlySyncHandlerDeps {
  /** The keys the database (from Vault) and operators present: service_role JWT or sb_secret_. */
  serviceKeys: ServiceKeys;
  enabled: boolean;
  /** `arrivedAt` (epoch ms): the invocation's time budget counts from the request's arrival. */
  sync: (bookingId: string, arrivedAt: number) => Promise<SyncOutcome>;
  retry: (
    bookingId: string,
    arrivedAt: number,
    options?: { ignoreCalendar?: boolean },
  ) => Promise<SyncOutcome>;
  log: Logger;
  /** Tells the database how this function runs (see function-state.ts); never throws. */
  heartbeat?: () => Promise<void>;
}

export function createGuestlySyncHandler(deps: GuestlySyncHandlerDeps) {
  return async (request: Request): Promise<Response> => {
    const arrivedAt = Date.now();
    const refused = await refuseUnlessServicePost(
      deps.serviceKeys,
      request,
      (hint) => deps.log.warn("guestly.sync.unauthorized", { hint }),
    );
    if (refused) return refused;
    await deps.heartbeat?.();
    const parsed = await readValidBody(request, SyncRequest);
    if (!parsed.ok) return parsed.response;
    const { bookingId, manual, ignoreCalendar } = parsed.data;
    if (!deps.enabled) {
      deps.log.info("guestly.sync.disabled", { booking_id: bookingId });
      return json(200, { outcome: "skipped", reason: "GUESTLY_SYNC_ENABLED is not true" });
    }
    const started = performance.now();
    try {
      const result = manual
        ? await deps.retry(bookingId, arrivedAt, { ignoreCalendar: ignoreCalendar ?? false })
        : await deps.sync(bookingId, arrivedAt);
      deps.log.info("guestly.sync.done", {
        booking_id: bookingId,
        manual: manual ?? false,
        ignore_calendar: ignoreCalendar ?? false,
        outcome: result.outcome,
        duration_ms: Math.round(performance.now() - started),
      });
      if (result.outcome === "not_found") {
        return json(404, { ...result, error: `booking ${bookingId} not found` });
      }
      return json(200, result);
    } catch (error) {
      // Database unreachable or a bug: the row stays pending/failed and the sweep retries it.
      deps.log.error("guestly.sync.crashed", {
        booking_id: bookingId,
        error: error instanceof Error ? error.message : String(error),
      });
      return json(500, { outcome: "error", error: "sync failed unexpectedly; it will be retried" });
    }
  };
}
