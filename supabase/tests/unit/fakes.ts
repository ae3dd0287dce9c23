// In-memory stand-ins for the sync core's edges, for unit tests without a server.
import type {
  AttemptRecord,
  ClaimResult,
  FailureOptions,
  SyncStore,
} from "../../functions/_shared/guestly/store.ts";
import {
  GuestlyClient,
  type RateLimiter,
  type TokenStore,
} from "../../functions/_shared/guestly/client.ts";
import type {
  BookingRow,
  CreateKey,
  PendingPayment,
  ReservationContent,
} from "../../functions/_shared/guestly/schemas.ts";
import type { SyncDeps } from "../../functions/_shared/guestly/sync.ts";
import { memoryLogger } from "../../functions/_shared/log.ts";
import { referenceDue } from "../../functions/_shared/guestly/reference-step.ts";

export function bookingRow(overrides: Partial<BookingRow> = {}): BookingRow {
  return {
    id: "6f1c2b1e-8d4a-4c59-9f0e-3b2a1c0d9e8f",
    property_id: "0b0e7f3a-0000-4000-8000-000000000001",
    guestly_listing_id: "64f1a2b3c4d5e6f7a8b9c0d1",
    guest_first_name: "Zoë",
    guest_last_name: "O'Brien",
    guest_email: "zoe@example.com",
    guest_phone: "+44 7700 900123",
    check_in: "2027-02-01",
    check_out: "2027-02-05",
    guests_count: 2,
    amount_total: 64050,
    currency: "eur",
    status: "confirmed",
    stripe_payment_intent_id: "pi_123",
    guestly_reservation_id: null,
    guestly_sync_status: "pending",
    guestly_sync_attempts: 0,
    guestly_sync_lookup_needed: false,
    guestly_synced_status: null,
    // A reservation a fixture names already carries our reference; a new one (a create, a
    // lookup's find) resets it, as record_success does.
    guestly_reference_set_at: "2027-01-01T00:00:00.000Z",
    ...overrides,
  };
}

/** As guestly.desired_state: what the booking asks Guestly to hold. */
export function desiredContent(row: BookingRow): ReservationContent {
  return {
    listing_id: row.guestly_listing_id,
    check_in: row.check_in,
    check_out: row.check_out,
    guests_count: row.guests_count,
    guest: {
      first_name: row.guest_first_name,
      last_name: row.guest_last_name,
      email: row.guest_email,
      phone: row.guest_phone ?? null,
    },
  };
}

/** Mirrors the SQL functions' rules closely enough to test the core's decisions. */
export class MemoryStore implements SyncStore {
  attempts: AttemptRecord[] = [];
  /** guestly.payments: rows still to record, and the ones recorded (with Guestly's id). */
  payments: Array<
    PendingPayment & {
      status: "pending" | "recorded";
      guestly_payment_id?: string | null;
      created_at?: string;
    }
  > = [];
  lease: string | null = null;
  alerts = 0;
  alertDetails: Array<Record<string, unknown> | undefined> = [];
  failures: Array<{ error: string; retryNotBefore?: Date; errorKind?: string }> = [];
  released: Array<Date | undefined> = [];
  /** Reservation ids other bookings record (guestly.bookings' unique index). */
  recordedElsewhere = new Set<string>();
  /** Set to make the next confirmLease answer "not held" (another invocation took over). */
  leaseStolen = false;
  /** The clock record_attempt stamps with (testDeps shares its fake clock). */
  now: () => number = Date.now;
  constructor(public row: BookingRow | null) {}

