// The database edge of guestly-webhook: the ledger's SQL functions (guestly_events schema), one
// call each. Errors are thrown: the handler answers 500 (Guestly delivers again) or the sweep
// retries the apply.
import type { Sql } from "../db.ts";
import type { ApplyInput, ApplyResult, ApplyStore, RecordedEvent } from "./apply.ts";
import type { GuestlyEvent } from "./event.ts";

export interface RecordResult {
  duplicate: boolean;
  /** Still to be applied (false: handled before, or a type we ignore). */
  pending: boolean;
  outcome: string | null;
}

export interface EventLedger extends ApplyStore {
  record(event: GuestlyEvent): Promise<RecordResult>;
}

export function postgresEventLedger(sql: Sql): EventLedger {
  return {
    async record(e) {
      const [row] = await sql`
        select guestly_events.record_event(${e.messageId}, ${e.type}, ${e.eventId},
          ${e.reservationId}, ${e.publishedAt}::timestamptz, ${e.subTypes}::text[],
          -- ::text first: a jsonb-typed parameter would be JSON-encoded again (a jsonb string).
          ${JSON.stringify(e.payload)}::text::jsonb) as result`;
      return row.result as RecordResult;
    },
    async load(messageId): Promise<RecordedEvent> {
      const [row] = await sql`select guestly_events.event_to_apply(${messageId}) as result`;
      const r = row.result as {
        found: boolean;
        outcome?: string | null;
        event_type?: string;
        reservation_id?: string | null;
        payload?: Record<string, unknown>;
        bound_booking_id?: string | null;
      };
      return {
        found: r.found,
        outcome: r.outcome ?? null,
        eventType: r.event_type,
        reservationId: r.reservation_id ?? null,
        payload: r.payload,
        boundBookingId: r.bound_booking_id ?? null,
      };
    },
    async apply(messageId, input: ApplyInput): Promise<ApplyResult> {
      const [row] = await sql`
        select guestly_events.apply_guestly_change(${messageId},
          ${input.bookingRef ?? null}::uuid,
          ${JSON.stringify(input.stay ?? {})}::text::jsonb,
          ${input.ignoreReason ?? null}) as result`;
      const r = row.result as {
        outcome: ApplyResult["outcome"];
        reason?: string | null;
        booking_id?: string | null;
        changes?: Record<string, unknown> | null;
        duplicate?: boolean;
        deferred?: boolean;
      };
      return {
        outcome: r.deferred ? null : r.outcome,
        reason: r.reason ?? null,
        bookingId: r.booking_id ?? null,
        changes: r.changes ?? null,
        duplicate: r.duplicate ?? false,
        deferred: r.deferred ?? false,
      };
    },
    async bookingAwaitingStay(stay) {
      const [row] = await sql`
        select guestly_events.booking_awaiting_stay(${stay.listingId}, ${stay.checkIn}::date,
          ${stay.checkOut}::date) as booking_id`;
      return (row?.booking_id as string | null) ?? null;
    },
    async fail(messageId, error) {
      await sql`select guestly_events.record_apply_failure(${messageId}, ${error})`;
    },
  };
}
