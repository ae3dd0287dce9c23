// The sandbox as Guesty's Open API: tokens, auth, rate limits, reservations v3, search, the
// classic faults (errors, hangs, lost answers, 429 storms, failNext) and the admin endpoints.
import assert from "node:assert/strict";
import {
  type Answer,
  booking,
  call,
  CLIENT_ID,
  freshConnections,
  L1,
  L2,
  mint,
  requestCount,
  ROOMY,
  setFaults,
  stored,
  token,
  withSandbox,
} from "./helpers.ts";

Deno.test("token: mint, bad credentials, bad grant/scope, 6th mint -> 429", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const first = await mint(sb);
    assert.equal(first.status, 200);
    assert.equal(first.body.token_type, "Bearer");
    assert.equal(first.body.expires_in, 86400);
    assert.equal(first.body.scope, "open-api");
    assert.ok(typeof first.body.access_token === "string" && first.body.access_token.length > 20);

    const bad = await mint(sb, { client_secret: "nope" });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error, "invalid_client");
    assert.equal((await mint(sb, { grant_type: "password" })).status, 400);
    assert.equal((await mint(sb, { scope: "everything" })).status, 400);

    for (let i = 2; i <= 5; i++) assert.equal((await mint(sb)).status, 200, `mint ${i}`);
    const sixth = await mint(sb);
    assert.equal(sixth.status, 429);
    assert.equal(sixth.body.error.code, "TOO_MANY_REQUESTS");
    const retry = Number(sixth.headers.get("Retry-After"));
    assert.ok(retry > 86000 && retry <= 86400, `Retry-After ${retry}`);

    const stats = (await call(sb, "GET", "/__sandbox/tokens")).body;
    assert.equal(stats.minted, 5);
    assert.equal(stats.active, 5);
    assert.equal(stats.perClient[CLIENT_ID].minted, 5);
  });
});

Deno.test("auth: missing, unknown and expired tokens -> 401", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const none = await call(sb, "GET", "/v1/reservations-v3/search");
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, "UNAUTHORIZED");
    const unknown = await call(sb, "GET", "/v1/reservations-v3/search", { token: "bogus" });
    assert.equal(unknown.status, 401);
    assert.equal(unknown.body.error.code, "UNAUTHORIZED");

    const t = await token(sb);
    assert.equal((await call(sb, "GET", "/v1/reservations-v3/search", { token: t })).status, 200);
    assert.equal((await call(sb, "POST", "/__sandbox/expire-tokens")).status, 200);
    const expired = await call(sb, "GET", "/v1/reservations-v3/search", { token: t });
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error.code, "UNAUTHORIZED");
    assert.equal((await call(sb, "GET", "/__sandbox/tokens")).body.active, 0);
  });
});

Deno.test("rate limit per second -> 429 with headers; rejected requests use no slot", async () => {
  await withSandbox({ limits: { perSecond: 3, perMinute: 100, perHour: 1000 } }, async (sb) => {
    const t = await token(sb);
    const ok = await call(sb, "GET", "/v1/reservations-v3/search", { token: t });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("X-RateLimit-Limit-Second"), "3");
    assert.equal(ok.headers.get("X-RateLimit-Limit-Minute"), "100");
    assert.equal(ok.headers.get("X-RateLimit-Limit-Hour"), "1000");
    assert.equal(ok.headers.get("X-RateLimit-Remaining-Second"), "2");
    assert.equal(ok.headers.get("X-RateLimit-Remaining-Minute"), "99");
    assert.equal(ok.headers.get("X-RateLimit-Remaining-Hour"), "999");
    await call(sb, "GET", "/v1/reservations-v3/search", { token: t });
    await call(sb, "GET", "/v1/reservations-v3/search", { token: t });
    // A second token of the same client shares the account's budget.
    const t2 = await token(sb);
    const limited = await call(sb, "GET", "/v1/reservations-v3/search", { token: t2 });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error.code, "TOO_MANY_REQUESTS");
    assert.equal(limited.headers.get("Retry-After"), "1");
    assert.equal(limited.headers.get("X-RateLimit-Remaining-Second"), "0");
    assert.equal(limited.headers.get("X-RateLimit-Limit-Second"), "3");

    // Rejected requests do not consume: raising the limit to 4 lets exactly one more through.
    assert.equal((await call(sb, "GET", "/v1/x", { token: t })).status, 429);
    await call(sb, "POST", "/__sandbox/config", { body: { limits: { perSecond: 4 } } });
    assert.equal((await call(sb, "GET", "/v1/reservations-v3/search", { token: t })).status, 200);
    assert.equal((await call(sb, "GET", "/v1/reservations-v3/search", { token: t })).status, 429);
  });
});

