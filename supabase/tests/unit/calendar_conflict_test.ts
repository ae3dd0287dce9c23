// A create Guestly refuses because the nights are taken is its own outcome: `conflict`, final,
// never retried, with the double_booking alert; an operator's retry may force it.
import assert from "node:assert/strict";
import { calendarConflict } from "../../functions/_shared/guestly/retry-policy.ts";
import { retryFailedSync, syncBookingToGuestly } from "../../functions/_shared/guestly/sync.ts";
import { SyncRequest } from "../../functions/_shared/guestly/schemas.ts";
import {
  type AlertContext,
  renderAlertEmail,
} from "../../functions/_shared/notifications/admin-alerts.ts";
import { describeResult, parseArgs } from "../../../scripts/sync-retry.ts";
import {
  bookingRow,
  created,
  FakeGuestly,
  MemoryStore,
  referenceSet,
  status,
  testDeps,
} from "./fakes.ts";

const BOOKING = "5eed0000-0000-4000-8000-000000000001";

/** The sandbox's refusal (local/guestly-sandbox/calendar.ts), as docs/guestly-api.md assumes it. */
const BLOCKED = {
  error: {
    code: "LISTING_CALENDAR_BLOCKED",
    message: "Listing L1 is not available from 2027-02-01 to 2027-02-05: 2 night(s) blocked",
    data: {
      listingId: "L1",
      blockedDates: ["2027-02-03", "2027-02-04"],
      conflicts: [{
        reservationId: "65ota",
        confirmationCode: "HMABC123",
        status: "confirmed",
        source: "airbnb2",
        checkInDateLocalized: "2027-02-03",
        checkOutDateLocalized: "2027-02-06",
        guestName: "Maria Garcia",
      }],
    },
  },
};

Deno.test("classification: a calendar refusal is a conflict; other 4xx and 5xx are not", () => {
  const c = calendarConflict(409, JSON.stringify(BLOCKED));
  assert.ok(c);
  assert.equal(c.listing_id, "L1");
  assert.deepEqual(c.blocked_dates, ["2027-02-03", "2027-02-04"]);
  assert.deepEqual(c.reservations[0], {
    reservation_id: "65ota",
    confirmation_code: "HMABC123",
    source: "airbnb2",
    status: "confirmed",
    check_in: "2027-02-03",
    check_out: "2027-02-06",
    guest_name: "Maria Garcia",
  });
  // The Booking Engine API's wrapper shape, and a bare code without details.
  assert.ok(calendarConflict(
    400,
    JSON.stringify({
      error: { code: "CREATE_RESERVATION_ERROR", data: { errorCode: "LISTING_CALENDAR_BLOCKED" } },
    }),
  ));
  assert.deepEqual(
    calendarConflict(422, JSON.stringify({ error: { code: "LISTING_CALENDAR_BLOCKED" } }))
      ?.reservations,
    [],
  );
  // Not conflicts: other codes, a 5xx carrying the code (an unknown outcome stays unknown),
  // 429, text bodies.
  assert.equal(calendarConflict(409, JSON.stringify({ error: { code: "CONFLICT" } })), null);
  assert.equal(calendarConflict(502, JSON.stringify(BLOCKED)), null);
  assert.equal(calendarConflict(429, JSON.stringify(BLOCKED)), null);
  assert.equal(calendarConflict(409, "dates blocked"), null);
  assert.equal(calendarConflict(422, JSON.stringify("Listing calendar blocked")), null);
});

Deno.test("a conflict fails at once for good, is never retried, and alerts with the blockers", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([status(409, BLOCKED)]);
  const { deps, sleeps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "failed");
  assert.ok(result.outcome === "failed");
  assert.equal(result.final, true);
  assert.equal(result.errorKind, "conflict");
  assert.match(result.error, /^dates not available in Guestly: Guestly HTTP 409: Listing L1/);
  assert.deepEqual(sleeps, [], "no retry in the round");
  assert.deepEqual(store.attempts.map((a) => [a.operation, a.outcome]), [["create", "conflict"]]);
  assert.equal(store.failures[0].errorKind, "conflict");
  assert.equal(store.alerts, 1);
  const details = store.alertDetails[0] as { conflict: { reservations: unknown[] } };
  assert.equal(
    (details.conflict.reservations[0] as { confirmation_code: string }).confirmation_code,
    "HMABC123",
  );
  // The create did not carry ignoreCalendar.
  assert.equal((guestly.bodies[0] as Record<string, unknown>).ignoreCalendar, undefined);
});

