// Changing a reservation (reservations v3): new dates, guest count, another listing, and the
// guest's details on the guest profile; each checked like a create and open to commit faults.
import assert from "node:assert/strict";
import {
  call,
  createReservation,
  L1,
  L2,
  requestCount,
  ROOMY,
  setFaults,
  token,
  withSandbox,
} from "./helpers.ts";

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("dates: a free change re-prices per night; taken nights -> 409 with the blocker; ignoreCalendar overrides", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const mine = await createReservation(sb, t, {
      checkInDateLocalized: "2031-05-10",
      checkOutDateLocalized: "2031-05-14",
    });
    const other = await createReservation(sb, t, {
      checkInDateLocalized: "2031-05-16",
      checkOutDateLocalized: "2031-05-18",
      source: "airbnb2",
    });
    const path = `/v1/reservations-v3/${mine._id}/dates`;
    await pause(5);

    // Extended by two nights, overlapping its own old nights (never a conflict with itself).
    const ok = await call(sb, "PUT", path, {
      token: t,
      body: { checkInDateLocalized: "2031-05-10", checkOutDateLocalized: "2031-05-16" },
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.checkOutDateLocalized, "2031-05-16");
    assert.equal(ok.body.money.fareAccommodation, 720.75); // 480.50 / 4 nights * 6
    assert.equal(ok.body.money.balanceDue, 720.75);
    assert.ok(ok.body.lastUpdatedAt > mine.lastUpdatedAt);
    const read = await call(sb, "GET", `/v1/reservations/${mine._id}`, { token: t });
    assert.equal(read.body.checkOutDateLocalized, "2031-05-16");
    assert.equal(await requestCount(sb, "PUT", path), 1);

    // Only the check-out moves into the other stay's nights.
    const clash = await call(sb, "PUT", path, {
      token: t,
      body: { checkOutDateLocalized: "2031-05-17" },
    });
    assert.equal(clash.status, 409, clash.text);
    assert.equal(clash.body.error.code, "LISTING_CALENDAR_BLOCKED");
    assert.deepEqual(clash.body.error.data.blockedDates, ["2031-05-16"]);
    assert.equal(clash.body.error.data.conflicts[0].reservationId, other._id);
    assert.equal(clash.body.error.data.checkInDateLocalized, "2031-05-10");
    const unchanged = await call(sb, "GET", `/v1/reservations/${mine._id}`, { token: t });
    assert.equal(unchanged.body.checkOutDateLocalized, "2031-05-16");
    const log = (await call(sb, "GET", `/__sandbox/requests?method=PUT&path=${path}`)).body;
    assert.deepEqual(log.map((e: { committed: boolean }) => e.committed), [true, false]);

    const forced = await call(sb, "PUT", path, {
      token: t,
      body: { checkOutDateLocalized: "2031-05-17", ignoreCalendar: true },
    });
    assert.equal(forced.status, 200, forced.text);
    assert.equal(forced.body.checkOutDateLocalized, "2031-05-17");
  });
});

Deno.test("dates: validation 422 names the field; canceled -> 422 not modifiable; unknown -> 404; an inquiry skips the calendar", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const r = await createReservation(sb, t, {
      checkInDateLocalized: "2031-06-10",
      checkOutDateLocalized: "2031-06-12",
    });
    const path = `/v1/reservations-v3/${r._id}/dates`;
    const cases: [unknown, string][] = [
      [{}, "checkInDateLocalized"],
      [{ checkInDateLocalized: "2031-02-30" }, "checkInDateLocalized"],
      [{ checkOutDateLocalized: "10/06/2031" }, "checkOutDateLocalized"],
      [{ checkOutDateLocalized: "2031-06-10" }, "checkOutDateLocalized"],
      [{ checkInDateLocalized: "2031-06-11", ignoreCalendar: "yes" }, "ignoreCalendar"],
    ];
    for (const [body, field] of cases) {
      const bad = await call(sb, "PUT", path, { token: t, body });
      assert.equal(bad.status, 422, `${JSON.stringify(body)}: ${bad.text}`);
      assert.equal(bad.body.error.code, "VALIDATION_ERROR");
      assert.equal(bad.body.error.field, field);
    }

    const missing = await call(sb, "PUT", "/v1/reservations-v3/64f1a2b3c4d5e6f7a8b9ffff/dates", {
      token: t,
      body: { checkInDateLocalized: "2031-06-11" },
    });
    assert.equal(missing.status, 404);
    assert.equal(missing.body, "Reservation not found");
    assert.equal((await call(sb, "GET", path, { token: t })).status, 405);

    // An inquiry takes no nights, so its dates may sit on a confirmed stay.
    const inquiry = await createReservation(sb, t, {
      status: "inquiry",
      checkInDateLocalized: "2031-07-01",
      checkOutDateLocalized: "2031-07-03",
    });
    const onTop = await call(sb, "PUT", `/v1/reservations-v3/${inquiry._id}/dates`, {
      token: t,
      body: { checkInDateLocalized: "2031-06-10", checkOutDateLocalized: "2031-06-12" },
    });
    assert.equal(onTop.status, 200, onTop.text);

    await call(sb, "PUT", `/v1/reservations-v3/${r._id}/status`, {
      token: t,
      body: { status: "canceled" },
    });
    const canceled = await call(sb, "PUT", path, {
      token: t,
      body: { checkInDateLocalized: "2031-06-11" },
    });
    assert.equal(canceled.status, 422, canceled.text);
    assert.equal(canceled.body.error.code, "RESERVATION_NOT_MODIFIABLE");
    assert.equal(canceled.body.error.field, "status");
    const after = await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t });
    assert.equal(after.body.checkInDateLocalized, "2031-06-10");
  });
});