  claim(_id: string): Promise<ClaimResult> {
    const row = this.row;
    if (!row) return Promise.resolve({ claimed: false, reason: "not_found" });
    if (this.lease) return Promise.resolve({ claimed: false, reason: "leased" });
    const holdWork = row.guestly_hold_status === "placing" ||
      row.guestly_hold_status === "releasing";
    if (row.status === "pending_payment" && !holdWork) {
      return Promise.resolve({ claimed: false, reason: "not_paid" });
    }
    if (
      row.guestly_sync_status === "synced" && row.guestly_synced_status === row.status &&
      row.guestly_hold_status !== "releasing" && !this.contentDue() && !this.paymentDue() &&
      !referenceDue(row)
    ) {
      return Promise.resolve({ claimed: false, reason: "already_synced" });
    }
    this.lease = crypto.randomUUID();
    const booking = {
      ...structuredClone(row),
      guestly_desired_state: desiredContent(row),
      guestly_pending_payments: this.payments.filter((p) => p.status === "pending")
        .map(({ status: _s, guestly_payment_id: _g, created_at: _c, ...payment }) =>
          structuredClone(payment)
        ),
      // As guestly.money_rows: every row, in order, with Guestly's id where known.
      guestly_money: this.payments.map(({ unknown_at: _, ...payment }) => ({
        ...structuredClone(payment),
        guestly_payment_id: payment.guestly_payment_id ?? null,
        created_at: payment.created_at ?? "2027-01-15T00:00:00.000Z",
      })),
    };
    return Promise.resolve({ claimed: true, leaseId: this.lease, booking });
  }
  contentDue(): boolean {
    const row = this.row!;
    return row.status === "confirmed" && row.guestly_reservation_id !== null &&
      JSON.stringify(desiredContent(row)) !== JSON.stringify(row.guestly_synced_state ?? null);
  }
  paymentDue(): boolean {
    return this.row!.guestly_reservation_id !== null &&
      this.payments.some((p) => p.status === "pending");
  }
  recordPaymentOutcome(
    _id: string,
    leaseId: string,
    paymentId: string,
    outcome: "sending" | "recorded" | "unknown" | "not_sent",
    guestlyPaymentId: string | null = null,
    reservationId: string | null = null,
  ) {
    if (leaseId !== this.lease) return Promise.resolve(false);
    // As guestly.record_payment_outcome: an answer about a replaced reservation is not written.
    if (reservationId !== this.row!.guestly_reservation_id) return Promise.resolve(false);
    const payment = this.payments.find((p) => p.id === paymentId)!;
    payment.guestly_payment_id = guestlyPaymentId ?? payment.guestly_payment_id ?? null;
    if (outcome === "recorded") payment.status = "recorded";
    else if (outcome === "not_sent") payment.unknown_at = null;
    else payment.unknown_at = new Date(this.now()).toISOString();
    return Promise.resolve(true);
  }
  confirmLease(_id: string, leaseId: string) {
    const held = leaseId === this.lease && !this.leaseStolen;
    return Promise.resolve({
      held,
      status: held ? this.row!.status : null,
      holdStatus: held ? this.row!.guestly_hold_status : null,
    });
  }
  recordAttempt(a: AttemptRecord) {
    this.attempts.push(a);
    this.row!.guestly_sync_attempts = (this.row!.guestly_sync_attempts ?? 0) + 1;
    if (a.outcome === "unknown") this.row!.guestly_sync_lookup_needed = true;
    // As record_attempt: stamped when the attempt is recorded (the request's end).
    if (a.outcome === "unknown" && a.operation === "create") {
      this.row!.guestly_sync_unknown_at = new Date(this.now()).toISOString();
    }
    return Promise.resolve(this.row!.guestly_sync_attempts);
  }
  recordSuccess(
    _id: string,
    leaseId: string,
    reservationId: string | null,
    synced: BookingRow["status"],
    syncedState?: ReservationContent,
    options: { referenceSet?: boolean } = {},
  ) {
    if (leaseId !== this.lease) return Promise.resolve({ recorded: false, moreWork: false });
    const row = this.row!;
    // As record_success: a reservation another booking records is refused, not raised.
    if (
      reservationId !== null && reservationId !== row.guestly_reservation_id &&
      this.recordedElsewhere.has(reservationId)
    ) {
      return Promise.resolve({
        recorded: false,
        moreWork: false,
        reason: "bound_elsewhere" as const,
      });
    }
    // As record_success: a new reservation id is recorded first, its reference still due.
    if (reservationId !== null && reservationId !== row.guestly_reservation_id) {
      row.guestly_reference_set_at = null;
    }
    row.guestly_reservation_id = reservationId ?? row.guestly_reservation_id;
    if (options.referenceSet && row.guestly_reservation_id) {
      row.guestly_reference_set_at = new Date(this.now()).toISOString();
    }
    row.guestly_synced_state = syncedState ?? row.guestly_synced_state;
    // As record_success: the hold's transitions.
    const hold = row.guestly_hold_status;
    const open = hold === "placing" || hold === "held" || hold === "releasing" ||
      hold === "expired";
    let forget = false;
    if (synced === "pending_payment" && row.guestly_reservation_id) {
      if (hold !== "releasing") row.guestly_hold_status = "held";
    } else if ((synced === "cancelled" || synced === "refunded") && open) {
      row.guestly_hold_status = "released";
      forget = row.status !== "cancelled" && row.status !== "refunded";
    } else if (synced === "confirmed" && open) {
      row.guestly_hold_status = "confirmed";
    }
    // As record_success: a recorded reservation answers the creates' keys.
    if (reservationId !== null || forget) row.guestly_create_keys = [];
    if (forget) {
      row.guestly_reservation_id = null;
      row.guestly_synced_state = null;
      row.guestly_reference_set_at = null;
    }
    const moreWork = forget
      ? row.status === "confirmed"
      : row.guestly_hold_status === "releasing" || row.status !== synced || this.contentDue() ||
        this.paymentDue() || referenceDue(row);
    row.guestly_synced_status = forget ? null : synced;
    row.guestly_sync_status = moreWork ? "pending" : "synced";
    row.guestly_sync_lookup_needed = false;
    this.lease = null;
    return Promise.resolve({ recorded: true, moreWork });
  }
  recordFailure(
    _id: string,
    leaseId: string,
    error: string,
    permanent: boolean,
    max: number,
    options: FailureOptions = {},
  ) {
    if (leaseId !== this.lease) {
      return Promise.resolve({ recorded: false, final: false, nextAttemptAt: null });
    }
    // As record_failure: the episode's attempts count, and a round ending on an unknown create
    // is never the last one.
    const last = this.attempts.at(-1);
    const lastUnknownCreate = last?.operation === "create" && last.outcome === "unknown";
    const episode = (this.row!.guestly_sync_attempts ?? 0) -
      (this.row!.guestly_sync_episode_base ?? 0);
    const final = permanent || options.errorKind === "conflict" ||
      (episode >= max && !lastUnknownCreate);
    this.row!.guestly_sync_status = "failed";
    this.failures.push({
      error,
      retryNotBefore: options.retryNotBefore,
      errorKind: options.errorKind,
    });
    if (final) {
      this.alerts++;
      this.alertDetails.push(options.alertDetails);
    }
    this.lease = null;
    return Promise.resolve({ recorded: true, final, nextAttemptAt: final ? null : "later" });
  }
  holdFailures: Array<{ error: string; permanent: boolean; errorKind?: string }> = [];
  recordHoldFailure(
    _id: string,
    leaseId: string,
    error: string,
    permanent: boolean,
    options: { errorKind?: "conflict"; retryNotBefore?: Date } = {},
  ) {
    if (leaseId !== this.lease) {
      return Promise.resolve({ recorded: false, final: false, nextAttemptAt: null });
    }
    const row = this.row!;
    this.holdFailures.push({ error, permanent, errorKind: options.errorKind });
    const releasing = row.guestly_hold_status === "releasing";
    const final = permanent || options.errorKind === "conflict";
    if (options.errorKind === "conflict" && !releasing) row.guestly_hold_status = "unavailable";
    else if (permanent && !releasing) row.guestly_hold_status = "failed";
    this.lease = null;
    return Promise.resolve({ recorded: true, final, nextAttemptAt: final ? null : "later" });
  }
  forgetLapsedHold(_id: string, leaseId: string, reservationId: string) {
    const row = this.row!;
    if (
      leaseId !== this.lease || row.guestly_reservation_id !== reservationId ||
      row.guestly_synced_status !== "pending_payment"
    ) return Promise.resolve(false);
    row.guestly_reservation_id = null;
    row.guestly_synced_status = null;
    row.guestly_synced_state = null;
    row.guestly_hold_status = "expired";
    return Promise.resolve(true);
  }
  forgetCancelledHold(_id: string, leaseId: string, reservationId: string) {
    const row = this.row!;
    if (
      leaseId !== this.lease || row.guestly_reservation_id !== reservationId ||
      row.guestly_synced_status !== "pending_payment" || row.guestly_hold_status === "releasing"
    ) return Promise.resolve(false);
    row.guestly_reservation_id = null;
    row.guestly_synced_status = null;
    row.guestly_synced_state = null;
    row.guestly_hold_status = "cancelled";
    return Promise.resolve(true);
  }
  noteCreateKey(_id: string, leaseId: string, key: CreateKey) {
    if (leaseId !== this.lease) return Promise.resolve(false);
    const keys = this.row!.guestly_create_keys ?? [];
    if (!keys.some((k) => JSON.stringify(k) === JSON.stringify(key))) keys.push(key);
    this.row!.guestly_create_keys = keys;
    return Promise.resolve(true);
  }
  release(_id: string, leaseId: string, retryAt?: Date) {
    if (leaseId === this.lease) this.lease = null;
    this.released.push(retryAt);
    return Promise.resolve();
  }
  beginManualRetry(_id: string, options: { ignoreCalendar?: boolean } = {}) {
    if (!this.row) return Promise.resolve({ ok: false, reason: "not_found" as const });
    this.row.guestly_sync_status = "pending";
    this.row.guestly_ignore_calendar = options.ignoreCalendar ?? false;
    this.row.guestly_sync_episode_base = this.row.guestly_sync_attempts ?? 0;
    return Promise.resolve({ ok: true });
  }
}

