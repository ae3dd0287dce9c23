// Calendars: overlapping stays refused as Guesty refuses them, holds that expire, the
// availability calendar, OTA reservations from the admin API.
import assert from "node:assert/strict";
import { booking, call, L1, L2, ROOMY, token, withSandbox } from "./helpers.ts";

const stay = (checkIn: string, checkOut: string) => ({
  checkInDateLocalized: checkIn,
  checkOutDateLocalized: checkOut,
});

Deno.test("calendar: an overlapping create is refused with the blocking reservation; check-out day is free", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const first = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking(stay("2030-03-10", "2030-03-14")),
    });
    assert.equal(first.status, 201, first.text);
    const clash = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({ ...stay("2030-03-12", "2030-03-16"), guest: { ...booking().guest } }),
    });
    assert.equal(clash.status, 409, clash.text);
    assert.equal(clash.body.error.code, "LISTING_CALENDAR_BLOCKED");
    assert.deepEqual(clash.body.error.data.blockedDates, ["2030-03-12", "2030-03-13"]);
    const [conflict] = clash.body.error.data.conflicts;
    assert.equal(conflict.reservationId, first.body._id);
    assert.equal(conflict.confirmationCode, first.body.confirmationCode);
    assert.equal(conflict.source, "direct-site");
    assert.equal(conflict.guestName, "Ada Lovelace");
    // Nothing was stored, and the refusal is logged as not committed.
    assert.equal((await call(sb, "GET", "/__sandbox/reservations")).body.length, 1);
    const log = (await call(sb, "GET", "/__sandbox/requests")).body;
    assert.equal(log.at(-1).committed, false);
    // Check-out day 14th is free for the next check-in; another listing is unaffected.
    const after = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking(stay("2030-03-14", "2030-03-15")),
    });
    assert.equal(after.status, 201, after.text);
    const before = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking(stay("2030-03-08", "2030-03-10")),
    });
    assert.equal(before.status, 201, before.text);
    const other = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({ ...stay("2030-03-10", "2030-03-14"), listingId: L2 }),
    });
    assert.equal(other.status, 201, other.text);
  });
});

Deno.test("calendar: ignoreCalendar skips the check; inquiries and canceled reservations take no nights", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const dates = stay("2030-04-01", "2030-04-05");
    const first = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking(dates) });
    assert.equal(first.status, 201);
    const forced = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({ ...dates, ignoreCalendar: true }),
    });
    assert.equal(forced.status, 201, forced.text);
    assert.equal(forced.body.ignoreCalendar, true);
    const inquiry = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({ ...dates, status: "inquiry" }),
    });
    assert.equal(inquiry.status, 201, inquiry.text);
    const bad = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({ ...dates, ignoreCalendar: "yes" }),
    });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.field, "ignoreCalendar");
    // Cancel both live ones: the nights are free again, and re-confirming one checks them.
    for (const r of [first.body, forced.body]) {
      const c = await call(sb, "PUT", `/v1/reservations-v3/${r._id}/status`, {
        token: t,
        body: { status: "canceled" },
      });
      assert.equal(c.status, 200);
    }
    const fresh = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking(dates) });
    assert.equal(fresh.status, 201, fresh.text);
    const revive = await call(sb, "PUT", `/v1/reservations-v3/${first.body._id}/status`, {
      token: t,
      body: { status: "confirmed" },
    });
    assert.equal(revive.status, 409, revive.text);
    assert.equal(revive.body.error.data.conflicts[0].reservationId, fresh.body._id);
  });
});

Deno.test("calendar: a reserved hold blocks until reservedUntil, then expires and frees the nights", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const dates = stay("2030-05-01", "2030-05-03");
    const hold = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({ ...dates, status: "reserved", reservedUntil: 0.0003 }), // ≈ 1 s
    });
    assert.equal(hold.status, 201, hold.text);
    assert.ok(hold.body.reservedUntilAt);
    const during = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking(dates),
    });
    assert.equal(during.status, 409, during.text);
    assert.equal(during.body.error.data.conflicts[0].status, "reserved");
    const forever = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({ ...stay("2030-06-01", "2030-06-03"), status: "reserved", reservedUntil: -1 }),
    });
    assert.equal(forever.body.reservedUntilAt, null);
    const bad = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({ ...stay("2030-07-01", "2030-07-03"), status: "reserved", reservedUntil: 0 }),
    });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.field, "reservedUntil");
    await new Promise((r) => setTimeout(r, 1300));
    const after = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking(dates) });
    assert.equal(after.status, 201, after.text);
    const lapsed = await call(sb, "GET", `/v1/reservations/${hold.body._id}`, { token: t });
    assert.equal(lapsed.body.status, "expired");
    const still = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking(stay("2030-06-02", "2030-06-04")),
    });
    assert.equal(still.status, 409, "a hold without expiry keeps blocking");
  });
});