Deno.test("rate limit per minute -> 429 with Retry-After", async () => {
  await withSandbox({ limits: { perSecond: 100, perMinute: 4, perHour: 1000 } }, async (sb) => {
    const t = await token(sb);
    for (let i = 0; i < 4; i++) {
      assert.equal((await call(sb, "GET", "/v1/reservations-v3/search", { token: t })).status, 200);
    }
    const r = await call(sb, "GET", "/v1/reservations-v3/search", { token: t });
    assert.equal(r.status, 429);
    const retry = Number(r.headers.get("Retry-After"));
    assert.ok(retry >= 58 && retry <= 60, `Retry-After ${retry}`);
    assert.equal(r.headers.get("X-RateLimit-Remaining-Minute"), "0");
    assert.equal(r.headers.get("X-RateLimit-Limit-Minute"), "4");
  });
});

Deno.test("rate limit per hour -> 429 with Retry-After", async () => {
  await withSandbox({ limits: { perSecond: 100, perMinute: 100, perHour: 3 } }, async (sb) => {
    const t = await token(sb);
    for (let i = 0; i < 3; i++) {
      assert.equal((await call(sb, "GET", "/v1/reservations-v3/search", { token: t })).status, 200);
    }
    const r = await call(sb, "GET", "/v1/reservations-v3/search", { token: t });
    assert.equal(r.status, 429);
    const retry = Number(r.headers.get("Retry-After"));
    assert.ok(retry >= 3590 && retry <= 3600, `Retry-After ${retry}`);
    assert.equal(r.headers.get("X-RateLimit-Remaining-Hour"), "0");
    assert.equal(r.headers.get("X-RateLimit-Limit-Hour"), "3");
    // The token endpoint is not rate limited.
    assert.equal((await mint(sb)).status, 200);
  });
});

Deno.test("create -> 201, visible in inspector; Unicode guest names round-trip", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const firstName = 'Zoë 🏖️ "Q" 李小龍';
    const lastName = "O’Brien — d'Artagnan 👨‍👩‍👧";
    const r = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({
        guest: { firstName, lastName, email: "zoe@example.com" },
      }),
    });
    assert.equal(r.status, 201, r.text);
    assert.match(r.body._id, /^[0-9a-f]{24}$/);
    assert.equal(r.body.reservationId, r.body._id);
    assert.match(r.body.confirmationCode, /^GY-[A-Z0-9]{8}$/);
    assert.equal(r.body.status, "confirmed");
    assert.equal(r.body.listingId, L1);
    assert.equal(r.body.guestsCount, 2);
    assert.equal(r.body.source, "direct-site");
    assert.deepEqual(r.body.money, {
      fareAccommodation: 480.5,
      currency: "EUR",
      totalPaid: 0,
      balanceDue: 480.5,
      payments: [],
    });
    assert.match(r.body.guestId, /^[0-9a-f]{24}$/);
    assert.ok(r.body.createdAt && r.body.lastUpdatedAt);
    assert.equal(r.body.guest.firstName, firstName);
    assert.equal(r.body.guest.lastName, lastName);
    // Byte-for-byte in the raw response too.
    assert.ok(r.text.includes(JSON.stringify(firstName).slice(1, -1)));

    const all = await stored(sb);
    assert.equal(all.length, 1);
    // The answer is the stored reservation plus the fields the definition's 201 declares.
    for (const [key, value] of Object.entries(all[0])) assert.deepEqual(r.body[key], value, key);
    assert.equal(r.body.checkInDate, `${r.body.checkInDateLocalized}T15:00:00.000Z`);

    const found = await call(
      sb,
      "GET",
      `/v1/reservations-v3/search?filter[confirmationCode]=${r.body.confirmationCode}`,
      { token: t },
    );
    assert.equal(found.body.results[0].guest.firstName, firstName);
    assert.equal(found.body.results[0].guest.lastName, lastName);

    const html = await fetch(sb.url + "/__sandbox/");
    assert.equal(html.status, 200);
    assert.ok((await html.text()).includes(r.body.confirmationCode));

    const log = (await call(sb, "GET", "/__sandbox/requests")).body;
    const last = log[log.length - 1];
    assert.equal(last.method, "GET");
    assert.equal(last.path, "/v1/reservations-v3/search");
    assert.equal(last.status, 200);
    assert.ok(
      log.some((e: { status: number; method: string }) => e.status === 201 && e.method === "POST"),
    );
  });
});