export type Responder = (request: Request) => Response | Promise<Response>;

/** A scripted Guestly: token endpoint plus a queue of answers for API calls. */
export class FakeGuestly {
  requests: Request[] = [];
  bodies: unknown[] = [];
  tokensMinted = 0;
  constructor(public answers: Responder[] = []) {}

  fetch: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    if (request.url.endsWith("/oauth2/token")) {
      this.tokensMinted++;
      return Response.json({ access_token: `tok-${this.tokensMinted}`, expires_in: 86400 });
    }
    this.requests.push(request);
    this.bodies.push(request.method === "GET" ? null : await request.clone().json());
    const next = this.answers.shift();
    if (!next) throw new Error(`unexpected Guestly call ${request.method} ${request.url}`);
    return await next(request);
  };
}

/**
 * The reference step's answer after a create or a lookup bound `id`: the custom-fields PUT (its
 * declared answer lists the reservation's custom fields: our reference `bookingId` in `fieldId`,
 * so no read back is needed). A booking with a readable phone sends no notes.
 */
export const referenceSet = (
  id = "65aaaaaaaaaaaaaaaaaaaaaa",
  bookingId = bookingRow().id,
  fieldId = "ref-field",
) => [
  status(200, { reservationId: id, customFields: [{ _id: "c1", fieldId, value: bookingId }] }),
];

