// The reconciliation's drift classifier: each kind of drift, which are healed and how, and what
// is left alone (the sync at work, changes too fresh to judge, reservations that ended).
import assert from "node:assert/strict";
import {
  type BookingSnapshot,
  classify,
  compareBound,
  type ListedReservation,
} from "../../functions/_shared/reconcile/classify.ts";

const NOW = Date.parse("2026-12-03T09:00:00Z");
const OLD = "2026-12-01T10:00:00Z";
const OPTS = { settleMs: 10 * 60_000, now: NOW };
const B1 = "11111111-1111-4111-8111-111111111111";
const B2 = "22222222-2222-4222-8222-222222222222";
const LISTING = "64f1a2b3c4d5e6f7a8b9c0d1";

const content = {
  listing_id: LISTING,
  check_in: "2027-01-10",
  check_out: "2027-01-13",
  guests_count: 2,
};

function booking(over: Partial<BookingSnapshot> = {}): BookingSnapshot {
  return {
    id: B1,
    status: "confirmed",
    reservation_id: "r1",
    desired: { ...content },
    synced: { ...content },
    synced_status: "confirmed",
    sync_status: "synced",
    in_flight: false,
    updated_at: OLD,
    ...over,
  };
}

function reservation(over: Partial<ListedReservation> = {}): ListedReservation {
  return {
    id: "r1",
    status: "confirmed",
    source: "website",
    listingId: LISTING,
    checkIn: "2027-01-10",
    checkOut: "2027-01-13",
    guestsCount: 2,
    canceledBy: null,
    bookingRef: B1,
    lastUpdatedAt: OLD,
    ...over,
  };
}

Deno.test("in step: no drift", () => {
  assert.equal(compareBound(booking(), reservation(), OPTS), null);
  assert.deepEqual(
    classify({ bookings: [booking()], listed: [reservation()], readById: new Map() }, OPTS),
    [],
  );
});

Deno.test("a reservation deleted in Guestly (404): missing, healed by a resync", () => {
  const item = compareBound(booking(), null, OPTS);
  assert.equal(item?.kind, "missing_in_guestly");
  assert.deepEqual(item?.heal, { kind: "resync" });
  // A cancelled booking whose reservation is gone holds nothing either: no drift.
  assert.equal(
    compareBound(booking({ status: "cancelled", synced_status: "cancelled" }), null, OPTS),
    null,
  );
});

Deno.test("the sync at work, or a change too fresh to judge: left alone", () => {
  assert.equal(compareBound(booking({ in_flight: true }), null, OPTS), null);
  assert.equal(compareBound(booking({ updated_at: "2026-12-03T08:55:00Z" }), null, OPTS), null);
  const fresh = reservation({ status: "canceled", lastUpdatedAt: "2026-12-03T08:58:00Z" });
  assert.equal(compareBound(booking(), fresh, OPTS), null);
  assert.equal(compareBound(booking(), fresh, { ...OPTS, settleMs: 0 })?.kind, "missed_webhook");
});

Deno.test("cancelled in Guestly, the webhook never came: applied as the webhook would have been", () => {
  const item = compareBound(
    booking(),
    reservation({ status: "canceled", canceledBy: "host" }),
    OPTS,
  );
  assert.equal(item?.kind, "missed_webhook");
  assert.equal(item?.heal?.kind, "apply");
  assert.deepEqual(item?.heal?.kind === "apply" && item.heal.stay, {
    status: "canceled",
    check_in: "2027-01-10",
    check_out: "2027-01-13",
    guests_count: 2,
    canceled_by: "host",
  });
  assert.equal(item?.guestlyUpdatedAt, OLD);
  // We never knew Guestly had it confirmed: not a change of Guestly's, an operator looks.
  const unknown = compareBound(
    booking({ synced_status: null }),
    reservation({ status: "canceled" }),
    OPTS,
  );
  assert.equal(unknown?.kind, "status_differs");
  assert.equal(unknown?.heal, null);
});

Deno.test("a status Guestly missed is re-sent: cancelled here but live there, or not confirmed", () => {
  // Our cancellation never reached Guestly (it last knew the stay confirmed): send it again.
  const cancelled = compareBound(
    booking({ status: "cancelled", synced_status: "confirmed" }),
    reservation(),
    OPTS,
  );
  assert.equal(cancelled?.kind, "status_differs");
  assert.deepEqual(cancelled?.heal, { kind: "resend", status: true });
  const held = compareBound(booking(), reservation({ status: "reserved" }), OPTS);
  assert.deepEqual(held?.heal, { kind: "resend", status: true });
  // Ended in Guestly and here: nothing to do.
  assert.equal(
    compareBound(booking({ status: "refunded" }), reservation({ status: "canceled" }), OPTS),
    null,
  );
});

