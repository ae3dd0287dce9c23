// What the sync core needs from the database. The real implementation calls the SQL functions
// of the `guestly` schema (db.ts); tests pass an in-memory fake.
import type { BookingStatus, CreateKey, ReservationContent } from "./schemas.ts";
import type { HoldStatus } from "./hold.ts";

export type ClaimResult =
  | { claimed: true; leaseId: string; booking: unknown }
  | {
    claimed: false;
    reason: "not_found" | "leased" | "not_paid" | "already_synced";
    reservationId?: string;
  };

export interface AttemptRecord {
  bookingId: string;
  leaseId: string;
  operation:
    | "create"
    | "update_status"
    | "lookup"
    | "update_dates"
    | "update_guests"
    | "relocate"
    | "update_guest"
    | "get_reservation"
    | "get_guest"
    | "record_payment"
    | "set_reference"
    | "set_notes";
  startedAt: Date;
  durationMs: number;
  httpStatus: number | null;
  outcome: "success" | "retryable" | "permanent" | "unknown" | "conflict";
  error: string | null;
}

/** Extra facts for a failure: when to come back at the earliest, and what the alert names. */
export interface FailureOptions {
  retryNotBefore?: Date;
  alertDetails?: Record<string, unknown>;
  /** `conflict`: the nights are taken in Guestly; final, with the double_booking alert. */
  errorKind?: "conflict";
  /**
   * What the booking asked for when the round began: if it asks for something else now, the
   * failure is not final (record_failure sees it in the same locked statement).
   */
  claimedStatus?: BookingStatus;
  claimedState?: ReservationContent;
  /** Content that reached Guestly before the failure. */
  syncedState?: ReservationContent;
}

export interface SyncStore {
  claim(bookingId: string): Promise<ClaimResult>;
  /** Returns the booking's attempt count after this attempt. */
  recordAttempt(attempt: AttemptRecord): Promise<number>;
  recordSuccess(
    bookingId: string,
    leaseId: string,
    reservationId: string | null,
    syncedStatus: BookingStatus,
    /** The content Guestly now holds; undefined keeps what was recorded. */
    syncedState?: ReservationContent,
    /** `referenceSet`: our booking reference was read back from `reservationId`. */
    options?: { referenceSet?: boolean },
  ): Promise<
    { recorded: boolean; moreWork: boolean; reason?: "lease_lost" | "bound_elsewhere" }
  >;
  /**
   * A payment row's request to `reservationId`: `recorded` in Guestly, or `unknown` (look it up
   * there first next time). False if the lease was lost or the booking's reservation was
   * replaced meanwhile (the row then stays due for the new one).
   */
  recordPaymentOutcome(
    bookingId: string,
    leaseId: string,
    paymentId: string,
    outcome: "sending" | "recorded" | "unknown" | "not_sent",
    guestlyPaymentId: string | null,
    reservationId: string | null,
  ): Promise<boolean>;
  recordFailure(
    bookingId: string,
    leaseId: string,
    error: string,
    permanent: boolean,
    maxAttempts: number,
    options?: FailureOptions,
  ): Promise<{ recorded: boolean; final: boolean; nextAttemptAt: string | null }>;
  /**
   * Right before a request that changes Guestly: still ours? (renews the lease in the same
   * statement) and the booking's status now, which may have changed since the claim.
   */
  confirmLease(
    bookingId: string,
    leaseId: string,
  ): Promise<{ held: boolean; status: BookingStatus | null; holdStatus?: HoldStatus | null }>;
  release(bookingId: string, leaseId: string, retryAt?: Date): Promise<void>;
  /**
   * Right before a create leaves: remembers the stay it sends, so a lookup after an unknown
   * outcome (or a crash) searches it even if the booking's stay changed. False: lease lost.
   */
  noteCreateKey(bookingId: string, leaseId: string, key: CreateKey): Promise<boolean>;
  /**
   * A hold's failure (the booking waits for payment): refused for taken nights → `unavailable`,
   * never an admin alert; retried with backoff only while the hold would still be worth it.
   */
  recordHoldFailure(
    bookingId: string,
    leaseId: string,
    error: string,
    permanent: boolean,
    options?: Pick<FailureOptions, "errorKind" | "retryNotBefore">,
  ): Promise<{ recorded: boolean; final: boolean; nextAttemptAt: string | null }>;
  /**
   * The booking's hold ran out and Guestly refused to confirm it (its nights are taken): it is not
   * the booking's reservation any more (kept on record as the expired hold). False if the lease
   * or the binding changed.
   */
  forgetLapsedHold(bookingId: string, leaseId: string, reservationId: string): Promise<boolean>;
  /**
   * The host cancelled the booking's hold in Guestly (read right before the payment would confirm
   * it): it is not the booking's reservation any more (kept on record, hold `cancelled`). False if
   * the lease or the binding changed.
   */
  forgetCancelledHold(
    bookingId: string,
    leaseId: string,
    reservationId: string,
    canceledBy: string | null,
  ): Promise<boolean>;
  /** `ignoreCalendar`: this episode's create sends `ignoreCalendar: true` (a forced booking). */
  beginManualRetry(
    bookingId: string,
    options?: { ignoreCalendar?: boolean },
  ): Promise<{ ok: boolean; reason?: "not_found" | "not_paid" | "already_synced" }>;
}
