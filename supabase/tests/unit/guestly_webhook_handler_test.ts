// guestly-webhook's handler and apply step with in-memory edges: a verified delivery is
// recorded before the 200 and applied after it; redeliveries and unknown types change nothing;
// forged ones are refused with nothing recorded; Guestly is read only when the payload and our
// records cannot tell whose reservation it is; the sweep's re-apply needs the service key.
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { createGuestlyWebhookHandler } from "../../functions/_shared/guestly-webhook/handler.ts";
import type {
  ApplyInput,
  ApplyResult,
  RecordedEvent,
} from "../../functions/_shared/guestly-webhook/apply.ts";
import type { EventLedger } from "../../functions/_shared/guestly-webhook/store.ts";
import type { GuestlyEvent } from "../../functions/_shared/guestly-webhook/event.ts";
import type { HttpAttempt } from "../../functions/_shared/guestly/client.ts";
import type { ReservationDetails } from "../../functions/_shared/guestly/schemas.ts";
import { serviceKeysFrom } from "../../functions/_shared/service-keys.ts";
import { memoryLogger } from "../../functions/_shared/log.ts";

const SECRET = "whsec_" + btoa("guestly-webhook-handler-secret!!");
const BOOKING = "6f1c2b1e-8d4a-4c59-9f0e-3b2a1c0d9e8f";
const RESERVATION = "64f1a2b3c4d5e6f7a8b9c0aa";
const SERVICE_KEY = "service-role-key-for-tests";

class MemoryLedger implements EventLedger {
  rows = new Map<string, { event: GuestlyEvent; outcome: string | null }>();
  applied: Array<{ messageId: string; input: ApplyInput }> = [];
  failures: string[] = [];
  bound: string | null = null;
  failRecord = false;

  record(e: GuestlyEvent) {
    if (this.failRecord) return Promise.reject(new Error("database down"));
    const known = e.type.endsWith(".v2") && e.type.startsWith("reservation.");
    const existing = this.rows.get(e.messageId);
    if (existing) {
      return Promise.resolve({
        duplicate: true,
        pending: existing.outcome === null,
        outcome: existing.outcome,
      });
    }
    this.rows.set(e.messageId, { event: e, outcome: known ? null : "ignored" });
    return Promise.resolve({ duplicate: false, pending: known, outcome: known ? null : "ignored" });
  }
  load(messageId: string): Promise<RecordedEvent> {
    const row = this.rows.get(messageId);
    if (!row) return Promise.resolve({ found: false, outcome: null });
    return Promise.resolve({
      found: true,
      outcome: row.outcome,
      eventType: row.event.type,
      reservationId: row.event.reservationId,
      payload: row.event.payload,
      boundBookingId: this.bound,
    });
  }
  apply(messageId: string, input: ApplyInput): Promise<ApplyResult> {
    this.applied.push({ messageId, input });
    const outcome = input.ignoreReason ? "ignored" : "applied";
    this.rows.get(messageId)!.outcome = outcome;
    return Promise.resolve({ outcome, reason: input.ignoreReason ?? null });
  }
  fail(messageId: string, error: string) {
    this.failures.push(`${messageId}: ${error}`);
    return Promise.resolve();
  }
  /** Bookings whose sync is looking up an unknown create, by `listing|check-in|check-out`. */
  awaiting = new Map<string, string>();
  stayQueries: string[] = [];
  bookingAwaitingStay(stay: { listingId: string; checkIn: string; checkOut: string }) {
    const key = `${stay.listingId}|${stay.checkIn}|${stay.checkOut}`;
    this.stayQueries.push(key);
    return Promise.resolve(this.awaiting.get(key) ?? null);
  }
}

function details(overrides: Partial<ReservationDetails> = {}): HttpAttempt<ReservationDetails> {
  return {
    outcome: "success",
    startedAt: new Date(),
    durationMs: 5,
    httpStatus: 200,
    data: {
      _id: RESERVATION,
      status: "canceled",
      checkInDateLocalized: "2027-02-01",
      checkOutDateLocalized: "2027-02-05",
      guestsCount: 2,
      source: "website",
      customFields: [{ fieldId: "website_booking_id", value: BOOKING }],
      money: { fareAccommodation: 450, currency: "USD" },
      ...overrides,
    },
  };
}

function setup(read: () => HttpAttempt<ReservationDetails> = () => details()) {
  const ledger = new MemoryLedger();
  const reads: string[] = [];
  const pending: Promise<unknown>[] = [];
  const handler = createGuestlyWebhookHandler({
    secret: SECRET,
    ledger,
    serviceKeys: serviceKeysFrom({ SUPABASE_SERVICE_ROLE_KEY: SERVICE_KEY }),
    readReservation: (id) => {
      reads.push(id);
      return Promise.resolve(read());
    },
    bookingRefFieldId: "website_booking_id",
    log: memoryLogger(),
    afterResponse: (work) => pending.push(work),
    now: Date.now,
  });
  const settle = () => Promise.all(pending);
  return { ledger, reads, handler, settle, pending };
}

