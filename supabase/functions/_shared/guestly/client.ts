// Guestly Open API client (reservations v3). Each call makes at most one HTTP request to the API
// and reports what happened; retrying, counting and recording are the sync core's job.
import {
  type GuestlyChangeRequest,
  type GuestlyCustomFieldsUpdate,
  GuestlyGuestEmail,
  GuestlyGuestTags,
  type GuestlyNotesUpdate,
  type GuestlyPaymentRecord,
  type GuestlyReservation,
  GuestlyReservation as GuestlyReservationSchema,
  type GuestlyReservationCreate,
  GuestlySearchResult,
  type GuestlyStatusChange,
  GuestlyToken,
  type ReservationDetails,
  ReservationDetails as ReservationDetailsSchema,
} from "./schemas.ts";
import {
  type AttemptOutcome,
  type CalendarConflict,
  calendarConflict,
  classifyHttpStatus,
  guestlyErrorMessage,
  parseRetryAfterMs,
} from "./retry-policy.ts";
import {
  WebhookSecret,
  WebhookSubscription,
  WebhookSubscriptionList,
} from "../guestly-webhook/subscriptions.ts";
import { awaitSendTime, type RequestPriority, type SlotDeps } from "./send-slot.ts";

export interface GuestlyCredentials {
  baseUrl: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
}

/** The shared token cache (the database in production) with a lock around minting. */
export interface TokenStore {
  cached(clientId: string): Promise<string | null>;
  /** Runs `mint` under a lock unless another invocation stored a token meanwhile. */
  refresh(clientId: string, mint: () => Promise<{ token: string; expiresAt: Date }>): Promise<
    string
  >;
  forget(clientId: string, token: string): Promise<void>;
}

/**
 * How urgent a request is: `live` (a paid booking's sync) goes first; `hold` (a guest still
 * paying) and `background` (reconciliation) may use only part of Guestly's limits.
 */
export type { RateLimiter, RequestPriority } from "./send-slot.ts";

/** The slot wait's needs (limiter, clock, longest wait), and the HTTP side's. */
export interface ClientDeps extends SlotDeps {
  fetch: typeof fetch;
  /**
   * For requests that must never be sent twice (creates). A pooled HTTP client may silently
   * re-send a request when a reused keep-alive connection drops; this one must not (the entry
   * point passes a fetch on an unpooled connection; see docs/guestly-api.md). Required: a
   * forgotten one must not fall back to the pooled fetch silently.
   */
  fetchOnce: typeof fetch;
  tokens: TokenStore;
  timeoutMs: number;
}

/**
 * Per call: when the invocation must be finished (epoch ms), and a check run right before the
 * request leaves (after any wait), which may stop it: the lease was lost, the booking changed.
 */
export interface CallOptions {
  deadline?: number;
  beforeSend?: () => Promise<string | null>;
  /** Default `live`. */
  priority?: RequestPriority;
}

export interface HttpAttempt<T> {
  /** `deferred`: not sent, come back at deferUntil. `aborted`: not sent, beforeSend said why. */
  outcome: AttemptOutcome | "deferred" | "aborted";
  startedAt: Date;
  durationMs: number;
  httpStatus: number | null;
  data?: T;
  error?: string;
  retryAfterMs?: number;
  deferUntil?: Date;
  /** With outcome `conflict`: what Guestly said holds the nights. */
  conflict?: CalendarConflict;
}

/** One page of search results, unread: which hits count is lookup.ts's decision. */
export interface SearchPage {
  results: unknown[];
  count?: number;
}

export class GuestlyClient {
  #memoryToken: string | null = null;

  constructor(readonly credentials: GuestlyCredentials, readonly deps: ClientDeps) {}