Deno.test("dates changed in Guestly (differs from what the sync left): a missed webhook", () => {
  const item = compareBound(booking(), reservation({ checkOut: "2027-01-15" }), OPTS);
  assert.equal(item?.kind, "missed_webhook");
  assert.equal(item?.heal?.kind, "apply");
  assert.deepEqual(item?.details.differs, ["check_out"]);
  assert.deepEqual(item?.details.booking, { check_out: "2027-01-13" });
  assert.deepEqual(item?.details.guestly, { check_out: "2027-01-15" });
  // Without a record of what Guestly held, the booking is what we sent.
  const noRecord = compareBound(booking({ synced: null }), reservation({ guestsCount: 3 }), OPTS);
  assert.equal(noRecord?.kind, "missed_webhook");
});

Deno.test("our own change never reached Guestly (it holds what we knew): content re-sent", () => {
  const b = booking({ desired: { ...content, guests_count: 4 } });
  const item = compareBound(b, reservation(), OPTS);
  assert.equal(item?.kind, "content_differs");
  assert.deepEqual(item?.heal, { kind: "resend", status: false });
  assert.deepEqual(item?.details.changed_in_guestly, []);
});

Deno.test("moved to another listing in Guestly: reported, never followed on our own", () => {
  const item = compareBound(
    booking(),
    reservation({ listingId: "64f1a2b3c4d5e6f7a8b9c0d2" }),
    OPTS,
  );
  assert.equal(item?.kind, "content_differs");
  assert.equal(item?.heal, null);
});

Deno.test("a live reservation for a booking that is not paid: not ours to hold", () => {
  const item = compareBound(booking({ status: "pending_payment" }), reservation(), OPTS);
  assert.equal(item?.kind, "not_ours");
  assert.equal(item?.details.reason, "booking_not_paid");
});

Deno.test("a hold while the guest pays is no drift; a confirmed reservation for it is", () => {
  const hold = booking({ status: "pending_payment", synced_status: "pending_payment" });
  assert.equal(compareBound(hold, reservation({ status: "reserved" }), OPTS), null);
  assert.equal(compareBound(hold, reservation({ status: "expired" }), OPTS), null);
  assert.equal(compareBound(hold, reservation({ status: "confirmed" }), OPTS)?.kind, "not_ours");
});

Deno.test("a hold the host cancelled, its webhook lost: applied as the webhook would have been", () => {
  for (const status of ["pending_payment", "confirmed"] as const) {
    const hold = booking({ status, synced_status: "pending_payment" });
    for (const guestly of ["canceled", "declined"]) {
      const item = compareBound(hold, reservation({ status: guestly, canceledBy: "host" }), OPTS);
      assert.equal(item?.kind, "missed_webhook", `${status} / ${guestly}`);
      assert.equal(item?.heal?.kind, "apply");
      assert.equal(item?.heal?.kind === "apply" && item.heal.stay.status, guestly);
    }
  }
});

Deno.test("Guestly's side: duplicates, no reference, no such booking; ended ones are ignored", () => {
  const items = classify({
    bookings: [booking()],
    listed: [
      reservation(),
      reservation({ id: "r2" }),
      reservation({ id: "r3", bookingRef: null, checkOut: "2027-03-09" }),
      reservation({ id: "r4", bookingRef: B2 }),
      reservation({ id: "r5", bookingRef: "not-a-uuid" }),
      reservation({ id: "r6", status: "canceled" }),
      // No reference set, on the stay of a booking bound to r1: a second one of ours.
      reservation({ id: "r7", bookingRef: null }),
    ],
    readById: new Map(),
  }, OPTS);
  assert.deepEqual(items.map((i) => [i.kind, i.reservationId, i.details.reason ?? null]), [
    ["duplicate", "r2", null],
    ["not_ours", "r3", "no_booking_reference"],
    ["not_ours", "r4", "no_booking_holds_it"],
    ["not_ours", "r5", "no_booking_reference"],
    ["duplicate", "r7", "same_stay_without_reference"],
  ]);
  assert.ok(items.every((i) => i.heal === null), "reported, never healed");
  assert.equal(items[0].details.booking_reservation_id, "r1");
});

Deno.test("bound reservation not listed: read by id (404 → missing), not read → not judged", () => {
  const b = booking();
  const missing = classify(
    { bookings: [b], listed: [], readById: new Map([["r1", null]]) },
    OPTS,
  );
  assert.deepEqual(missing.map((i) => i.kind), ["missing_in_guestly"]);
  const found = classify(
    { bookings: [b], listed: [], readById: new Map([["r1", reservation({ source: "manual" })]]) },
    OPTS,
  );
  assert.deepEqual(found, []);
  assert.deepEqual(classify({ bookings: [b], listed: [], readById: new Map() }, OPTS), []);
});