function payload(overrides: Record<string, unknown> = {}, stay: Record<string, unknown> = {}) {
  return {
    event: "reservation.updated.v2",
    eventId: crypto.randomUUID(),
    publishedAt: "2026-12-02T10:00:00.000Z",
    reservationId: RESERVATION,
    subTypes: ["status"],
    reservation: {
      _id: RESERVATION,
      status: "canceled",
      source: "website",
      listingId: "64f1a2b3c4d5e6f7a8b9c0d1",
      checkInDateLocalized: "2027-02-01",
      checkOutDateLocalized: "2027-02-05",
      guestsCount: 2,
      ...stay,
    },
    ...overrides,
  };
}

function signed(body: unknown, id = "msg_1", secret = SECRET, family = "svix"): Request {
  const text = JSON.stringify(body);
  const now = new Date();
  return new Request("http://localhost/guestly-webhook", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      [`${family}-id`]: id,
      [`${family}-timestamp`]: String(Math.floor(now.getTime() / 1000)),
      [`${family}-signature`]: new Webhook(secret).sign(id, now, text),
    },
    body: text,
  });
}

Deno.test("a delivery is recorded, answered 200 without waiting for the apply, then applied", async () => {
  const t = setup();
  t.ledger.bound = BOOKING;
  let release = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const apply = t.ledger.apply.bind(t.ledger);
  t.ledger.apply = async (id, input) => {
    await gate; // the apply is slow: the answer must not wait for it
    return apply(id, input);
  };
  const res = await t.handler(signed(payload()));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { received: true, duplicate: false });
  assert.equal(t.ledger.rows.size, 1, "recorded before the answer");
  assert.equal(t.ledger.applied.length, 0, "answered while the apply is still running");
  release();
  await t.settle();
  assert.equal(t.ledger.applied.length, 1);
  assert.deepEqual(t.ledger.applied[0].input.stay?.status, "canceled");
  assert.deepEqual(t.reads, [], "bound reservation + full stay in the payload: no Guestly read");
});

Deno.test("a redelivery (same message id) is 200 and applied no second time", async () => {
  const t = setup();
  t.ledger.bound = BOOKING;
  await t.handler(signed(payload(), "msg_dup"));
  await t.settle();
  const again = await t.handler(signed(payload(), "msg_dup"));
  assert.equal(again.status, 200);
  assert.equal((await again.json()).duplicate, true);
  await t.settle();
  assert.equal(t.ledger.applied.length, 1);
});

Deno.test("an unknown event type is 200, recorded, never applied", async () => {
  const t = setup();
  const res = await t.handler(signed({ event: "listing.calendar.updated", listingId: "x" }));
  assert.equal(res.status, 200);
  assert.equal((await res.json()).outcome, "ignored");
  await t.settle();
  assert.equal(t.ledger.rows.size, 1);
  assert.equal(t.ledger.applied.length, 0);
});

Deno.test("forged, unsigned and altered deliveries are refused and nothing is recorded", async () => {
  const t = setup();
  const forged = await t.handler(signed(payload(), "msg_f", "whsec_" + btoa("not-guestly!")));
  assert.equal(forged.status, 401);
  assert.match((await forged.json()).error, /invalid signature/);
  const unsigned = await t.handler(
    new Request("http://localhost/", { method: "POST", body: JSON.stringify(payload()) }),
  );
  assert.equal(unsigned.status, 401);
  assert.match((await unsigned.json()).error, /missing signature headers/);
  const req = signed(payload({ reservationId: "someone-else" }));
  const altered = new Request(req, { body: JSON.stringify(payload()) });
  assert.equal((await t.handler(altered)).status, 401);
  assert.equal(t.ledger.rows.size, 0);
});

Deno.test("webhook-* headers work like svix-*", async () => {
  const t = setup();
  t.ledger.bound = BOOKING;
  const res = await t.handler(signed(payload(), "msg_w", SECRET, "webhook"));
  assert.equal(res.status, 200);
});

Deno.test("a signed body that is not a reservation event is 400 and not recorded", async () => {
  const t = setup();
  const res = await t.handler(signed({ event: "reservation.updated.v2" }));
  assert.equal(res.status, 400);
  assert.equal(t.ledger.rows.size, 0);
});

Deno.test("the ledger down: 500, so Guestly delivers again", async () => {
  const t = setup();
  t.ledger.failRecord = true;
  assert.equal((await t.handler(signed(payload()))).status, 500);
});

Deno.test("a channel's reservation is ignored without reading Guestly", async () => {
  const t = setup();
  await t.handler(signed(payload({}, { source: "airbnb2" })));
  await t.settle();
  assert.deepEqual(t.reads, []);
  assert.equal(t.ledger.applied[0].input.ignoreReason, "not_ours");
});