Deno.test("create validation -> 422 naming the first failing field", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const guest = booking().guest;
    const cases: [Record<string, unknown>, string][] = [
      [{ listingId: "64f1a2b3c4d5e6f7a8b9ffff" }, "listingId"],
      [{ listingId: undefined }, "listingId"],
      [{ checkInDateLocalized: "2026-02-30" }, "checkInDateLocalized"],
      [{ checkInDateLocalized: "07/01/2026" }, "checkInDateLocalized"],
      [{ checkOutDateLocalized: "2026-06-30" }, "checkOutDateLocalized"],
      [{ checkOutDateLocalized: "2026-07-01" }, "checkOutDateLocalized"],
      [{ status: "booked" }, "status"],
      [{ guestsCount: 0 }, "guestsCount"],
      [{ guest: undefined }, "guest"],
      [{ guest: { ...guest, firstName: undefined } }, "guest.firstName"],
      [{ guest: { ...guest, firstName: "  " } }, "guest.firstName"],
      [{ guest: { ...guest, lastName: "" } }, "guest.lastName"],
      [{ guest: { ...guest, email: "not-an-email" } }, "guest.email"],
      [{ guest: { ...guest, phones: ["0044 7700 900123"] } }, "guest.phones[0]"],
      [{ money: { fareAccommodation: "100", currency: "EUR" } }, "money.fareAccommodation"],
      [{ money: { fareAccommodation: 100, currency: "euro" } }, "money.currency"],
    ];
    for (const [override, field] of cases) {
      const r = await call(sb, "POST", "/v1/reservations-v3", {
        token: t,
        body: booking(override),
      });
      assert.equal(r.status, 422, `${field}: ${r.text}`);
      assert.equal(r.body.error.code, "VALIDATION_ERROR");
      assert.equal(r.body.error.field, field);
      assert.ok(r.body.error.message.startsWith(`${field}: `), r.body.error.message);
    }
    // First failing field wins.
    const multi = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({ listingId: "nope", guest: { ...guest, email: "bad" } }),
    });
    assert.equal(multi.body.error.field, "listingId");
    assert.equal((await stored(sb)).length, 0);
  });
});

Deno.test("status change -> 200; unknown id -> 404 plain string; bad status -> 422", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const created = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
    const id = created.body._id;
    const r = await call(sb, "PUT", `/v1/reservations-v3/${id}/status`, {
      token: t,
      body: { status: "canceled", canceledBy: "guest", cancellationReason: "plans changed" },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, "canceled");
    assert.equal(r.body.canceledBy, "guest");
    assert.equal(r.body.cancellationReason, "plans changed");
    assert.equal((await stored(sb))[0].status, "canceled");

    const missing = await call(sb, "PUT", "/v1/reservations-v3/64f1a2b3c4d5e6f7a8b9ffff/status", {
      token: t,
      body: { status: "canceled" },
    });
    assert.equal(missing.status, 404);
    assert.equal(missing.body, "Reservation not found");

    const bad = await call(sb, "PUT", `/v1/reservations-v3/${id}/status`, {
      token: t,
      body: { status: "deleted" },
    });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.field, "status");
  });
});