Deno.test("a 409 without the calendar code is an ordinary permanent failure", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([status(409, { error: { code: "DUPLICATE", message: "x" } })]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.ok(result.outcome === "failed" && result.final);
  assert.equal(result.errorKind, undefined);
  assert.equal(store.failures[0].errorKind, undefined);
  assert.deepEqual(store.attempts.map((a) => a.outcome), ["permanent"]);
});

Deno.test("a create declined with 401 for taken nights (Guesty's documented decline) is a conflict and keeps the token", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([status(401, BLOCKED)]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.ok(result.outcome === "failed" && result.final);
  assert.equal(result.errorKind, "conflict");
  assert.deepEqual(store.attempts.map((a) => [a.operation, a.outcome]), [["create", "conflict"]]);
  assert.equal(guestly.requests.length, 1, "one create, no re-send with a new token");
  assert.equal(guestly.tokensMinted, 1, "no token burnt");
});

Deno.test("a 401 naming another refusal (the listing's terms) is final; only UNAUTHORIZED re-mints", async () => {
  const store = new MemoryStore(bookingRow());
  const terms = { error: { code: "TERMS_VIOLATION", message: "minimum stay is 5 nights" } };
  const guestly = new FakeGuestly([status(401, terms)]);
  const { deps } = testDeps(store, guestly);
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.ok(result.outcome === "failed" && result.final);
  assert.match(result.error, /minimum stay/);
  assert.deepEqual(store.attempts.map((a) => a.outcome), ["permanent"]);
  assert.equal(guestly.tokensMinted, 1);

  const expired = new MemoryStore(bookingRow());
  const again = new FakeGuestly([
    status(401, { error: { code: "UNAUTHORIZED", message: "access token expired" } }),
    created("65after"),
    ...referenceSet("65after"),
  ]);
  const second = testDeps(expired, again);
  assert.equal((await syncBookingToGuestly(expired.row!.id, second.deps)).outcome, "synced");
  assert.equal(again.tokensMinted, 2, "an expired token is replaced");
});

Deno.test("retry with ignoreCalendar sends ignoreCalendar: true; a plain retry does not", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([
    status(409, BLOCKED),
    status(409, BLOCKED),
    created("65forced"),
    ...referenceSet("65forced"),
  ]);
  const { deps } = testDeps(store, guestly);
  await syncBookingToGuestly(store.row!.id, deps);
  const plain = await retryFailedSync(store.row!.id, deps);
  assert.ok(plain.outcome === "failed" && plain.errorKind === "conflict");
  const forced = await retryFailedSync(store.row!.id, deps, undefined, { ignoreCalendar: true });
  assert.equal(forced.outcome, "synced");
  const bodies = guestly.bodies as Record<string, unknown>[];
  assert.deepEqual(bodies.slice(0, 3).map((b) => b.ignoreCalendar), [undefined, undefined, true]);
  assert.equal(store.row!.guestly_reservation_id, "65forced");
});

Deno.test("guestly-sync's body: ignoreCalendar only with manual", () => {
  assert.equal(
    SyncRequest.safeParse({ bookingId: BOOKING, manual: true, ignoreCalendar: true }).success,
    true,
  );
  const refused = SyncRequest.safeParse({ bookingId: BOOKING, ignoreCalendar: true });
  assert.equal(refused.success, false);
  assert.deepEqual(refused.error?.issues[0].path, ["ignoreCalendar"]);
});

