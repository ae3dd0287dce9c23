// Every request the Guestly client can build, built by the real code and captured at fetch,
// checked against Guesty's published definition (supabase/tests/contract/). Each operation also
// has a negative case: a wrong body or query the check must refuse, so no check passes vacuously.
import assert from "node:assert/strict";
import { checkRequest, describeRequest } from "../contract/guesty-contract.ts";
import { bookingRow, FakeGuestly, MemoryStore, status, testDeps } from "./fakes.ts";
import {
  bookingNotes,
  bookingReference,
  mapBookingToGuestlyReservation,
  mapPaymentToGuestly,
  mapRefundToGuestly,
  statusChange,
} from "../../functions/_shared/guestly/mapping.ts";
import { followContent } from "../../functions/_shared/guestly/modify-steps.ts";
import { newRoundState } from "../../functions/_shared/guestly/round.ts";
import type { ContentChange } from "../../functions/_shared/guestly/content-changes.ts";
import type { BookingRow } from "../../functions/_shared/guestly/schemas.ts";

const ok = (body: unknown = {}) => status(200, body);

/** Runs `call` against a Guestly that answers `answers`; returns every API request it sent. */
async function captured(
  call: (deps: ReturnType<typeof testDeps>["deps"]) => Promise<unknown>,
  answers = [ok(), ok(), ok()],
  row: BookingRow | null = null,
) {
  const guestly = new FakeGuestly(answers);
  const store = new MemoryStore(row);
  store.lease = "lease";
  const { deps } = testDeps(store, guestly);
  await call(deps);
  return await Promise.all(guestly.requests.map(describeRequest));
}

async function only(
  call: Parameters<typeof captured>[0],
  answers?: Parameters<typeof captured>[1],
) {
  const requests = await captured(call, answers);
  assert.equal(requests.length, 1, JSON.stringify(requests));
  return requests[0];
}

/**
 * Disagreements still open (issue 21; docs/guestly-api.md "Open"): the check must still find
 * each one — once it is fixed the test fails until the entry is removed, so none outlives it.
 */
const OPEN: { operation: RegExp; error: RegExp; item: string }[] = [
  // Empty: item 5 (customFields/notes on the create) is fixed — they go on their own PUTs.
];

function assertValid(request: { method: string; url: string; body?: unknown }) {
  const errors = checkRequest(request);
  const unexplained = errors.filter((e) =>
    !OPEN.some((gap) => gap.operation.test(e) && gap.error.test(e))
  );
  assert.deepEqual(unexplained, [], JSON.stringify(request.body));
}

function assertRefused(request: { method: string; url: string; body?: unknown }, why: RegExp) {
  const errors = checkRequest(request);
  assert.ok(errors.some((e) => why.test(e)), `expected ${why}, got ${JSON.stringify(errors)}`);
}

const createOf = (overrides: Partial<BookingRow>) =>
  only((deps) =>
    deps.guestly.createReservation(mapBookingToGuestlyReservation(bookingRow(overrides)))
  );

Deno.test("contract: a confirmed create is valid; an undeclared field or a missing guest is not", async () => {
  const request = await createOf({});
  assert.equal(request.method, "POST");
  assertValid(request);
  const body = request.body as Record<string, unknown>;
  assertRefused({ ...request, body: { ...body, customFields: [] } }, /additional/);
  assertRefused({ ...request, body: { ...body, notes: { other: "x" } } }, /additional/);
  const { guestsCount: _, ...noCount } = body;
  assertRefused({ ...request, body: noCount }, /guestsCount/);
  assertRefused(
    { ...request, body: { ...body, guest: { firstName: "A", lastName: "B", email: "a@b.c" } } },
    /phones/,
  );
});

Deno.test("contract: a hold (reserved) names an allowed reservedUntil, for every allowed setting", async () => {
  for (const minutes of [10, 15, 30, 720, 1440]) {
    const request = await createOf({
      status: "pending_payment",
      guestly_hold_status: "placing",
      guestly_hold_minutes: minutes,
    });
    assertValid(request);
    assert.equal((request.body as { status: string }).status, "reserved");
  }
  const request = await createOf({
    status: "pending_payment",
    guestly_hold_status: "placing",
    guestly_hold_minutes: 10,
  });
  assertRefused(
    { ...request, body: { ...request.body as object, reservedUntil: 0.1667 } },
    /allowed values/,
  );
});

Deno.test("contract: a booking without a usable phone still makes a valid create", async () => {
  for (const phone of [null, "", "call me"]) {
    const request = await createOf({ guest_phone: phone });
    assertValid(request);
  }
});