Deno.test("a create keeps only declared fields; custom fields and notes are set by their PUTs", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const created = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({
        customFields: [{ fieldId: "bookingRef", value: "BK-0001" }],
        notes: { other: "late arrival" },
        externalId: "x",
        guest: { firstName: "Ada", lastName: "L", email: "ada@example.com", phones: [], age: 3 },
      }),
    });
    assert.equal(created.status, 201, created.text);
    const id = created.body._id;
    const read = async () => (await call(sb, "GET", `/v1/reservations/${id}`, { token: t })).body;
    let r = await read();
    assert.deepEqual(r.customFields, [], "the definition declares no customFields on the create");
    assert.equal(r.notes, null, "nor notes");
    assert.equal(r.externalId, undefined);
    assert.equal(r.guest.age, undefined);

    const set = (body: unknown) =>
      call(sb, "PUT", `/v1/reservations-v3/${id}/custom-fields`, { token: t, body });
    const first = await set({ customFields: [{ fieldId: "bookingRef", value: "BK-0001" }] });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.reservationId, id);
    assert.deepEqual(
      first.body.customFields.map((f: { fieldId: string; value: string }) => [f.fieldId, f.value]),
      [["bookingRef", "BK-0001"]],
    );
    // Another field joins; the same field again changes its value, never adds a second one.
    await set({ customFields: [{ fieldId: "other", value: "x" }] });
    await set({ customFields: [{ fieldId: "bookingRef", value: "BK-0002" }] });
    r = await read();
    assert.deepEqual(
      r.customFields.map((f: { fieldId: string; value: string }) => [f.fieldId, f.value]),
      [["bookingRef", "BK-0002"], ["other", "x"]],
    );
    assert.equal((await set({})).status, 422);
    assert.equal(
      (await set({ customFields: [{ fieldId: "x", value: 5 }] })).body.error.field,
      "customFields[0].value",
    );
    const missing = await call(
      sb,
      "PUT",
      "/v1/reservations-v3/ffffffffffffffffffffffff/custom-fields",
      {
        token: t,
        body: { customFields: [] },
      },
    );
    assert.equal(missing.status, 404);

    const notes = await call(sb, "PUT", `/v1/reservations-v3/${id}/notes`, {
      token: t,
      body: { notes: { other: "Website booking BK-0001" } },
    });
    assert.equal(notes.status, 200, notes.text);
    assert.deepEqual(notes.body.notes, { other: "Website booking BK-0001" });
    await call(sb, "PUT", `/v1/reservations-v3/${id}/notes`, {
      token: t,
      body: { notes: { keyCode: "1234" } },
    });
    assert.deepEqual((await read()).notes, { other: "Website booking BK-0001", keyCode: "1234" });
    const badNotes = await call(sb, "PUT", `/v1/reservations-v3/${id}/notes`, {
      token: t,
      body: { notes: { other: 1 } },
    });
    assert.equal(badNotes.body.error.field, "notes.other");
  });
});

