// The database edge of the sync: every state change goes through the SQL functions of the
// `guestly` schema (claim, record attempt/success/failure, release), never through ad-hoc UPDATEs.
import type { Sql } from "../db.ts";
import type { AttemptRecord, ClaimResult, SyncStore } from "./store.ts";
import type { RateLimiter, TokenStore } from "./client.ts";
import type { BookingStatus } from "./schemas.ts";
import type { HoldStatus } from "./hold.ts";

export function postgresSyncStore(sql: Sql): SyncStore {
  return {
    async claim(bookingId) {
      const [row] = await sql`select guestly.claim_sync(${bookingId}::uuid) as result`;
      const result = row.result as {
        claimed: boolean;
        reason?: string;
        lease_id?: string;
        booking?: unknown;
        reservation_id?: string;
      };
      return result.claimed
        ? { claimed: true, leaseId: result.lease_id!, booking: result.booking }
        : {
          claimed: false,
          reason: result.reason as Exclude<ClaimResult, { claimed: true }>["reason"],
          reservationId: result.reservation_id,
        };
    },
    async recordAttempt(a: AttemptRecord) {
      const [row] = await sql`
        select guestly.record_attempt(${a.bookingId}::uuid, ${a.leaseId}::uuid, ${a.operation},
          ${a.startedAt}, ${a.durationMs}, ${a.httpStatus}, ${a.outcome}, ${a.error}) as attempt`;
      return row.attempt as number;
    },
    async recordSuccess(bookingId, leaseId, reservationId, syncedStatus, syncedState, options) {
      const [row] = await sql`
        select guestly.record_success(${bookingId}::uuid, ${leaseId}::uuid, ${reservationId},
          ${syncedStatus}, ${syncedState ? sql.json(syncedState as never) : null},
          reference_set => ${options?.referenceSet ?? false}) as result`;
      const result = row.result as {
        recorded: boolean;
        more_work?: boolean;
        reason?: "lease_lost" | "bound_elsewhere";
      };
      return {
        recorded: result.recorded,
        moreWork: result.more_work ?? false,
        reason: result.reason,
      };
    },
    async recordFailure(bookingId, leaseId, error, permanent, maxAttempts, options = {}) {
      const [row] = await sql`
        select guestly.record_failure(${bookingId}::uuid, ${leaseId}::uuid, ${error},
          ${permanent}, ${maxAttempts}, retry_not_before => ${options.retryNotBefore ?? null},
          alert_details => ${sql.json((options.alertDetails ?? {}) as never)},
          error_kind => ${options.errorKind ?? null},
          claimed_status => ${options.claimedStatus ?? null},
          claimed_state => ${options.claimedState ? sql.json(options.claimedState as never) : null},
          synced_state => ${options.syncedState ? sql.json(options.syncedState as never) : null})
          as result`;
      const result = row.result as { recorded: boolean; final?: boolean; next_attempt_at?: string };
      return {
        recorded: result.recorded,
        final: result.final ?? false,
        nextAttemptAt: result.next_attempt_at ?? null,
      };
    },
    async confirmLease(bookingId, leaseId) {
      const [row] = await sql`
        select guestly.confirm_lease(${bookingId}::uuid, ${leaseId}::uuid) as result`;
      const result = row.result as {
        held: boolean;
        status: BookingStatus | null;
        hold_status?: HoldStatus | null;
      };
      return { held: result.held, status: result.status ?? null, holdStatus: result.hold_status };
    },
    async release(bookingId, leaseId, retryAt) {
      await sql`select guestly.release_sync(${bookingId}::uuid, ${leaseId}::uuid, ${
        retryAt ?? null
      })`;
    },
    async noteCreateKey(bookingId, leaseId, key) {
      const [row] = await sql`
        select guestly.note_create_key(${bookingId}::uuid, ${leaseId}::uuid,
          ${sql.json(key as never)}) as noted`;
      return row.noted as boolean;
    },
    async forgetLapsedHold(bookingId, leaseId, reservationId) {
      const [row] = await sql`
        select guestly.forget_lapsed_hold(${bookingId}::uuid, ${leaseId}::uuid, ${reservationId})
          as forgotten`;
      return row.forgotten as boolean;
    },
    async forgetCancelledHold(bookingId, leaseId, reservationId, canceledBy) {
      const [row] = await sql`
        select guestly.forget_cancelled_hold(${bookingId}::uuid, ${leaseId}::uuid,
          ${reservationId}, ${canceledBy}) as forgotten`;
      return row.forgotten as boolean;
    },
    async recordHoldFailure(bookingId, leaseId, error, permanent, options = {}) {
      const [row] = await sql`
        select guestly.record_hold_failure(${bookingId}::uuid, ${leaseId}::uuid, ${error},
          ${permanent}, error_kind => ${options.errorKind ?? null},
          retry_not_before => ${options.retryNotBefore ?? null}) as result`;
      const result = row.result as { recorded: boolean; final?: boolean; next_attempt_at?: string };
      return {
        recorded: result.recorded,
        final: result.final ?? false,
        nextAttemptAt: result.next_attempt_at ?? null,
      };
    },
    async recordPaymentOutcome(
      bookingId,
      leaseId,
      paymentId,
      outcome,
      guestlyPaymentId,
      reservationId,
    ) {
      const [row] = await sql`
        select guestly.record_payment_outcome(${bookingId}::uuid, ${leaseId}::uuid,
          ${paymentId}::uuid, ${outcome}, ${guestlyPaymentId}, ${reservationId}) as recorded`;
      return row.recorded as boolean;
    },
    async beginManualRetry(bookingId, options = {}) {
      const [row] = await sql`
        select guestly.begin_manual_retry(${bookingId}::uuid,
          ignore_calendar => ${options.ignoreCalendar ?? false}) as result`;
      return row.result as { ok: boolean; reason?: "not_found" | "not_paid" | "already_synced" };
    },
  };
}

/** The token lives in the database, shared by every invocation and surviving restarts. */
export function postgresTokenStore(sql: Sql): TokenStore {
  return {
    async cached(clientId) {
      const [row] = await sql`select guestly.cached_token(${clientId}) as token`;
      return (row?.token as string | null) ?? null;
    },
    async refresh(clientId, mint) {
      return await sql.begin(async (tx) => {
        await tx`select guestly.lock_token_refresh(${clientId})`;
        // Another invocation may have minted while we waited for the lock.
        const [row] = await tx`select guestly.cached_token(${clientId}) as token`;
        if (row?.token) return row.token as string;
        const minted = await mint();
        await tx`select guestly.store_token(${clientId}, ${minted.token}, ${minted.expiresAt})`;
        return minted.token;
      }) as string;
    },
    async forget(clientId, token) {
      await sql`select guestly.forget_token(${clientId}, ${token})`;
    },
  };
}

export interface RateLimits {
  perSecond: number;
  perMinute: number;
  perHour: number;
}

export function postgresRateLimiter(sql: Sql, limits: RateLimits): RateLimiter {
  return {
    async reserve(maxWaitMs, priority = "live") {
      const [row] = await sql`
        select guestly.reserve_request_slot(${limits.perSecond}, ${limits.perMinute},
          ${limits.perHour}, ${maxWaitMs}, ${priority}) as slot`;
      return row.slot ? new Date(row.slot as string) : null;
    },
  };
}