Deno.test("sync:retry --ignore-calendar: per booking id, never with --all-failed", () => {
  assert.deepEqual(parseArgs([BOOKING, "--ignore-calendar"]), {
    kind: "ids",
    bookingIds: [BOOKING],
    ignoreCalendar: true,
  });
  assert.deepEqual(parseArgs([BOOKING]), {
    kind: "ids",
    bookingIds: [BOOKING],
    ignoreCalendar: false,
  });
  assert.equal(parseArgs(["--ignore-calendar"]).kind, "error");
  assert.equal(parseArgs(["--all-failed", "--ignore-calendar"]).kind, "error");
  const line = describeResult(BOOKING, 200, {
    outcome: "failed",
    final: true,
    error: "dates not available in Guestly: …",
    errorKind: "conflict",
  });
  assert.equal(line.code, 2);
  assert.match(line.line, /double booking/);
  assert.match(line.line, /--ignore-calendar/);
});

function doubleBookingContext(livemode: boolean | null): AlertContext {
  return {
    alert: {
      id: "a1e70000-0000-4000-8000-00000000000b",
      kind: "double_booking",
      booking_id: BOOKING,
      details: {
        error: "dates not available in Guestly: Guestly HTTP 409: …",
        error_kind: "conflict",
        permanent: true,
        livemode,
        conflict: calendarConflict(409, JSON.stringify(BLOCKED)),
      },
      created_at: "2026-12-02T12:00:00Z",
    },
    booking: {
      id: BOOKING,
      status: "confirmed",
      guest_first_name: "Ada",
      guest_last_name: "Lovelace",
      guest_email: "ada@example.com",
      check_in: "2027-02-01",
      check_out: "2027-02-05",
      guests_count: 2,
      amount_total: 64000,
      currency: "eur",
      stripe_payment_intent_id: "pi_3QxYzAbCdEf",
      property_name: "Ocean View Loft",
    },
    attempts_total: 1,
    attempts: [],
  };
}

Deno.test("double-booking email: subject, blockers, guest and amount, the three ways out", () => {
  const email = renderAlertEmail(doubleBookingContext(false), null);
  assert.match(email.subject, /Double booking: Ocean View Loft, 2027-02-01 → 2027-02-05/);
  for (
    const expected of [
      "HMABC123",
      "airbnb2",
      "2027-02-03 → 2027-02-06",
      "Maria Garcia",
      "Ada Lovelace",
      "ada@example.com",
      "€640.00",
      "Refund the guest in Stripe",
      "https://dashboard.stripe.com/test/payments/pi_3QxYzAbCdEf",
      "Move the guest",
      "follows to Guestly by itself",
      "no reservation holds the booking there",
      `npm run sync:retry -- ${BOOKING} --ignore-calendar`,
      `select guestly_retry_sync('${BOOKING}', ignore_calendar => true);`,
      "Nights taken: 2027-02-03, 2027-02-04",
    ]
  ) {
    assert.ok(email.text.includes(expected), `text lacks ${expected}:\n${email.text}`);
  }
  assert.ok(email.html.includes("HMABC123") && email.html.includes("<code>npm run sync:retry"));
  // Live payments link to the live dashboard.
  assert.ok(
    renderAlertEmail(doubleBookingContext(true), null).text.includes(
      "https://dashboard.stripe.com/payments/pi_3QxYzAbCdEf",
    ),
  );
  // Deterministic (Resend's idempotency key needs the same payload).
  assert.deepEqual(renderAlertEmail(doubleBookingContext(false), null), email);
  // Without details from Guestly the email still says where to look.
  const bare = doubleBookingContext(false);
  bare.alert.details = { error: "x" };
  assert.match(renderAlertEmail(bare, null).text, /did not name the reservation/);
  // A change of dates refused: the reservation keeps its earlier nights, and a refund cancels it.
  const moved = doubleBookingContext(false);
  moved.alert.details = { ...moved.alert.details, operation: "update_dates" };
  const movedText = renderAlertEmail(moved, null).text;
  assert.match(movedText, /also cancels its reservation in Guestly/);
  assert.ok(!movedText.includes("no reservation holds the booking there"));
});

