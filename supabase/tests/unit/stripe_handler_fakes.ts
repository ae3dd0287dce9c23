// The stripe-webhook handler with a fake recorder, for the unit tests: what was recorded, what
// was logged, and the answer.
import { createStripeWebhookHandler } from "../../functions/_shared/stripe/webhook-handler.ts";
import type {
  RecordResult,
  StripeEventRecord,
  StripeOutcome,
} from "../../functions/_shared/stripe/event.ts";
import { memoryLogger } from "../../functions/_shared/log.ts";

export const SECRET = "whsec_unit_test_secret";
export const URL_ = "http://localhost/functions/v1/stripe-webhook";
export const BOOKING = "6f1c2b1e-8d4a-4c59-9f0e-3b2a1c0d9e8f";

export function setup(
  options: {
    outcome?: StripeOutcome;
    fail?: Error;
    now?: () => number;
    duplicate?: boolean;
    livemode?: boolean;
    retryUntil?: string;
  } = {},
) {
  const recorded: StripeEventRecord[] = [];
  const log = memoryLogger();
  const handler = createStripeWebhookHandler({
    secret: SECRET,
    livemode: options.livemode ?? false,
    log,
    now: options.now ?? Date.now,
    record: (event): Promise<RecordResult> => {
      if (options.fail) return Promise.reject(options.fail);
      recorded.push(event);
      return Promise.resolve({
        duplicate: options.duplicate ?? false,
        outcome: options.outcome ?? "confirmed",
        bookingId: event.bookingId,
        bookingStatus: "confirmed",
        retryUntil: options.retryUntil ?? null,
      });
    },
  });
  return { handler, recorded, log };
}

export async function send(handler: (r: Request) => Promise<Response>, request: Request) {
  const response = await handler(request);
  return { status: response.status, body: await response.json() };
}