Deno.test("an unbound reservation is read: our booking id in the custom field decides", async () => {
  const t = setup();
  await t.handler(signed(payload()));
  await t.settle();
  assert.deepEqual(t.reads, [RESERVATION]);
  assert.equal(t.ledger.applied[0].input.bookingRef, BOOKING);
  assert.equal(t.ledger.applied[0].input.stay?.total_minor, 45000, "Guestly's price, minor units");

  const foreign = setup(() => details({ customFields: [] }));
  await foreign.handler(signed(payload()));
  await foreign.settle();
  // No reference: the SQL decides by the reservation id (a booking that recorded it since the
  // load is found there), never "not ours" from the handler.
  assert.equal(foreign.ledger.applied[0].input.bookingRef, null);
  assert.equal(foreign.ledger.applied[0].input.ignoreReason, undefined);
});

Deno.test("our reservation without its reference yet (a lost create's answer): its booking waits for the lookup", async () => {
  const unreferenced = () =>
    details({ customFields: [], listingId: "64f1a2b3c4d5e6f7a8b9c0d1", status: "confirmed" });
  const t = setup(unreferenced);
  t.ledger.awaiting.set("64f1a2b3c4d5e6f7a8b9c0d1|2027-02-01|2027-02-05", BOOKING);
  await t.handler(signed(payload()));
  await t.settle();
  assert.deepEqual(t.ledger.stayQueries, ["64f1a2b3c4d5e6f7a8b9c0d1|2027-02-01|2027-02-05"]);
  // Handed to the booking (the SQL defers a change until the sync records the reservation).
  assert.equal(t.ledger.applied[0].input.bookingRef, BOOKING);
  assert.equal(t.ledger.applied[0].input.ignoreReason, undefined);

  // No booking is waiting on that stay: handed on without a reference (the SQL calls it not
  // ours unless a booking holds the reservation id by then).
  const none = setup(unreferenced);
  await none.handler(signed(payload()));
  await none.settle();
  assert.equal(none.ledger.applied[0].input.bookingRef, null);
  assert.equal(none.ledger.applied[0].input.ignoreReason, undefined);
  // Another booking's reference: never matched by the stay.
  const other = setup(() =>
    details({
      listingId: "64f1a2b3c4d5e6f7a8b9c0d1",
      customFields: [{ fieldId: "website_booking_id", value: "not-a-booking-id" }],
    })
  );
  other.ledger.awaiting.set("64f1a2b3c4d5e6f7a8b9c0d1|2027-02-01|2027-02-05", BOOKING);
  await other.handler(signed(payload()));
  await other.settle();
  assert.deepEqual(other.ledger.stayQueries, []);
  assert.equal(other.ledger.applied[0].input.bookingRef, null);
});

Deno.test("a lean payload without the stay is read from Guestly even when bound", async () => {
  const t = setup();
  t.ledger.bound = BOOKING;
  await t.handler(signed(payload({ reservation: undefined })));
  await t.settle();
  assert.deepEqual(t.reads, [RESERVATION]);
  assert.equal(t.ledger.applied[0].input.stay?.status, "canceled");
});

Deno.test("Guestly unreachable for the read: not applied, left for the sweep", async () => {
  const t = setup(() => ({
    outcome: "retryable",
    startedAt: new Date(),
    durationMs: 3000,
    httpStatus: 503,
    error: "HTTP 503",
  }));
  await t.handler(signed(payload()));
  await t.settle();
  assert.equal(t.ledger.applied.length, 0);
  assert.equal(t.ledger.failures.length, 1);
  assert.equal(t.ledger.rows.get("msg_1")!.outcome, null);

  const gone = setup(() => ({
    outcome: "permanent",
    startedAt: new Date(),
    durationMs: 3,
    httpStatus: 404,
  }));
  await gone.handler(signed(payload()));
  await gone.settle();
  assert.equal(gone.ledger.applied[0].input.ignoreReason, "reservation_not_found");
});

Deno.test("the sweep's re-apply needs the service key, then applies each message", async () => {
  const t = setup();
  t.ledger.bound = BOOKING;
  t.ledger.rows.set("msg_late", {
    event: {
      messageId: "msg_late",
      type: "reservation.updated.v2",
      eventId: null,
      publishedAt: null,
      reservationId: RESERVATION,
      subTypes: [],
      payload: payload(),
    },
    outcome: null,
  });
  const body = JSON.stringify({ reapply: ["msg_late", "msg_missing"] });
  const wrong = await t.handler(
    new Request("http://localhost/", {
      method: "POST",
      headers: { Authorization: "Bearer nope" },
      body,
    }),
  );
  assert.equal(wrong.status, 401);
  const res = await t.handler(
    new Request("http://localhost/", {
      method: "POST",
      headers: { Authorization: `Bearer ${SERVICE_KEY}` },
      body,
    }),
  );
  assert.equal(res.status, 200);
  const results = (await res.json()).results;
  assert.equal(results.msg_late.outcome, "applied");
  assert.equal(results.msg_missing.outcome, "missing");
});