export const created = (id = "65aaaaaaaaaaaaaaaaaaaaaa") => () =>
  Response.json({ reservationId: id, _id: id, confirmationCode: "GY-1", status: "confirmed" }, {
    status: 201,
  });
export const status = (
  code: number,
  body: unknown = { error: { message: `answer ${code}` } },
  headers: HeadersInit = {},
) =>
() => Response.json(body, { status: code, headers });
export const dropped = () => () => Promise.reject(new TypeError("connection reset"));

export class MemoryTokens implements TokenStore {
  token: string | null = null;
  cached() {
    return Promise.resolve(this.token);
  }
  async refresh(_c: string, mint: () => Promise<{ token: string; expiresAt: Date }>) {
    this.token ??= (await mint()).token;
    return this.token;
  }
  forget(_c: string, token: string) {
    if (this.token === token) this.token = null;
    return Promise.resolve();
  }
}

export function testDeps(
  store: MemoryStore,
  guestly: FakeGuestly,
  overrides: Partial<SyncDeps> = {},
) {
  const sleeps: number[] = [];
  const clock = { now: Date.parse("2027-01-15T10:00:00Z") };
  store.now = () => clock.now;
  const limiter: RateLimiter = { reserve: () => Promise.resolve(new Date(0)) };
  const log = memoryLogger();
  const deps: SyncDeps = {
    store,
    guestly: new GuestlyClient(
      {
        baseUrl: "https://guestly.test/v1",
        tokenUrl: "https://guestly.test/oauth2/token",
        clientId: "c",
        clientSecret: "s",
      },
      {
        fetch: guestly.fetch,
        fetchOnce: guestly.fetch,
        tokens: new MemoryTokens(),
        limiter,
        maxSlotWaitMs: 100_000,
        now: () => clock.now,
        sleep: (ms) => {
          clock.now += ms;
          return Promise.resolve();
        },
        timeoutMs: 1000,
      },
    ),
    settings: {
      enabled: true,
      testMode: false,
      maxAttempts: 12,
      bookingRefFieldId: "ref-field",
      settleMs: 60_000,
      budgetMs: 120_000,
    },
    log,
    // A fake clock: sleeping moves it, so time budgets can be tested without waiting.
    sleep: (ms) => {
      sleeps.push(ms);
      clock.now += ms;
      return Promise.resolve();
    },
    now: () => clock.now,
    random: () => 0,
    ...overrides,
  };
  return { deps, sleeps, log, clock };
}
