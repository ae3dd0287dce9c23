// The database edge of the webhook: one call to payments.record_stripe_event per event, which
// records it and applies it to the booking in a single transaction. Any error is thrown to the
// handler, which answers 500 so Stripe delivers the event again.
import type { Sql } from "../db.ts";
import { OUTCOMES, type RecordEvent, type StripeOutcome } from "./event.ts";

/** STRIPE_UNMATCHED_GRACE_MINUTES' default: a payment no booking matches yet is deferred this long. */
export const DEFAULT_UNMATCHED_GRACE_SECONDS = 600;

export interface RecorderOptions {
  /** After event.created, an unmatched payment is answered 503 (redelivered) instead of recorded. */
  unmatchedGraceSeconds?: number;
}

export function postgresRecorder(sql: Sql, options: RecorderOptions = {}): RecordEvent {
  const grace = options.unmatchedGraceSeconds ?? DEFAULT_UNMATCHED_GRACE_SECONDS;
  return async (e) => {
    const [row] = await sql`
      select payments.record_stripe_event(
        ${e.id}::text, ${e.type}::text, ${e.created}::timestamptz, ${e.livemode}::boolean,
        ${e.action}::text, ${e.bookingId}::uuid, ${e.paymentIntentId}::text,
        ${e.amount}::bigint, ${e.currency}::text, ${e.refundedInFull}::boolean,
        -- ::text first: a jsonb-typed parameter would be JSON-encoded again (a jsonb string).
        ${e.payload}::text::jsonb, ${JSON.stringify(e.details ?? {})}::text::jsonb, ${grace}::int
      ) as result`;
    const result = row.result as {
      duplicate: boolean;
      outcome: string;
      booking_id: string | null;
      booking_status: string | null;
      retry_until?: string | null;
    };
    if (!OUTCOMES.includes(result.outcome as StripeOutcome)) {
      throw new Error(
        `payments.record_stripe_event answered an unknown outcome: ${result.outcome}`,
      );
    }
    return {
      duplicate: result.duplicate,
      outcome: result.outcome as StripeOutcome,
      bookingId: result.booking_id ?? null,
      bookingStatus: result.booking_status ?? null,
      retryUntil: result.retry_until ?? null,
    };
  };
}