Deno.test("guests: the count and breakdown change, money stays; bad counts -> 422 naming the field", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const r = await createReservation(sb, t);
    const path = `/v1/reservations-v3/${r._id}/guests`;
    const breakdown = { numberOfAdults: 2, numberOfChildren: 1 };
    const ok = await call(sb, "PUT", path, {
      token: t,
      body: { guestsCount: 3, numberOfGuests: breakdown },
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.guestsCount, 3);
    assert.deepEqual(ok.body.numberOfGuests, breakdown);
    assert.equal(ok.body.money.fareAccommodation, 480.5);
    const read = await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t });
    assert.equal(read.body.guestsCount, 3);

    const cases: [unknown, string][] = [
      [{}, "guestsCount"],
      [{ guestsCount: 0 }, "guestsCount"],
      [{ guestsCount: "3" }, "guestsCount"],
      [{ guestsCount: 2.5 }, "guestsCount"],
      [{ guestsCount: 2, numberOfGuests: { numberOfPets: -1 } }, "numberOfGuests.numberOfPets"],
    ];
    for (const [body, field] of cases) {
      const bad = await call(sb, "PUT", path, { token: t, body });
      assert.equal(bad.status, 422, `${JSON.stringify(body)}: ${bad.text}`);
      assert.equal(bad.body.error.field, field);
    }
    assert.equal(
      (await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t })).body
        .guestsCount,
      3,
    );
  });
});

Deno.test("relocate: to a free listing moves the nights; a taken one -> 409; unknown listing -> 422", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const stay = { checkInDateLocalized: "2031-08-01", checkOutDateLocalized: "2031-08-05" };
    const r = await createReservation(sb, t, stay);
    const path = `/v1/reservations-v3/${r._id}/relocate`;

    const moved = await call(sb, "PUT", path, { token: t, body: { listingId: L2 } });
    assert.equal(moved.status, 200, moved.text);
    assert.equal(moved.body.listingId, L2);
    assert.equal(moved.body.money.fareAccommodation, 480.5);
    const calendars = (await call(sb, "GET", "/__sandbox/calendars")).body;
    assert.deepEqual(calendars[L1], []);
    assert.deepEqual(calendars[L2].map((x: { _id: string }) => x._id), [r._id]);

    // L1 is booked meanwhile; moving back clashes unless forced.
    const blocker = await createReservation(sb, t, { ...stay, listingId: L1, source: "airbnb2" });
    const back = await call(sb, "PUT", path, { token: t, body: { listingId: L1 } });
    assert.equal(back.status, 409, back.text);
    assert.equal(back.body.error.code, "LISTING_CALENDAR_BLOCKED");
    assert.equal(back.body.error.data.listingId, L1);
    assert.equal(back.body.error.data.conflicts[0].reservationId, blocker._id);
    const forced = await call(sb, "PUT", path, {
      token: t,
      body: { listingId: L1, ignoreCalendar: true },
    });
    assert.equal(forced.status, 200, forced.text);
    assert.equal(forced.body.listingId, L1);

    const unknown = await call(sb, "PUT", path, { token: t, body: { listingId: "nope" } });
    assert.equal(unknown.status, 422);
    assert.equal(unknown.body.error.field, "listingId");
    const none = await call(sb, "PUT", path, { token: t, body: {} });
    assert.equal(none.body.error.field, "listingId");
    const missing = await call(sb, "PUT", "/v1/reservations-v3/64f1a2b3c4d5e6f7a8b9ffff/relocate", {
      token: t,
      body: { listingId: L2 },
    });
    assert.equal(missing.status, 404);
    assert.equal(missing.body, "Reservation not found");
  });
});