Deno.test("search by each filter (AND), customFields, paging; unsupported filter -> 400", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    // Custom fields are set on the reservation once it exists (the create ignores them).
    const mk = async ({ customFields, ...o }: Record<string, unknown>) => {
      const created =
        (await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking(o) }))
          .body;
      if (customFields) {
        await call(sb, "PUT", `/v1/reservations-v3/${created._id}/custom-fields`, {
          token: t,
          body: { customFields },
        });
      }
      return created;
    };
    const a = await mk({ customFields: [{ fieldId: "bookingRef", value: "BK-A" }] });
    const b = await mk({
      status: "inquiry",
      source: "airbnb",
      listingId: L2,
      customFields: [{ fieldId: "bookingRef", value: "BK-B" }, { fieldId: "other", value: "x" }],
    });
    const c = await mk({ source: "airbnb", customFields: [] });
    const search = async (q: string) =>
      await call(sb, "GET", `/v1/reservations-v3/search${q}`, { token: t });
    const ids = (r: Answer) => r.body.results.map((x: { _id: string }) => x._id);

    const all = await search("");
    assert.equal(all.status, 200);
    assert.equal(all.body.count, 3);
    assert.equal(all.body.limit, 25);
    assert.equal(all.body.skip, 0);

    assert.deepEqual(ids(await search(`?filter[confirmationCode]=${b.confirmationCode}`)), [b._id]);
    assert.deepEqual(ids(await search("?filter[status]=inquiry")), [b._id]);
    assert.deepEqual(ids(await search("?filter[source]=airbnb")), [b._id, c._id]);
    assert.deepEqual(ids(await search(`?filter[listingId]=${L1}`)), [a._id, c._id]);
    // The stay's natural key: listing and both dates (guestly-sync's lookup after an unknown create).
    assert.deepEqual(
      ids(
        await search(
          `?filter[listingId]=${L1}&filter[checkInDateLocalized]=${a.checkInDateLocalized}` +
            `&filter[checkOutDateLocalized]=${a.checkOutDateLocalized}`,
        ),
      ),
      [a._id],
    );
    assert.deepEqual(ids(await search("?filter[customFields.bookingRef]=BK-A")), [a._id]);
    assert.deepEqual(ids(await search("?filter[customFields.bookingRef]=BK-B")), [b._id]);
    assert.deepEqual(ids(await search("?filter[customFields.other]=BK-B")), []);
    assert.deepEqual(
      ids(await search(`?filter[source]=airbnb&filter[listingId]=${L1}`)),
      [c._id],
    );
    assert.deepEqual(ids(await search("?filter[source]=airbnb&filter[status]=canceled")), []);

    const page = await search("?limit=1&skip=1");
    assert.equal(page.body.count, 3);
    assert.equal(page.body.limit, 1);
    assert.equal(page.body.skip, 1);
    assert.deepEqual(ids(page), [b._id]);
    assert.equal((await search("?limit=1000")).body.limit, 100);

    const bad = await search("?filter[guest.email]=ada@example.com");
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, "BAD_REQUEST");
    assert.equal(bad.body.error.message, "unsupported filter: filter[guest.email]");
  });
});

Deno.test("search: sort by a stable field for paging; admin delete leaves no trace", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const made = [];
    for (let i = 0; i < 3; i++) {
      made.push(
        (await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() })).body,
      );
    }
    const search = async (q: string) =>
      await call(sb, "GET", `/v1/reservations-v3/search${q}`, { token: t });
    const ids = (r: Answer) => r.body.results.map((x: { _id: string }) => x._id);
    const byId = made.map((r) => r._id).sort();
    assert.deepEqual(ids(await search("?sort=_id")), byId);
    assert.deepEqual(ids(await search("?sort=-_id")), [...byId].reverse());
    assert.deepEqual(ids(await search("?sort=createdAt&limit=2&skip=1")).length, 2);
    const bad = await search("?sort=guest.email");
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.message, "unsupported sort: guest.email");

    const gone = await call(sb, "DELETE", `/__sandbox/reservations/${made[1]._id}`);
    assert.equal(gone.status, 200);
    assert.deepEqual(gone.body, { deleted: made[1]._id });
    assert.equal(
      (await call(sb, "GET", `/v1/reservations/${made[1]._id}`, { token: t })).status,
      404,
    );
    assert.equal((await search("")).body.count, 2);
    assert.equal((await call(sb, "DELETE", `/__sandbox/reservations/${made[1]._id}`)).status, 404);
  });
});

Deno.test("admin seed: many reservations at once, or none when one is bad", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const seeded = await call(sb, "POST", "/__sandbox/seed-reservations", {
      body: { reservations: [booking(), booking({ source: "website" })] },
    });
    assert.equal(seeded.status, 201);
    assert.equal(seeded.body.ids.length, 2);
    assert.deepEqual((await stored(sb)).map((r) => r._id), seeded.body.ids);
    const bad = await call(sb, "POST", "/__sandbox/seed-reservations", {
      body: { reservations: [booking(), booking({ listingId: "nope" })] },
    });
    assert.equal(bad.status, 422);
    assert.match(bad.body.error.message, /^reservations\[1\]\.listingId: unknown listing/);
    assert.equal((await stored(sb)).length, 2, "none of a bad batch is stored");
    assert.equal(await requestCount(sb, "POST", "/v1/reservations-v3"), 0, "not API requests");
  });
});

