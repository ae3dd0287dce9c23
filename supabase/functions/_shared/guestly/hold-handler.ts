// HTTP edge of guestly-hold: the website's one call between inserting a booking and sending the
// guest to Stripe. It waits (a few seconds at most) for the hold's outcome and answers
// `held`, `unavailable` or `unknown`; docs/holds.md is the contract. Called from the website's
// server (it also creates the Checkout session), so it takes a secret key like guestly-sync.
import { z } from "zod";
import { json, readValidBody } from "../http.ts";
import { refuseUnlessServicePost, type ServiceKeys } from "../service-keys.ts";
import type { Logger } from "../log.ts";
import type { HoldStatus } from "./hold.ts";

/** The longest wait a caller may ask for: well inside the platform's request limits. */
export const MAX_HOLD_WAIT_MS = 8_000;
export const DEFAULT_HOLD_WAIT_MS = 5_000;

export const HoldRequest = z.object({
  bookingId: z.string().uuid("must be a booking id (UUID)"),
  waitMs: z.number().int().min(0).max(MAX_HOLD_WAIT_MS).default(DEFAULT_HOLD_WAIT_MS),
});

/** guestly.hold_state's answer. */
export interface HoldState {
  found: boolean;
  status?: string;
  hold_status?: HoldStatus | null;
  hold_until?: string | null;
  reservation_id?: string | null;
  error?: string | null;
}

export type HoldAnswer = "held" | "unavailable" | "unknown";

export interface HoldHandlerDeps {
  serviceKeys: ServiceKeys;
  readState: (bookingId: string) => Promise<HoldState>;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  log: Logger;
  pollMs?: number;
}

/** What the website is told, and why (pure). */
export function holdAnswer(state: HoldState): { hold: HoldAnswer; reason: string } {
  switch (state.hold_status) {
    case "held":
      return { hold: "held", reason: "Guestly holds the nights until holdUntil" };
    case "unavailable":
      return {
        hold: "unavailable",
        reason: "the nights are taken in Guestly: do not take payment",
      };
    case "placing":
      return { hold: "unknown", reason: "Guestly has not answered yet (slow or down)" };
    case "failed":
      return { hold: "unknown", reason: `the hold could not be placed: ${state.error ?? ""}` };
    case "releasing":
    case "released":
      return { hold: "unknown", reason: "the hold was released (the Checkout ended)" };
    case "expired":
      return { hold: "unknown", reason: "the hold ran out before payment" };
    case "cancelled":
      // The host said no to these nights for this booking: a payment would only make a
      // reservation the host may not want (it alerts the admin if it comes anyway).
      return {
        hold: "unavailable",
        reason: "the host cancelled the hold in Guestly: do not take payment",
      };
    case null:
    case undefined:
      return {
        hold: "unknown",
        reason: "no hold was placed: holds are off (GUESTLY_HOLD_MINUTES)",
      };
    default:
      return { hold: "unknown", reason: `hold ${state.hold_status}` };
  }
}

export function createGuestlyHoldHandler(deps: HoldHandlerDeps) {
  const pollMs = deps.pollMs ?? 150;
  return async (request: Request): Promise<Response> => {
    const refused = await refuseUnlessServicePost(
      deps.serviceKeys,
      request,
      (hint) => deps.log.warn("guestly.hold.unauthorized", { hint }),
    );
    if (refused) return refused;
    const parsed = await readValidBody(request, HoldRequest);
    if (!parsed.ok) return parsed.response;
    const { bookingId, waitMs } = parsed.data;
    const started = deps.now();
    let state = await deps.readState(bookingId);
    if (!state.found) {
      return json(404, { error: `bookingId: no booking ${bookingId}`, field: "bookingId" });
    }
    if (state.status !== "pending_payment") {
      return json(409, {
        error: `booking ${bookingId} is ${state.status}: a hold is only for a booking waiting ` +
          "for payment",
        field: "bookingId",
      });
    }
    while (state.hold_status === "placing" && deps.now() - started + pollMs <= waitMs) {
      await deps.sleep(pollMs);
      state = await deps.readState(bookingId);
    }
    const answer = holdAnswer(state);
    const waitedMs = deps.now() - started;
    deps.log.info("guestly.hold.answered", {
      booking_id: bookingId,
      hold: answer.hold,
      hold_status: state.hold_status ?? null,
      duration_ms: waitedMs,
    });
    return json(200, {
      bookingId,
      ...answer,
      holdStatus: state.hold_status ?? null,
      holdUntil: state.hold_until ?? null,
      waitedMs,
    });
  };
}