  /** Not idempotent: a 5xx, 408, timeout or dropped connection is an unknown outcome. */
  createReservation(
    payload: GuestlyReservationCreate,
    options: CallOptions = {},
  ): Promise<HttpAttempt<GuestlyReservation>> {
    return this.#request("POST", "/reservations-v3", payload, parseReservation, {
      ...options,
      idempotent: false,
    });
  }

  /** Idempotent in Guestly: setting the same status twice changes nothing. */
  updateReservationStatus(
    reservationId: string,
    change: GuestlyStatusChange,
    options: CallOptions = {},
  ): Promise<HttpAttempt<GuestlyReservation>> {
    return this.#request(
      "PUT",
      `/reservations-v3/${encodeURIComponent(reservationId)}/status`,
      change,
      parseReservation,
      { ...options, idempotent: true },
    );
  }

  /**
   * One reservation as Guestly holds it now (its guest id, money and payments included), by the
   * legacy read: Guesty's v3 read (`GET /reservations-v3?reservationIds=`) returns neither the
   * guest's id nor the payments (docs/guestly-api.md, "Reading a reservation").
   */
  getReservation(
    reservationId: string,
    options: CallOptions = {},
  ): Promise<HttpAttempt<ReservationDetails>> {
    return this.#request(
      "GET",
      `/reservations/${encodeURIComponent(reservationId)}`,
      undefined,
      (body) => ReservationDetailsSchema.parse(body),
      { ...options, idempotent: true },
    );
  }

  /** The guest's tags (`GET /guests-crud/{guestId}?fields=tags`): the guest PUT must send them. */
  getGuestTags(guestId: string, options: CallOptions = {}): Promise<HttpAttempt<string[]>> {
    return this.#request(
      "GET",
      `/guests-crud/${encodeURIComponent(guestId)}?${new URLSearchParams({ fields: "tags" })}`,
      undefined,
      (body) => GuestlyGuestTags.parse(body).tags ?? [],
      { ...options, idempotent: true },
    );
  }

  /** A guest's email (`GET /guests-crud/{guestId}?fields=email`): a lookup checks a hit by it. */
  getGuestEmail(
    guestId: string,
    options: CallOptions = {},
  ): Promise<HttpAttempt<string | null>> {
    return this.#request(
      "GET",
      `/guests-crud/${encodeURIComponent(guestId)}?${new URLSearchParams({ fields: "email" })}`,
      undefined,
      (body) => GuestlyGuestEmail.parse(body).email ?? null,
      { ...options, idempotent: true },
    );
  }

  /** Sets custom fields' values on a reservation (our booking reference). Idempotent: it sets. */
  setCustomFields(
    reservationId: string,
    update: GuestlyCustomFieldsUpdate,
    options: CallOptions = {},
  ): Promise<HttpAttempt<unknown>> {
    return this.#request(
      "PUT",
      `/reservations-v3/${encodeURIComponent(reservationId)}/custom-fields`,
      update,
      (body) => body,
      { ...options, idempotent: true },
    );
  }

  /** Sets a reservation's notes. Idempotent: it sets. */
  setNotes(
    reservationId: string,
    update: GuestlyNotesUpdate,
    options: CallOptions = {},
  ): Promise<HttpAttempt<unknown>> {
    return this.#request(
      "PUT",
      `/reservations-v3/${encodeURIComponent(reservationId)}/notes`,
      update,
      (body) => body,
      { ...options, idempotent: true },
    );
  }

  /**
   * A change of listing, dates, guest count (reservations v3) or of the guest's details. Each
   * sets values, so repeating one after a lost answer changes nothing more: idempotent.
   */
  changeReservation(
    change: GuestlyChangeRequest,
    options: CallOptions = {},
  ): Promise<HttpAttempt<unknown>> {
    return this.#request("PUT", change.path, change.body, (body) => body, {
      ...options,
      idempotent: true,
    });
  }

  /**
   * Records a payment taken outside Guestly. Guesty declares a 201 with the payment provider
   * (`paymentProviderId`), not the payment: its id is read from the reservation when needed.
   * Not idempotent: a lost answer is an unknown outcome, looked up (by the fields Guesty declares
   * of a reservation's payments: mapping.ts matchPayments) before it is sent again (so it goes on
   * an unpooled connection, like a create).
   */
  recordPayment(
    reservationId: string,
    payment: GuestlyPaymentRecord,
    options: CallOptions = {},
  ): Promise<HttpAttempt<unknown[]>> {
    return this.#request(
      "POST",
      `/reservations/${encodeURIComponent(reservationId)}/payments`,
      payment,
      (body) => Array.isArray(body) ? body : [],
      { ...options, idempotent: false },
    );
  }

  /** Records a refund on a payment Guestly holds. Not idempotent, like recordPayment. */
  recordRefund(
    reservationId: string,
    paymentId: string,
    refund: { amount: number; note: string },
    options: CallOptions = {},
  ): Promise<HttpAttempt<unknown>> {
    return this.#request(
      "POST",
      `/reservations/${encodeURIComponent(reservationId)}/payments/${
        encodeURIComponent(paymentId)
      }/refund`,
      refund,
      (body) => body,
      { ...options, idempotent: false },
    );
  }

  /**
   * Every reservation the search returns for a stay with our source: the listing and both dates
   * (a live reservation holds its nights, so at most one live one has them on a listing; see
   * docs/guestly-api.md). Which of them is ours — our reference, or none yet and the guest's
   * email — is lookup.ts's decision.
   */
  findByStay(
    stay: { listingId: string; checkIn: string; checkOut: string; source: string },
    options: CallOptions = {},
  ): Promise<HttpAttempt<SearchPage>> {
    const query = new URLSearchParams({
      "filter[listingId]": stay.listingId,
      "filter[source]": stay.source,
      "filter[checkInDateLocalized]": stay.checkIn,
      "filter[checkOutDateLocalized]": stay.checkOut,
      limit: String(LOOKUP_PAGE_SIZE),
    });
    return this.#request(
      "GET",
      `/reservations-v3/search?${query}`,
      undefined,
      (body) => GuestlySearchResult.parse(body),
      { ...options, idempotent: true },
    );
  }

  /**
   * One page of every reservation with our source, in a stable order (the reconciliation reads
   * them all, page by page; see docs/guestly-api.md for what we assume of the search).
   */
  listReservationsPage(
    page: { source: string; skip: number; limit: number },
    options: CallOptions = {},
  ): Promise<HttpAttempt<SearchPage>> {
    const query = new URLSearchParams({
      "filter[source]": page.source,
      // A unique key, as Guesty's paging guide asks: many reservations share a createdAt (an
      // import), and ties at a page's edge would be seen twice or not at all.
      sort: "_id",
      limit: String(page.limit),
      skip: String(page.skip),
    });
    return this.#request(
      "GET",
      `/reservations-v3/search?${query}`,
      undefined,
      (body) => GuestlySearchResult.parse(body),
      { ...options, idempotent: true },
    );
  }

  async #token(): Promise<string> {
    if (this.#memoryToken) return this.#memoryToken;
    const { clientId } = this.credentials;
    const cached = await this.deps.tokens.cached(clientId);
    this.#memoryToken = cached ?? await this.deps.tokens.refresh(clientId, () => this.#mint());
    return this.#memoryToken;
  }

  async #mint(): Promise<{ token: string; expiresAt: Date }> {
    const { tokenUrl, clientId, clientSecret } = this.credentials;
    const response = await this.deps.fetch(tokenUrl, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        scope: "open-api",
        client_id: clientId,
        client_secret: clientSecret,
      }),
      signal: AbortSignal.timeout(this.deps.timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new TokenError(response.status, guestlyErrorMessage(response.status, text));
    }
    const token = GuestlyToken.parse(JSON.parse(text));
    return {
      token: token.access_token,
      expiresAt: new Date(this.deps.now() + token.expires_in * 1000),
    };
  }

  async #request<T>(
    method: string,
    path: string,
    body: unknown,
    parse: (body: unknown) => T,
    options: CallOptions & { idempotent: boolean },
  ): Promise<HttpAttempt<T>> {
    const { deadline, beforeSend, idempotent, priority } = options;
    // Time left for waiting: the request itself must still fit before the deadline.
    const waitBudget = () =>
      deadline === undefined ? Infinity : deadline - this.deps.now() - this.deps.timeoutMs;
    const notSent = (outcome: "deferred" | "aborted", error: string, deferUntil?: Date) => ({
      outcome,
      startedAt: new Date(this.deps.now()),
      durationMs: 0,
      httpStatus: null,
      error,
      deferUntil,
    });
    if (waitBudget() < 0) {
      return notSent(
        "deferred",
        "invocation time budget used up: deferred",
        new Date(this.deps.now()),
      );
    }
    // The token first: waiting for it after taking a send slot would make requests leave late
    // and bunch up with the next second's, which Guestly answers with 429.
    let token: string;
    try {
      token = await this.#token();
    } catch (error) {
      const now = new Date(this.deps.now());
      const status = error instanceof TokenError ? error.status : null;
      return {
        outcome: status === 429 || status === null || status >= 500 ? "retryable" : "permanent",
        startedAt: now,
        durationMs: 0,
        httpStatus: status,
        error: `token request failed: ${error instanceof Error ? error.message : String(error)}`,
      };
    }

    const sendTime = await awaitSendTime(this.deps, waitBudget, beforeSend, priority);
    if (sendTime) return notSent(sendTime.outcome, sendTime.error, sendTime.deferUntil);

    const started = this.deps.now();
    const startedAt = new Date(started);
    try {
      const send = idempotent ? this.deps.fetch : this.deps.fetchOnce;
      const response = await send(`${this.credentials.baseUrl}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: "application/json",
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.deps.timeoutMs),
      });
      const text = await response.text();
      const durationMs = this.deps.now() - started;
      // A 401 that is not about the token is Guestly refusing the request (docs/guestly-api.md).
      const classified = classifyHttpStatus(response.status, idempotent, text);
      // A definite refusal because the nights are taken is its own outcome (a double booking).
      const conflict = classified === "permanent" ? calendarConflict(response.status, text) : null;
      const outcome: AttemptOutcome = conflict ? "conflict" : classified;
      if (outcome === "auth") {
        this.#memoryToken = null;
        await this.deps.tokens.forget(this.credentials.clientId, token);
      }
      if (outcome !== "success") {
        return {
          outcome,
          startedAt,
          durationMs,
          httpStatus: response.status,
          error: guestlyErrorMessage(response.status, text),
          retryAfterMs: parseRetryAfterMs(response.headers.get("retry-after"), this.deps.now()),
          ...(conflict ? { conflict } : {}),
        };
      }
      try {
        return {
          outcome,
          startedAt,
          durationMs,
          httpStatus: response.status,
          data: parse(JSON.parse(text)),
        };
      } catch (error) {
        // A 2xx we cannot read: the change happened, but we do not know its result.
        return {
          outcome: "unknown",
          startedAt,
          durationMs,
          httpStatus: response.status,
          error: `unreadable Guestly answer: ${error instanceof Error ? error.message : error}`,
        };
      }
    } catch (error) {
      // Timeout or dropped connection: Guestly may or may not have acted on the request.
      const timedOut = error instanceof DOMException && error.name === "TimeoutError";
      return {
        outcome: idempotent ? "retryable" : "unknown",
        startedAt,
        durationMs: this.deps.now() - started,
        httpStatus: null,
        error: timedOut
          ? `no answer from Guestly within ${this.deps.timeoutMs} ms`
          : `connection to Guestly failed: ${error instanceof Error ? error.message : error}`,
      };
    }
  }

  /** Guestly's webhook subscriptions (`GET /webhooks`): for `npm run guestly:webhook`. */
  listWebhooks(options: CallOptions = {}): Promise<HttpAttempt<WebhookSubscription[]>> {
    return this.#request("GET", "/webhooks", undefined, (b) => WebhookSubscriptionList.parse(b), {
      ...options,
      idempotent: true,
    });
  }

  /** A new subscription: not idempotent (sent twice, it could be two subscriptions). */
  createWebhook(
    subscription: { url: string; events: string[] },
    options: CallOptions = {},
  ): Promise<HttpAttempt<WebhookSubscription>> {
    return this.#request(
      "POST",
      "/webhooks",
      declaredSubscription(subscription),
      (b) => WebhookSubscription.parse(b),
      {
        ...options,
        idempotent: false,
      },
    );
  }

  updateWebhook(
    id: string,
    subscription: { url: string; events: string[] },
    options: CallOptions = {},
  ): Promise<HttpAttempt<WebhookSubscription>> {
    return this.#request(
      "PUT",
      `/webhooks/${encodeURIComponent(id)}`,
      declaredSubscription(subscription),
      // The definition answers the PUT with an array of subscriptions (the updated one in it).
      (b) => WebhookSubscription.parse(Array.isArray(b) ? b.find((s) => s?._id === id) ?? b[0] : b),
      { ...options, idempotent: true },
    );
  }

  /** The signing secret (`whsec_…`) of the subscription at `url` (the definition requires it). */
  webhookSecret(
    url: string,
    options: CallOptions = {},
  ): Promise<HttpAttempt<{ secret: string }>> {
    const query = new URLSearchParams({ url });
    return this.#request(
      "GET",
      `/webhooks-v2/secret?${query}`,
      undefined,
      (b) => WebhookSecret.parse(b),
      {
        ...options,
        idempotent: true,
      },
    );
  }
}

/** Only the fields the definition declares (callers pass plans that carry their own). */
function declaredSubscription(s: { url: string; events: string[] }) {
  return { url: s.url, events: s.events };
}

export class TokenError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Guesty pages search results (at most 100 a page); more hits than that for one stay is
 * already a problem, which lookup.ts reports rather than reading page two. */
const LOOKUP_PAGE_SIZE = 100;

function parseReservation(body: unknown): GuestlyReservation {
  return GuestlyReservationSchema.parse(body);
}