Deno.test("legacy reservations API -> 410; unknown paths -> 404", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    for (const [m, p] of [["GET", "/v1/reservations"], ["POST", "/v1/reservations/abc"]]) {
      const r = await call(sb, m, p, { token: t, body: m === "POST" ? {} : undefined });
      assert.equal(r.status, 410);
      assert.equal(r.body.error.code, "GONE");
      assert.equal(r.body.error.message, "legacy reservations API removed; use reservations-v3");
    }
    assert.equal((await call(sb, "GET", "/v1/listings-nope", { token: t })).status, 404);
    assert.equal((await call(sb, "GET", "/nothing-here")).status, 404);
  });
});

Deno.test("fault errorRate=1 -> 5xx and nothing created", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await setFaults(sb, { errorRate: 1 });
    for (let i = 0; i < 6; i++) {
      const r = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
      assert.ok([500, 502, 503].includes(r.status), String(r.status));
      if (r.status !== 503) assert.equal(r.body.error.code, "INTERNAL_ERROR");
    }
    assert.equal((await stored(sb)).length, 0);
    // Faults apply only to reservations-v3.
    assert.equal((await call(sb, "GET", "/v1/reservations", { token: t })).status, 410);
  });
});

Deno.test("fault hang -> client times out and nothing created", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await setFaults(sb, { hangRate: 1, hangMs: 300 });
    await assert.rejects(
      call(sb, "POST", "/v1/reservations-v3", {
        token: t,
        body: booking(),
        signal: AbortSignal.timeout(100),
      }),
    );
    await new Promise((r) => setTimeout(r, 350));
    assert.equal((await stored(sb)).length, 0);
    const log = (await call(sb, "GET", "/__sandbox/requests")).body;
    assert.equal(log[log.length - 1].fault, "hang");
    assert.equal(log[log.length - 1].status, 0);
  });
});

Deno.test("fault latencyMs delays the answer", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await setFaults(sb, { latencyMs: 150 });
    const t0 = performance.now();
    const r = await call(sb, "GET", "/v1/reservations-v3/search", { token: t });
    assert.equal(r.status, 200);
    assert.ok(performance.now() - t0 >= 140);
  });
});

Deno.test("fault lostResponseRate=1 -> fetch rejects but the operation happened", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await setFaults(sb, { lostResponseRate: 1 });
    // A client that never reuses a connection: plain fetch would re-send the create on the
    // dropped keep-alive connection (see the dropReusedCreates tests below).
    using client = freshConnections();
    await assert.rejects(
      call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking(), client }),
      TypeError,
    );
    const after = await stored(sb);
    assert.equal(after.length, 1);
    await assert.rejects(
      call(sb, "PUT", `/v1/reservations-v3/${after[0]._id}/status`, {
        token: t,
        body: { status: "canceled" },
        client,
      }),
      TypeError,
    );
    assert.equal((await stored(sb))[0].status, "canceled");
    // Reads are answered normally.
    assert.equal((await call(sb, "GET", "/v1/reservations-v3/search", { token: t })).status, 200);
  });
});

Deno.test("fault storm429 -> 429 Retry-After 1 until it ends", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const f = await setFaults(sb, { storm429: { durationMs: 10_000 } });
    assert.ok(f.storm429.untilMs > Date.now());
    for (let i = 0; i < 3; i++) {
      const r = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
      assert.equal(r.status, 429);
      assert.equal(r.headers.get("Retry-After"), "1");
      assert.equal(r.body.error.code, "TOO_MANY_REQUESTS");
    }
    await setFaults(sb, { storm429: { untilMs: Date.now() - 1 } });
    const ok = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
    assert.equal(ok.status, 201);
    assert.equal((await stored(sb)).length, 1);
  });
});