Deno.test("contract: a create forced over the calendar is valid; a wrong flag type is not", async () => {
  const request = await createOf({ guestly_ignore_calendar: true });
  assert.equal((request.body as { ignoreCalendar: boolean }).ignoreCalendar, true);
  assertValid(request);
  assertRefused(
    { ...request, body: { ...request.body as object, ignoreCalendar: "yes" } },
    /boolean/,
  );
});

Deno.test("contract: every status change we send is valid (confirm, and cancel for each reason)", async () => {
  const changes = [
    statusChange(bookingRow({ status: "confirmed" }), "confirmed"),
    statusChange(bookingRow({ status: "cancelled" }), "canceled"),
    statusChange(bookingRow({ status: "refunded" }), "canceled"),
    statusChange(
      bookingRow({ status: "pending_payment", guestly_hold_status: "releasing" }),
      "canceled",
    ),
  ];
  for (const change of changes) {
    const request = await only((deps) => deps.guestly.updateReservationStatus("r1", change));
    assertValid(request);
    assertRefused({ ...request, body: { ...change, canceledBy: "website" } }, /allowed values/);
    assertRefused({ ...request, body: { canceledBy: "GUEST" } }, /status/);
  }
});

async function contentRequests(change: ContentChange, booking: Partial<BookingRow> = {}) {
  const row = bookingRow({ guestly_reservation_id: "r1", ...booking });
  // The legacy read's shape (GET /reservations/{id}): the guest change needs its guestId.
  const reservation = { _id: "r1", guestId: "g1", listingId: row.guestly_listing_id };
  return await captured(
    (deps) =>
      followContent(
        {
          booking: row,
          leaseId: "lease",
          deadline: deps.now!() + 3_600_000,
          state: newRoundState(row),
          deps,
        },
        "r1",
        {
          listing_id: row.guestly_listing_id,
          check_in: row.check_in,
          check_out: row.check_out,
          guests_count: row.guests_count,
          guest: { first_name: "a", last_name: "b", email: "a@b.c", phone: null },
        },
        [change],
      ),
    [ok(reservation), ok({ _id: "g1", tags: ["vip"] }), ok()],
    row,
  );
}

Deno.test("contract: dates, guests and relocate changes are valid, forced or not", async () => {
  for (const force of [false, true]) {
    const changes: ContentChange[] = [
      { kind: "dates", checkIn: "2027-03-01", checkOut: "2027-03-04" },
      { kind: "guests", guestsCount: 3 },
      { kind: "relocate", listingId: "64f1a2b3c4d5e6f7a8b9c0d2" },
    ];
    for (const change of changes) {
      const [request] = await contentRequests(change, { guestly_ignore_calendar: force });
      assertValid(request);
      assertRefused({ ...request, body: { ...request.body as object, bogus: 1 } }, /additional/);
      if (change.kind !== "dates") assertRefused({ ...request, body: {} }, /required/);
    }
  }
});

Deno.test("contract: a guest update (with and without a phone) is valid", async () => {
  for (const phone of ["+44 7700 900123", null]) {
    const requests = await contentRequests({
      kind: "guest",
      firstName: "Zoë",
      lastName: "O'Brien",
      email: "zoe@example.com",
      phone,
    });
    for (const request of requests) assertValid(request);
    const put = requests.find((r) => r.method === "PUT")!;
    assert.match(put.url, /\/guests-crud\/g1$/);
    // The main number is `phone` (`phones` are the additional ones); the host's tags go back.
    assert.equal((put.body as { phone?: string }).phone, phone ? "+447700900123" : undefined);
    assert.deepEqual((put.body as { tags: string[] }).tags, ["vip"]);
    assertRefused({ ...put, body: { ...put.body as object, tags: ["gold"] } }, /allowed values/);
    const { tags: _, ...noTags } = put.body as Record<string, unknown>;
    assertRefused({ ...put, body: noTags }, /tags/);
  }
});

Deno.test("contract: a payment and a refund we record are valid", async () => {
  const payment = { reference: "pi_1", amount: 64050, currency: "eur" } as Parameters<
    typeof mapPaymentToGuestly
  >[0];
  const paid = await only(
    (deps) =>
      deps.guestly.recordPayment("r1", mapPaymentToGuestly(payment, new Date("2027-01-15"))),
    [status(201, { paymentProviderId: "p", paymentProvider: "x" })],
  );
  assertValid(paid);
  assertRefused({ ...paid, body: { amount: 1 } }, /paymentMethod/);
  assertRefused(
    { ...paid, body: { ...paid.body as object, paymentMethod: { method: "X" } } },
    /allowed values/,
  );
  const refund = await only(
    (deps) => deps.guestly.recordRefund("r1", "p1", mapRefundToGuestly(payment)),
    [status(201, {})],
  );
  assertValid(refund);
  assertRefused({ ...refund, body: { note: "x" } }, /amount/);
});