Deno.test("sync:status shows double bookings apart from other failures", async () => {
  const { formatStatus, statusJson } = await import("../../../scripts/sync-status.ts");
  const asOf = new Date("2026-12-02T12:00:00Z");
  const overview = {
    pending: 0,
    synced: 5,
    failed: 2,
    failed_final: 2,
    failed_conflict: 1,
    awaiting_payment: 0,
    oldest_pending_since: null,
    alerts_sent: 2,
    alerts_waiting: 0,
    alerts_failing: 0,
    oldest_unsent_alert_at: null,
    last_alert_error: null,
    as_of: asOf,
  };
  const failure = (id: string, kind: string | null, error: string) => ({
    booking_id: id,
    booking_status: "confirmed",
    guest_name: "Ada Lovelace",
    property_name: "Ocean View Loft",
    attempts: 1,
    last_error: error,
    last_http_status: 409,
    last_attempt_at: asOf,
    next_attempt_at: null,
    gave_up_at: asOf,
    alerted_at: asOf,
    alert_sent_at: asOf,
    error_kind: kind,
    check_in: "2027-02-01",
    check_out: "2027-02-05",
  });
  const other = "5eed0000-0000-4000-8000-000000000002";
  const text = formatStatus(overview, [
    failure(BOOKING, "conflict", "dates not available in Guestly: HMABC123"),
    failure(other, "permanent", "Guestly HTTP 422: guest.email: rejected"),
  ]);
  assert.match(text, /of which double bookings\s+1/);
  assert.match(text, /!!! Double bookings \(1\)/);
  assert.match(text, /dates 2027-02-01 → 2027-02-05/);
  assert.ok(text.includes(`npm run sync:retry -- ${BOOKING} --ignore-calendar`));
  assert.match(text, /Failed bookings \(1, double bookings above\)/);
  const conflictsAt = text.indexOf("!!! Double bookings");
  assert.ok(text.indexOf(other) > text.indexOf("Failed bookings (1"), "the other failure below");
  assert.ok(text.indexOf(BOOKING) > conflictsAt && text.indexOf(BOOKING) < text.indexOf(other));
  assert.equal(statusJson(overview, []).bookings.failed_conflict, 1);
});

Deno.test("a conflict after an unknown create looks up first: our own late commit is bound, not a double booking", async () => {
  const store = new MemoryStore(bookingRow());
  // Committed without our reference (the create cannot carry it): ours by its stay and guest.
  const row = store.row!;
  const ours = {
    _id: "65late",
    confirmationCode: "GY-late",
    status: "confirmed",
    source: "website",
    listingId: row.guestly_listing_id,
    checkInDateLocalized: row.check_in,
    checkOutDateLocalized: row.check_out,
    guest: {
      firstName: "Zoë",
      lastName: "O'Brien",
      email: row.guest_email,
      phones: ["+447700900123"],
    },
  };
  const guestly = new FakeGuestly([
    status(502), // the first create: unknown
    () => Response.json({ results: [], count: 0 }), // looked up: not there yet
    status(409, BLOCKED), // the second create meets the first one's nights
    () => Response.json({ results: [ours], count: 1 }), // looked up again: it is ours
    ...referenceSet("65late"),
  ]);
  const { deps, clock } = testDeps(store, guestly);
  await syncBookingToGuestly(store.row!.id, deps);
  clock.now += 60_000;
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.equal(result.outcome, "synced");
  assert.equal(result.outcome === "synced" && result.reservationId, "65late");
  assert.equal(store.alerts, 0, "no double-booking alert");
  assert.deepEqual(guestly.requests.map((r) => r.method).slice(0, 4), [
    "POST",
    "GET",
    "POST",
    "GET",
  ]);
});

Deno.test("a conflict after an unknown create whose lookup finds nothing of ours stands", async () => {
  const store = new MemoryStore(bookingRow());
  const guestly = new FakeGuestly([
    status(502),
    () => Response.json({ results: [], count: 0 }),
    status(409, BLOCKED),
    () => Response.json({ results: [], count: 0 }),
  ]);
  const { deps, clock } = testDeps(store, guestly);
  await syncBookingToGuestly(store.row!.id, deps);
  clock.now += 60_000;
  const result = await syncBookingToGuestly(store.row!.id, deps);
  assert.ok(result.outcome === "failed" && result.final && result.errorKind === "conflict");
  assert.equal(store.alerts, 1);
});