Deno.test("guest details: PUT /guests-crud/{guestId} shows on the reservation; a rejected email -> 422, fixed -> 200", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const r = await createReservation(sb, t);
    const path = `/v1/guests-crud/${r.guestId}`;
    await setFaults(sb, { rejectGuestEmails: ["Typo@Example.con"] });

    const rejected = await call(sb, "PUT", path, {
      token: t,
      body: { lastName: "King", email: "typo@example.con", tags: [] },
    });
    assert.equal(rejected.status, 422, rejected.text);
    assert.equal(rejected.body.error.field, "email");
    assert.equal(rejected.body.error.message, "email: rejected by Guestly");
    let read = await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t });
    assert.equal(read.body.guest.lastName, "Lovelace"); // nothing of the refused change landed

    const fixed = await call(sb, "PUT", path, {
      token: t,
      body: { lastName: "King", email: "ada.king@example.com", phone: "+14155550100", tags: [] },
    });
    assert.equal(fixed.status, 200, fixed.text);
    assert.equal(fixed.body._id, r.guestId);
    assert.equal(fixed.body.fullName, "Ada King");
    assert.deepEqual(fixed.body.phones, ["+14155550100"]); // the new main phone replaced the old
    read = await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t });
    assert.equal(read.body.guestId, r.guestId);
    assert.equal(read.body.guest.firstName, "Ada");
    assert.equal(read.body.guest.lastName, "King");
    assert.equal(read.body.guest.email, "ada.king@example.com");
    assert.deepEqual(read.body.guest.phones, ["+14155550100"]);
    const more = await call(sb, "PUT", path, {
      token: t,
      body: { phones: ["+447700900999"], tags: ["vip"] },
    });
    // `phones` are the additional numbers: the main one stays first.
    assert.deepEqual(more.body.phones, ["+14155550100", "+447700900999"]);
    assert.equal(more.body.phone, "+14155550100");
    assert.deepEqual(more.body.tags, ["vip"]);
    assert.equal((await call(sb, "GET", path, { token: t })).body.email, "ada.king@example.com");

    const log = (await call(sb, "GET", `/__sandbox/requests?method=PUT&path=${path}`)).body;
    const firstTwo = log.slice(0, 2);
    assert.deepEqual(firstTwo.map((e: { fault: string | null }) => e.fault), [
      "rejectGuestEmail",
      null,
    ]);
    assert.deepEqual(firstTwo.map((e: { reservationId: string | null }) => e.reservationId), [
      null,
      r._id,
    ]);

    const cases: [unknown, string][] = [
      [{}, "tags"],
      [{ firstName: "A", tags: ["gold"] }, "tags"],
      [{ firstName: " ", tags: [] }, "firstName"],
      [{ email: "not-an-email", tags: [] }, "email"],
      [{ phone: "07700 900123", tags: [] }, "phone"],
      [{ phones: ["+14155550100", "12"], tags: [] }, "phones[1]"],
    ];
    for (const [body, field] of cases) {
      const bad = await call(sb, "PUT", path, { token: t, body });
      assert.equal(bad.status, 422, `${JSON.stringify(body)}: ${bad.text}`);
      assert.equal(bad.body.error.field, field);
    }
    const unknown = await call(sb, "PUT", "/v1/guests-crud/64f1a2b3c4d5e6f7a8b9ffff", {
      token: t,
      body: { firstName: "X", tags: [] },
    });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body, "Guest not found");
  });
});

Deno.test("commit faults apply to changes: a dates change commits and is answered 502; relocate under commitThenError", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const r = await createReservation(sb, t, {
      checkInDateLocalized: "2031-09-01",
      checkOutDateLocalized: "2031-09-03",
    });
    await setFaults(sb, { failNext: [{ status: 502, commit: true }] });
    const path = `/v1/reservations-v3/${r._id}/dates`;
    const lied = await call(sb, "PUT", path, {
      token: t,
      body: { checkOutDateLocalized: "2031-09-04" },
    });
    assert.equal(lied.status, 502);
    assert.match(lied.text, /502 Bad Gateway/);
    const read = await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t });
    assert.equal(read.body.checkOutDateLocalized, "2031-09-04");
    const [entry] = (await call(sb, "GET", `/__sandbox/requests?path=${path}`)).body;
    assert.equal(entry.fault, "failNext(502,commit)");
    assert.equal(entry.committed, true);
    assert.equal(entry.reservationId, r._id);

    await setFaults(sb, { commitThenErrorRate: 1, commitThenErrorStatuses: [503] });
    const moved = await call(sb, "PUT", `/v1/reservations-v3/${r._id}/relocate`, {
      token: t,
      body: { listingId: L2 },
    });
    assert.equal(moved.status, 503);
    assert.equal(moved.headers.get("X-RateLimit-Limit-Second"), null);
    await setFaults(sb, { commitThenErrorRate: 0 });
    const after = await call(sb, "GET", `/v1/reservations/${r._id}`, { token: t });
    assert.equal(after.body.listingId, L2);
  });
});