Deno.test("calendar API: blocked days in Guesty's shape; OTA reservations through the admin API", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const ota = await call(sb, "POST", "/__sandbox/ota-reservations", {
      body: {
        listingId: L1,
        checkIn: "2030-08-02",
        checkOut: "2030-08-04",
        source: "airbnb2",
        guestName: "Maria Garcia",
      },
    });
    assert.equal(ota.status, 201, ota.text);
    assert.equal(ota.body.source, "airbnb2");
    const again = await call(sb, "POST", "/__sandbox/ota-reservations", {
      body: { listingId: L1, checkIn: "2030-08-03", checkOut: "2030-08-05" },
    });
    assert.equal(again.status, 409, "an OTA reservation meets the same calendar");
    const badOta = await call(sb, "POST", "/__sandbox/ota-reservations", {
      body: { listingId: L1, checkIn: "2030-08-10" },
    });
    assert.equal(badOta.status, 422);
    assert.equal(badOta.body.error.field, "checkOutDateLocalized");
    const hold = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({ ...stay("2030-08-04", "2030-08-05"), status: "reserved", reservedUntil: 1 }),
    });
    assert.equal(hold.status, 201);
    const cal = await call(
      sb,
      "GET",
      `/v1/availability-pricing/api/calendar/listings/${L1}?startDate=2030-08-01&endDate=2030-08-05`,
      { token: t },
    );
    assert.equal(cal.status, 200, cal.text);
    const days = cal.body.data.days;
    assert.deepEqual(
      days.map((d: { date: string; status: string }) => `${d.date}:${d.status}`),
      [
        "2030-08-01:available",
        "2030-08-02:booked",
        "2030-08-03:booked",
        "2030-08-04:reserved",
        "2030-08-05:available",
      ],
    );
    assert.equal(days[1].blocks.b, true);
    assert.equal(days[3].blocks.r, true);
    assert.equal(days[1].reservationId, ota.body._id);
    assert.equal(days[1].reservation.confirmationCode, ota.body.confirmationCode);
    const unknown = await call(
      sb,
      "GET",
      "/v1/availability-pricing/api/calendar/listings/nope?startDate=2030-08-01&endDate=2030-08-02",
      { token: t },
    );
    assert.equal(unknown.status, 404);
    const badRange = await call(
      sb,
      "GET",
      `/v1/availability-pricing/api/calendar/listings/${L1}?startDate=2030-08-01`,
      { token: t },
    );
    assert.equal(badRange.status, 400);
    assert.match(badRange.body.error.message, /endDate/);
    const noAuth = await call(
      sb,
      "GET",
      `/v1/availability-pricing/api/calendar/listings/${L1}?startDate=2030-08-01&endDate=2030-08-02`,
    );
    assert.equal(noAuth.status, 401);
    // The inspector shows each listing's calendar and the OTA form.
    const html = await (await fetch(`${sb.url}/__sandbox/`)).text();
    assert.ok(html.includes(ota.body.confirmationCode) && html.includes("airbnb2"));
    assert.ok(html.includes('action="/__sandbox/ota-reservations/form"'));
    const form = await fetch(`${sb.url}/__sandbox/ota-reservations/form`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        listingId: L2,
        checkIn: "2030-09-01",
        checkOut: "2030-09-03",
        source: "bookingcom",
      }),
      redirect: "manual",
    });
    await form.body?.cancel();
    assert.equal(form.status, 303);
    const cals = (await call(sb, "GET", "/__sandbox/calendars")).body;
    assert.equal(cals[L2][0].source, "bookingcom");
  });
});

Deno.test("calendar: a lying gateway can commit a create and answer 502; the conflict shows on the next try", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const dates = stay("2030-10-01", "2030-10-04");
    await call(sb, "POST", "/__sandbox/faults", {
      body: { failNext: [{ status: 502, commit: true }] },
    });
    const lied = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking(dates) });
    assert.equal(lied.status, 502);
    const [stored] = (await call(sb, "GET", "/__sandbox/reservations")).body;
    assert.equal(stored.checkInDateLocalized, "2030-10-01", "the create was committed");
    const resend = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking(dates),
    });
    assert.equal(resend.status, 409);
    assert.equal(resend.body.error.data.conflicts[0].reservationId, stored._id);
    // A commit fault on a create that conflicts: the backend refused, the gateway still says 502.
    await call(sb, "POST", "/__sandbox/faults", {
      body: { failNext: [{ status: 502, commit: true }] },
    });
    const hidden = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking(dates),
    });
    assert.equal(hidden.status, 502);
    const log = (await call(sb, "GET", "/__sandbox/requests")).body;
    assert.equal(log.at(-1).committed, false);
    assert.equal((await call(sb, "GET", "/__sandbox/reservations")).body.length, 1);
  });
});

Deno.test("lapse-hold: a hold's time runs out now, its nights are free, confirming it re-checks them", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const dates = stay("2030-09-01", "2030-09-04");
    const hold = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({ ...dates, status: "reserved", reservedUntil: 0.17 }),
    });
    assert.equal(hold.status, 201, hold.text);
    const lapsed = await call(sb, "POST", `/__sandbox/reservations/${hold.body._id}/lapse-hold`);
    assert.equal(lapsed.status, 200, lapsed.text);
    assert.equal(lapsed.body.status, "expired");
    const again = await call(sb, "POST", `/__sandbox/reservations/${hold.body._id}/lapse-hold`);
    assert.equal(again.status, 409, "only a live hold can lapse");
    // A channel takes the nights; confirming the lapsed hold is refused like a create.
    const ota = await call(sb, "POST", "/__sandbox/ota-reservations", {
      body: { listingId: L1, checkIn: "2030-09-02", checkOut: "2030-09-05" },
    });
    assert.equal(ota.status, 201, ota.text);
    const confirm = await call(sb, "PUT", `/v1/reservations-v3/${hold.body._id}/status`, {
      token: t,
      body: { status: "confirmed" },
    });
    assert.equal(confirm.status, 409, confirm.text);
    assert.equal(confirm.body.error.code, "LISTING_CALENDAR_BLOCKED");
  });
});