Deno.test("contract: reading a reservation, and the searches, use declared operations", async () => {
  const read = await only((deps) => deps.guestly.getReservation("r1"), [ok([{ _id: "r1" }])]);
  assertValid(read);
  assertRefused(
    { method: "GET", url: "https://guestly.test/v1/reservations-v3" },
    /reservationIds/,
  );
  const search = await only(
    (deps) => deps.guestly.listReservationsPage({ source: "website", skip: 0, limit: 100 }),
    [ok({ results: [] })],
  );
  assertValid(search);
  assertRefused({ ...search, url: `${search.url}&limit=500` }, /limit/);
});

Deno.test("contract: the webhook subscription, its update and the secret are valid", async () => {
  const subscription = {
    url: "https://x.test/functions/v1/guestly-webhook",
    events: ["reservation.new"],
  };
  const internal = { action: "create", id: "w1", ...subscription } as typeof subscription;
  const created = await only(
    (deps) => deps.guestly.createWebhook(internal),
    [status(201, { _id: "w1", ...subscription })],
  );
  assertValid(created);
  assert.deepEqual(created.body, subscription);
  assertRefused({ ...created, body: { ...subscription, events: ["nope"] } }, /allowed values/);
  const updated = await only(
    (deps) =>
      deps.guestly.updateWebhook("w1", {
        url: subscription.url,
        events: ["reservation.new", "reservation.updated.v2"],
      }),
    [ok([{ _id: "w1", ...subscription }])],
  );
  assertValid(updated);
  const secret = await only(
    (deps) => deps.guestly.webhookSecret(subscription.url),
    [ok({ secret: "whsec_x" })],
  );
  assertValid(secret);
  assertRefused({ ...secret, url: secret.url.replace(/\?.*$/, "") }, /url/);
});

Deno.test("contract: our reference and notes go on the declared PUTs, each body valid", async () => {
  const row = bookingRow({ guest_phone: "call me" });
  const reference = await only(
    (deps) => deps.guestly.setCustomFields("r1", bookingReference(row, "ref")),
    [ok({ reservationId: "r1", customFields: [] })],
  );
  assert.match(reference.url, /\/reservations-v3\/r1\/custom-fields$/);
  assertValid(reference);
  assertRefused({ ...reference, body: { customFields: [{ fieldId: "ref" }] } }, /value/);
  assertRefused({ ...reference, body: {} }, /customFields/);
  const notes = await only(
    (deps) => deps.guestly.setNotes("r1", bookingNotes(row)!),
    [ok({ reservationId: "r1", notes: {} })],
  );
  assertValid(notes);
  assert.match((notes.body as { notes: { other: string } }).notes.other, /call me/);
  assertRefused({ ...notes, body: { notes: { other: 1 } } }, /string/);
  assertRefused({ ...notes, body: { other: "x" } }, /notes/);
});

Deno.test("contract: the lookup by stay and the guest's email read are declared operations", async () => {
  const lookup = await only(
    (deps) =>
      deps.guestly.findByStay({
        listingId: "64f1a2b3c4d5e6f7a8b9c0d1",
        checkIn: "2027-02-01",
        checkOut: "2027-02-05",
        source: "website",
      }),
    [ok({ results: [] })],
  );
  assertValid(lookup);
  assertRefused({ ...lookup, url: `${lookup.url}&limit=0` }, /limit/);
  const guest = await only(
    (deps) => deps.guestly.getGuestEmail("g1"),
    [ok({ _id: "g1", email: "a@b.c" })],
  );
  assertValid(guest);
  assertRefused({ ...guest, url: guest.url.replace(/\?.*$/, "") }, /fields/);
});

Deno.test("contract: every disagreement still listed as open is still there; fixed ones stay fixed", async () => {
  const create = await createOf({});
  const errors = checkRequest(create);
  // Item 5: a reference or notes on the create would be dropped by Guesty; the check refuses it.
  assert.deepEqual(errors, [], "the create carries only declared fields");
  for (const gap of OPEN) {
    assert.ok(
      errors.some((e) => gap.operation.test(e) && gap.error.test(e)),
      `issue 21 item ${gap.item} is fixed: remove its OPEN entry (${gap.error})`,
    );
  }
});
