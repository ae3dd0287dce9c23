// Guestly Open API client (reservations v3). Each call makes at most one HTTP request to the API
// and reports what happened; retrying, counting and recording are the sync core's job.
import {
  type GuestlyReservation,
  GuestlyReservation as GuestlyReservationSchema,
  type GuestlyReservationCreate,
  GuestlySearchResult,
  type GuestlyStatusChange,
  GuestlyToken,
} from "./schemas.ts";
import {
  type AttemptOutcome,
  classifyHttpStatus,
  guestlyErrorMessage,
  parseRetryAfterMs,
} from "./retry-policy.ts";

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

/** The account-wide rate limiter: when may the next request go out (null = not soon enough). */
export interface RateLimiter {
  reserve(): Promise<Date | null>;
}

export interface ClientDeps {
  fetch: typeof fetch;
  tokens: TokenStore;
  limiter: RateLimiter;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  timeoutMs: number;
}

export interface HttpAttempt<T> {
  outcome: AttemptOutcome | "deferred";
  startedAt: Date;
  durationMs: number;
  httpStatus: number | null;
  data?: T;
  error?: string;
  retryAfterMs?: number;
  deferUntil?: Date;
}

export class GuestlyClient {
  #memoryToken: string | null = null;

  constructor(readonly credentials: GuestlyCredentials, readonly deps: ClientDeps) {}

  createReservation(payload: GuestlyReservationCreate): Promise<HttpAttempt<GuestlyReservation>> {
    return this.#request("POST", "/reservations-v3", payload, parseReservation);
  }

  updateReservationStatus(
    reservationId: string,
    change: GuestlyStatusChange,
  ): Promise<HttpAttempt<GuestlyReservation>> {
    return this.#request(
      "PUT",
      `/reservations-v3/${encodeURIComponent(reservationId)}/status`,
      change,
      parseReservation,
    );
  }

  /** Finds the reservation carrying our booking id in the custom field (see docs/guestly-api.md). */
  findByBookingRef(
    fieldId: string,
    bookingId: string,
  ): Promise<HttpAttempt<GuestlyReservation | null>> {
    const query = new URLSearchParams({
      [`filter[customFields.${fieldId}]`]: bookingId,
      limit: "2",
    });
    return this.#request("GET", `/reservations-v3/search?${query}`, undefined, (body) => {
      const results = GuestlySearchResult.parse(body).results;
      return results.length === 0 ? null : GuestlyReservationSchema.parse(results[0]);
    });
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
  ): Promise<HttpAttempt<T>> {
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

    const slot = await this.deps.limiter.reserve();
    if (!slot) {
      const now = new Date(this.deps.now());
      return {
        outcome: "deferred",
        startedAt: now,
        durationMs: 0,
        httpStatus: null,
        deferUntil: new Date(this.deps.now() + 60_000),
        error: "Guestly rate limit reached: deferred",
      };
    }
    const wait = slot.getTime() - this.deps.now();
    if (wait > 0) await this.deps.sleep(wait);

    const started = this.deps.now();
    const startedAt = new Date(started);
    try {
      const response = await this.deps.fetch(`${this.credentials.baseUrl}${path}`, {
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
      const outcome = classifyHttpStatus(response.status);
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
        outcome: "unknown",
        startedAt,
        durationMs: this.deps.now() - started,
        httpStatus: null,
        error: timedOut
          ? `no answer from Guestly within ${this.deps.timeoutMs} ms`
          : `connection to Guestly failed: ${error instanceof Error ? error.message : error}`,
      };
    }
  }
}

export class TokenError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function parseReservation(body: unknown): GuestlyReservation {
  return GuestlyReservationSchema.parse(body);
}
