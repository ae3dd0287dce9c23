// HTTP edge of stripe-webhook: size limit, Stripe signature on the raw body, event → typed
// value, livemode check, one call to record it, and the answer Stripe acts on. Stripe retries
// every non-2xx for up to 3 days, so only "we could not store it" and "no booking matches this
// payment yet" (inside the grace window) answer 5xx; a bad signature, a malformed request or an
// event of the other mode is 400, and every event we stored is 200 whatever its outcome.
import Stripe from "stripe";
import { json, readBodyAtMost } from "../http.ts";
import type { Logger } from "../log.ts";
import { parseStripeEvent, type RecordEvent, type StripeOutcome } from "./event.ts";

export const MAX_BODY_BYTES = 1024 * 1024;
export const TOLERANCE_SECONDS = 300;

export interface StripeWebhookDeps {
  /** The endpoint's signing secret (whsec_…). */
  secret: string;
  /** The deployment's Stripe mode: an event of the other mode is refused, nothing recorded. */
  livemode: boolean;
  record: RecordEvent;
  log: Logger;
  /** Epoch ms; drives the signature's timestamp tolerance and the logged duration. */
  now: () => number;
  stripe?: Stripe;
  maxBodyBytes?: number;
}

/** Outcomes somebody has to look at: the money arrived but no booking took it as expected. */
const NEEDS_ATTENTION: ReadonlySet<StripeOutcome> = new Set([
  "unmatched",
  "amount_mismatch",
  "duplicate_payment",
  "payment_for_cancelled_booking",
  "disputed",
]);

function modeName(livemode: boolean) {
  return livemode ? "live" : "test";
}

const cryptoProvider = Stripe.createSubtleCryptoProvider();

export function createStripeWebhookHandler(deps: StripeWebhookDeps) {
  // Verification never calls Stripe's API, so the key is a placeholder unless one is configured.
  const stripe = deps.stripe ?? new Stripe("sk_test_placeholder_not_used");
  const maxBytes = deps.maxBodyBytes ?? MAX_BODY_BYTES;
  const { log } = deps;

  const reject = (status: number, error: string) => {
    log.warn("stripe.webhook.rejected", { status, reason: error });
    return json(status, { error });
  };

  return async (request: Request): Promise<Response> => {
    const started = deps.now();
    if (request.method !== "POST") {
      return json(405, { error: "method not allowed: use POST" }, { Allow: "POST" });
    }
    const bytes = await readBodyAtMost(request, maxBytes);
    if (bytes === null) return reject(413, `body too large: the limit is ${maxBytes} bytes`);

    const signature = request.headers.get("stripe-signature");
    if (!signature) return reject(400, "missing Stripe-Signature header");

    let rawBody: string;
    try {
      rawBody = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return reject(400, "body is not UTF-8");
    }

    // The signature covers the exact bytes Stripe sent: verify the raw text, never re-serialized JSON.
    let verified: unknown;
    try {
      verified = await stripe.webhooks.constructEventAsync(
        rawBody,
        signature,
        deps.secret,
        TOLERANCE_SECONDS,
        cryptoProvider,
        deps.now(),
      );
    } catch (error) {
      return reject(400, signatureError(error));
    }
    // stripe-node only rejects timestamps that are too old; one far in the future would let a
    // captured request be replayed for longer than the tolerance, so it is refused too.
    const signedAt = Number(/(?:^|,)\s*t=(\d+)/.exec(signature)?.[1]);
    if (signedAt * 1000 > deps.now() + TOLERANCE_SECONDS * 1000) {
      return reject(400, "signature timestamp is in the future, outside the tolerance");
    }

    const parsed = parseStripeEvent(verified, rawBody);
    if (!parsed.ok) return reject(400, parsed.error);
    const event = parsed.event;
    if (event.livemode !== deps.livemode) {
      return reject(
        400,
        `livemode mismatch: event ${event.id} is a ${modeName(event.livemode)}-mode event, but ` +
          `this endpoint runs in ${
            modeName(deps.livemode)
          } mode (STRIPE_LIVEMODE=${deps.livemode}` +
          `); nothing was recorded. Send ${modeName(event.livemode)}-mode events to the ` +
          `${modeName(event.livemode)} deployment.`,
      );
    }

    try {
      const result = await deps.record(event);
      if (result.outcome === "deferred") {
        // The booking row may not be committed yet: Stripe delivers again, and after the grace
        // window the payment is recorded unmatched and an admin is alerted.
        log.warn("stripe.webhook.deferred", {
          event_id: event.id,
          type: event.type,
          booking_id: event.bookingId,
          booking_ref: event.bookingId ? undefined : event.bookingRef ?? undefined,
          payment_intent_id: event.paymentIntentId,
          outcome: "deferred",
          retry_until: result.retryUntil ?? null,
          ms: Math.round(deps.now() - started),
        });
        return json(503, {
          error: "no booking matches this payment yet; not recorded, so Stripe delivers it again " +
            `(after ${
              result.retryUntil ?? "the grace window"
            } it is recorded as unmatched and an ` +
            "admin is alerted)",
          outcome: "deferred",
        });
      }
      const level = result.duplicate
        ? "info"
        : NEEDS_ATTENTION.has(result.outcome)
        ? "error"
        : result.outcome === "partial_refund"
        ? "warn"
        : "info";
      log[level]("stripe.webhook.event", {
        event_id: event.id,
        type: event.type,
        livemode: event.livemode,
        booking_id: result.bookingId ?? event.bookingId,
        booking_ref: event.bookingId ? undefined : event.bookingRef ?? undefined,
        payment_intent_id: event.paymentIntentId,
        outcome: result.outcome,
        duplicate: result.duplicate,
        booking_status: result.bookingStatus,
        ms: Math.round(deps.now() - started),
      });
      return json(200, { received: true, outcome: result.outcome, duplicate: result.duplicate });
    } catch (error) {
      // Nothing was stored (one transaction): a 5xx makes Stripe deliver the event again later.
      log.error("stripe.webhook.record_failed", {
        event_id: event.id,
        type: event.type,
        booking_id: event.bookingId,
        outcome: "error",
        error: error instanceof Error ? error.message : String(error),
        ms: Math.round(deps.now() - started),
      });
      return json(500, { error: "could not record the event; Stripe will deliver it again" });
    }
  };
}

function signatureError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/tolerance/i.test(message)) {
    return "invalid Stripe signature: timestamp outside the 5-minute tolerance (replayed or delayed)";
  }
  if (/No signatures found/i.test(message)) {
    return "invalid Stripe signature: it does not match this endpoint's secret and the body";
  }
  if (/Unable to extract/i.test(message)) {
    return "invalid Stripe-Signature header: no timestamp or v1 signature in it";
  }
  if (error instanceof SyntaxError) return "body is not JSON";
  return `invalid Stripe signature: ${message.split("\n")[0]}`;
}