Deno.test("confirmed without a reservation: resynced (the lookup binds an unbound one of ours)", () => {
  const b = booking({ reservation_id: null, synced: null, synced_status: null });
  const items = classify({
    bookings: [b],
    listed: [reservation({ id: "r9" })],
    readById: new Map(),
  }, OPTS);
  assert.equal(items.length, 1, "the unbound reservation is reported with the booking, once");
  assert.equal(items[0].kind, "missing_in_guestly");
  assert.deepEqual(items[0].heal, { kind: "resync" });
  assert.deepEqual(items[0].details.unbound_reservations, ["r9"]);
  // Its create committed unseen and its reference was never set: known by its stay, reported
  // with the booking (the resync's lookup binds it), never as someone else's reservation.
  const unreferenced = classify({
    bookings: [b],
    listed: [reservation({ id: "r8", bookingRef: null })],
    readById: new Map(),
  }, OPTS);
  assert.deepEqual(unreferenced.map((i) => [i.kind, i.bookingId]), [["missing_in_guestly", B1]]);
  assert.deepEqual(unreferenced[0].details.unbound_reservations, ["r8"]);
  assert.deepEqual(unreferenced[0].heal, { kind: "resync" });
  // A sync that failed for good has its own alert; one in flight is at work.
  assert.deepEqual(
    classify(
      { bookings: [{ ...b, sync_status: "failed" }], listed: [], readById: new Map() },
      OPTS,
    ),
    [],
  );
  assert.deepEqual(
    classify({ bookings: [{ ...b, in_flight: true }], listed: [], readById: new Map() }, OPTS),
    [],
  );
});

Deno.test("a reservation without our reference on the stay of a booking not reported above: reported, naming it", () => {
  const unbound = booking({ reservation_id: null, synced: null, synced_status: null });
  const phantom = reservation({ id: "r8", bookingRef: null });
  // The booking's sync failed (its alert says why, not that Guestly has a reservation of it).
  const failed = classify({
    bookings: [{ ...unbound, sync_status: "failed" }],
    listed: [phantom],
    readById: new Map(),
  }, OPTS);
  assert.deepEqual(failed.map((i) => [i.kind, i.bookingId, i.reservationId]), [
    ["duplicate", B1, "r8"],
  ]);
  assert.equal(failed[0].heal, null, "reported for the operator, never healed");
  assert.equal(failed[0].details.booking_sync_status, "failed");
  // A sync at work on it decides (its lookup binds it): left alone.
  assert.deepEqual(
    classify(
      { bookings: [{ ...unbound, in_flight: true }], listed: [phantom], readById: new Map() },
      OPTS,
    ),
    [],
  );
});

Deno.test("a sync that failed is reported, not healed: a heal would restart it every day", () => {
  // The guest moved to nights Guestly refused (final conflict): Guestly still has the old ones.
  const failed = booking({
    desired: { ...content, check_in: "2027-02-10", check_out: "2027-02-13" },
    sync_status: "failed",
  });
  const [item] = classify(
    { bookings: [failed], listed: [reservation()], readById: new Map() },
    OPTS,
  );
  assert.equal(item.kind, "content_differs");
  assert.equal(item.heal, null);
  // The same drift on a booking whose sync is not failed is healed by re-sending.
  const [healed] = classify(
    {
      bookings: [{ ...failed, sync_status: "synced" }],
      listed: [reservation()],
      readById: new Map(),
    },
    OPTS,
  );
  assert.notEqual(healed.heal, null);
});

Deno.test("a closed reservation is not a stay that ended (as the webhook's apply judges it)", () => {
  // Not a missed cancellation (its apply would change nothing and the drift would come back
  // every day): the confirmation Guestly lacks is re-sent.
  const item = compareBound(booking(), reservation({ status: "closed" }), OPTS);
  assert.equal(item?.kind, "status_differs");
  assert.deepEqual(item?.heal, { kind: "resend", status: true });
});

Deno.test("a reservation the host reinstated after our cancellation is reported, never re-cancelled", () => {
  // Guestly had it cancelled (the sync left it so), then someone in Guestly made it live again.
  for (const status of ["cancelled", "refunded"] as const) {
    const item = compareBound(
      booking({ status, synced_status: status }),
      reservation({ status: "confirmed" }),
      OPTS,
    );
    assert.equal(item?.kind, "status_differs", status);
    assert.equal(item?.heal, null, `${status}: the admin decides`);
    assert.equal(item?.details.reason, "reinstated_in_guestly");
  }
});

Deno.test("an unreferenced reservation on the stay a create sent before the dates moved is the booking's", () => {
  // The create committed behind a lost answer on 2027-01-10..13; the guest then moved the stay.
  const moved = booking({
    reservation_id: null,
    desired: { ...content, check_in: "2027-02-10", check_out: "2027-02-13" },
    synced: null,
    synced_status: null,
    create_keys: [{ listing_id: LISTING, check_in: "2027-01-10", check_out: "2027-01-13" }],
  });
  const items = classify(
    {
      bookings: [moved],
      listed: [reservation({ id: "r9", bookingRef: null })],
      readById: new Map(),
    },
    OPTS,
  );
  assert.deepEqual(items.map((i) => [i.kind, i.reservationId]), [["missing_in_guestly", null]]);
  assert.deepEqual(items[0].details.unbound_reservations, ["r9"]);
});