Deno.test("fault failNext sequence is consumed in order", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await setFaults(sb, {
      failNext: [
        { status: 503 },
        { status: 503, body: "upstream busy", headers: { "Content-Type": "text/plain" } },
        { status: 429, headers: { "Retry-After": "7" } },
      ],
    });
    assert.equal((await call(sb, "GET", "/__sandbox/faults")).body.failNext.length, 3);
    const r1 = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
    assert.equal(r1.status, 503);
    assert.equal(r1.body.error.code, "INTERNAL_ERROR");
    const r2 = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
    assert.equal(r2.status, 503);
    assert.equal(r2.text, "upstream busy");
    const r3 = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
    assert.equal(r3.status, 429);
    assert.equal(r3.headers.get("Retry-After"), "7");
    const r4 = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
    assert.equal(r4.status, 201);
    assert.equal((await stored(sb)).length, 1);
    assert.equal((await call(sb, "GET", "/__sandbox/faults")).body.failNext.length, 0);
  });
});

Deno.test("fault rejectGuestEmails -> 422 on guest.email for that guest only", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await setFaults(sb, { rejectGuestEmails: ["reject.me@example.com"] });
    const guest = { firstName: "No", lastName: "Way", email: "Reject.Me@example.com" };
    const r = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking({ guest }) });
    assert.equal(r.status, 422);
    assert.equal(r.body.error.field, "guest.email");
    assert.equal(r.body.error.message, "guest.email: rejected by Guestly");
    const ok = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
    assert.equal(ok.status, 201);
    assert.equal((await stored(sb)).length, 1);
  });
});

Deno.test("reset clears reservations, requests, faults, rate windows and tokens", async () => {
  await withSandbox({ limits: { perSecond: 100, perMinute: 100, perHour: 3 } }, async (sb) => {
    const t = await token(sb);
    for (let i = 1; i < 5; i++) assert.equal((await mint(sb)).status, 200);
    assert.equal((await mint(sb)).status, 429);
    await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
    await call(sb, "GET", "/v1/reservations-v3/search", { token: t });
    await call(sb, "GET", "/v1/reservations-v3/search", { token: t });
    await setFaults(sb, { errorRate: 0.5, rejectGuestEmails: ["a@b.co"] });

    assert.equal((await call(sb, "POST", "/__sandbox/reset")).status, 200);
    assert.deepEqual(await stored(sb), []);
    assert.deepEqual((await call(sb, "GET", "/__sandbox/requests")).body, []);
    const faults = (await call(sb, "GET", "/__sandbox/faults")).body;
    assert.equal(faults.errorRate, 0);
    assert.deepEqual(faults.rejectGuestEmails, []);
    assert.deepEqual((await call(sb, "GET", "/__sandbox/tokens")).body.minted, 0);
    // Old token is gone; mint quota and rate windows are fresh.
    assert.equal((await call(sb, "GET", "/v1/reservations-v3/search", { token: t })).status, 401);
    const t2 = await token(sb);
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await call(sb, "GET", "/v1/reservations-v3/search", { token: t2 })).status,
        200,
      );
    }
  });
});

Deno.test("defaults: 15/s, 120/min, 5000/h advertised; 4 default listings accepted", async () => {
  await withSandbox({}, async (sb) => {
    const t = await token(sb);
    const r = await call(sb, "GET", "/v1/reservations-v3/search", { token: t });
    assert.equal(r.headers.get("X-RateLimit-Limit-Second"), "15");
    assert.equal(r.headers.get("X-RateLimit-Limit-Minute"), "120");
    assert.equal(r.headers.get("X-RateLimit-Limit-Hour"), "5000");
    assert.equal(r.headers.get("X-RateLimit-Remaining-Second"), "14");
    for (const id of ["d1", "d2", "d3", "d4"]) {
      const c = await call(sb, "POST", "/v1/reservations-v3", {
        token: t,
        body: booking({ listingId: `64f1a2b3c4d5e6f7a8b9c0${id}` }),
      });
      assert.equal(c.status, 201, c.text);
    }
  });
});
