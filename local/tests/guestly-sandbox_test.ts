import assert from "node:assert/strict";
import {
  type GuestlySandbox,
  type GuestlySandboxOptions,
  startGuestlySandbox,
} from "../guestly-sandbox/server.ts";

const CLIENT_ID = "sandbox-client-id";
const CLIENT_SECRET = "sandbox-client-secret";
const L1 = "64f1a2b3c4d5e6f7a8b9c0d1";
const L2 = "64f1a2b3c4d5e6f7a8b9c0d2";
// Tests that are not about rate limiting make more than 15 calls/s.
const ROOMY = { limits: { perSecond: 1000, perMinute: 1000, perHour: 10_000 } };

interface Answer {
  status: number;
  headers: Headers;
  // deno-lint-ignore no-explicit-any
  body: any;
  text: string;
}

async function withSandbox(
  opts: GuestlySandboxOptions,
  fn: (sb: GuestlySandbox) => Promise<void>,
): Promise<void> {
  const sb = await startGuestlySandbox({ quiet: true, ...opts });
  try {
    await fn(sb);
  } finally {
    await sb.close();
  }
}

async function call(
  sb: GuestlySandbox,
  method: string,
  path: string,
  opts: {
    token?: string;
    body?: unknown;
    signal?: AbortSignal;
    client?: Deno.HttpClient;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers["Authorization"] = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(sb.url + path, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: opts.signal,
    client: opts.client,
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch { /* plain text */ }
  return { status: res.status, headers: res.headers, body, text };
}

async function mint(
  sb: GuestlySandbox,
  params: Record<string, string> = {},
): Promise<Answer> {
  const form = new URLSearchParams({
    grant_type: "client_credentials",
    scope: "open-api",
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    ...params,
  });
  const res = await fetch(sb.url + "/oauth2/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: form,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text), text };
}

async function token(sb: GuestlySandbox): Promise<string> {
  const r = await mint(sb);
  assert.equal(r.status, 200, r.text);
  return r.body.access_token;
}

/** Each booking gets nights of its own (the sandbox refuses overlapping stays on a listing). */
let stayNumber = 0;
function nextStay(nights = 4): { checkInDateLocalized: string; checkOutDateLocalized: string } {
  const start = Date.UTC(2026, 6, 1) + (stayNumber++) * 10 * 86_400_000;
  const day = (t: number) => new Date(t).toISOString().slice(0, 10);
  return {
    checkInDateLocalized: day(start),
    checkOutDateLocalized: day(start + nights * 86_400_000),
  };
}

function booking(overrides: Record<string, unknown> = {}) {
  return {
    listingId: L1,
    ...nextStay(),
    status: "confirmed",
    guestsCount: 2,
    source: "direct-site",
    guest: {
      firstName: "Ada",
      lastName: "Lovelace",
      email: "ada@example.com",
      phones: ["+447700900123"],
    },
    money: { fareAccommodation: 480.5, currency: "EUR" },
    customFields: [{ fieldId: "bookingRef", value: "BK-0001" }],
    notes: { other: "late arrival" },
    ...overrides,
  };
}

/** The fix under test: a fetch client whose connections are never pooled, so never reused. */
function freshConnections(): Deno.HttpClient {
  return Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
}

async function setFaults(sb: GuestlySandbox, faults: Record<string, unknown>) {
  const r = await call(sb, "POST", "/__sandbox/faults", { body: faults });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

async function stored(sb: GuestlySandbox) {
  return (await call(sb, "GET", "/__sandbox/reservations")).body as Record<string, unknown>[];
}

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
        notes: "string notes ok",
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
    assert.deepEqual(r.body.money, { fareAccommodation: 480.5, currency: "EUR" });
    assert.deepEqual(r.body.customFields, [{ fieldId: "bookingRef", value: "BK-0001" }]);
    assert.equal(r.body.notes, "string notes ok");
    assert.ok(r.body.createdAt && r.body.lastUpdatedAt);
    assert.equal(r.body.guest.firstName, firstName);
    assert.equal(r.body.guest.lastName, lastName);
    // Byte-for-byte in the raw response too.
    assert.ok(r.text.includes(JSON.stringify(firstName).slice(1, -1)));

    const all = await stored(sb);
    assert.equal(all.length, 1);
    assert.deepEqual(all[0], r.body);

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
      [{ customFields: [{ fieldId: "x", value: 5 }] }, "customFields[0].value"],
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

Deno.test("search by each filter (AND), customFields, paging; unsupported filter -> 400", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const mk = async (o: Record<string, unknown>) =>
      (await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking(o) })).body;
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

// ---- keep-alive and the lying gateway (issue 11) ----------------------------------------------

interface LogEntry {
  method: string;
  path: string;
  status: number;
  fault: string | null;
  connectionId: number;
  reusedConnection: boolean;
  committed: boolean | null;
  reservationId: string | null;
  pending: boolean;
}

async function requestLog(sb: GuestlySandbox): Promise<LogEntry[]> {
  return (await call(sb, "GET", "/__sandbox/requests")).body;
}

async function creates(sb: GuestlySandbox): Promise<LogEntry[]> {
  return (await requestLog(sb)).filter((e) =>
    e.method === "POST" && e.path === "/v1/reservations-v3"
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A random source that returns the given values in turn (then repeats the last one). */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)];
}

Deno.test("keep-alive: no Connection: close; the log names each connection and its reuse", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    const a = await call(sb, "GET", "/v1/reservations-v3/search", { token: t });
    const b = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
    assert.equal(b.status, 201);
    for (const r of [a, b]) assert.notEqual(r.headers.get("connection")?.toLowerCase(), "close");
    const log = await requestLog(sb);
    assert.equal(log.length, 3); // token, search, create
    assert.ok(log.every((e) => typeof e.connectionId === "number" && !e.pending));
    // Plain fetch keeps the connection: one connection, reused after the first request.
    assert.equal(new Set(log.map((e) => e.connectionId)).size, 1);
    assert.deepEqual(log.map((e) => e.reusedConnection), [false, true, true]);
    assert.deepEqual(log.map((e) => e.committed), [null, null, true]);
    assert.equal(log[2].reservationId, b.body._id);

    using client = freshConnections();
    await call(sb, "GET", "/v1/reservations-v3/search", { token: t, client });
    await call(sb, "GET", "/v1/reservations-v3/search", { token: t, client });
    const fresh = (await requestLog(sb)).slice(-2);
    assert.deepEqual(fresh.map((e) => e.reusedConnection), [false, false]);
    assert.notEqual(fresh[0].connectionId, fresh[1].connectionId);
  });
});

Deno.test("commitThenErrorRate=1: create and status change ARE performed, answered 502/503 by a proxy", async () => {
  // First draw picks the fault, second picks the status: 0.9 -> 503, then 0.1 -> 502.
  await withSandbox({ ...ROOMY, random: sequence(0, 0.9, 0, 0.1) }, async (sb) => {
    const t = await token(sb);
    await setFaults(sb, { commitThenErrorRate: 1 });
    const r = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({ customFields: [{ fieldId: "bookingRef", value: "BK-LIE" }] }),
    });
    assert.equal(r.status, 503);
    assert.match(r.headers.get("content-type") ?? "", /^text\/plain/);
    assert.throws(() => JSON.parse(r.text), "a gateway's 503 is not Guestly JSON");
    assert.equal(r.headers.get("x-ratelimit-limit-second"), null);
    // The reservation really exists and the lookup by our reference finds it.
    const all = await stored(sb);
    assert.equal(all.length, 1);
    await setFaults(sb, { commitThenErrorRate: 0 });
    const found = await call(
      sb,
      "GET",
      "/v1/reservations-v3/search?filter[customFields.bookingRef]=BK-LIE",
      {
        token: t,
      },
    );
    assert.equal(found.body.count, 1);
    const [entry] = await creates(sb);
    assert.equal(entry.fault, "commitThenError(503)");
    assert.equal(entry.committed, true);
    assert.equal(entry.reservationId, all[0]._id);

    await setFaults(sb, { commitThenErrorRate: 1 });
    const put = await call(sb, "PUT", `/v1/reservations-v3/${all[0]._id}/status`, {
      token: t,
      body: { status: "canceled" },
    });
    assert.equal(put.status, 502);
    assert.match(put.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(put.text, /502 Bad Gateway/);
    assert.equal((await stored(sb))[0].status, "canceled");
    // Reads are not commit-faulted.
    assert.equal((await call(sb, "GET", "/v1/reservations-v3/search", { token: t })).status, 200);
  });
});

Deno.test("commitThenErrorStatuses chooses the statuses; an invalid create is not committed", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await setFaults(sb, { commitThenErrorRate: 1, commitThenErrorStatuses: [500] });
    const bad = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({ listingId: "nope" }),
    });
    assert.equal(bad.status, 500, "the gateway hides Guestly's 422");
    assert.equal((await stored(sb)).length, 0);
    const [entry] = await creates(sb);
    assert.equal(entry.fault, "commitThenError(500)");
    assert.equal(entry.committed, false);
  });
});

Deno.test("commitThen504: performed at once, answered 504 only after the delay", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await setFaults(sb, { commitThen504Rate: 1, commitThen504DelayMs: 400 });
    const t0 = performance.now();
    const pending = call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
    await sleep(150);
    assert.equal((await stored(sb)).length, 1, "committed before the 504 is sent");
    const [during] = await creates(sb);
    assert.equal(during.pending, true);
    assert.equal(during.committed, true);
    const r = await pending;
    assert.ok(performance.now() - t0 >= 390, "504 waits commitThen504DelayMs");
    assert.equal(r.status, 504);
    assert.match(r.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(r.text, /504 Gateway Time-out/);
    const [entry] = await creates(sb);
    assert.equal(entry.fault, "commitThen504");
    assert.equal(entry.status, 504);
    assert.equal(entry.pending, false);
    assert.equal((await stored(sb)).length, 1);
  });
});

Deno.test("slowCommit: the caller gives up, the create commits later anyway", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await setFaults(sb, { slowCommitRate: 1, slowCommitMs: 800 });
    await assert.rejects(
      call(sb, "POST", "/v1/reservations-v3", {
        token: t,
        body: booking(),
        signal: AbortSignal.timeout(100),
      }),
    );
    assert.equal((await stored(sb)).length, 0, "nothing before slowCommitMs");
    await sleep(200);
    assert.equal((await stored(sb)).length, 0, "still nothing at 300 ms");
    const [early] = await creates(sb);
    assert.equal(early.fault, "slowCommit");
    assert.equal(early.pending, true);
    assert.equal(early.committed, false);
    await sleep(650);
    const all = await stored(sb);
    assert.equal(all.length, 1, "committed after slowCommitMs although nobody listens");
    const [entry] = await creates(sb);
    assert.equal(entry.committed, true);
    assert.equal(entry.reservationId, all[0]._id);
    assert.equal(entry.status, 0, "no answer to a caller that has gone");
    assert.equal(entry.pending, false);
  });
});

Deno.test("slowCommit: a caller that waits gets the 201 after slowCommitMs", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await setFaults(sb, { slowCommitRate: 1, slowCommitMs: 300 });
    const t0 = performance.now();
    const r = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
    assert.ok(performance.now() - t0 >= 290);
    assert.equal(r.status, 201);
    assert.deepEqual((await stored(sb)).map((x) => x._id), [r.body._id]);
    assert.equal((await creates(sb))[0].status, 201);
  });
});

Deno.test("failNext commit: perform then answer status; 0 drops; 2xx is the real answer", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    using client = freshConnections();
    await setFaults(sb, {
      failNext: [
        { status: 502, commit: true },
        { status: 0, commit: true },
        { status: 503, delayMs: 200 }, // no commit: nothing done, answered late
      ],
    });
    const r1 = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking(), client });
    assert.equal(r1.status, 502);
    assert.match(r1.text, /502 Bad Gateway/);
    assert.equal((await stored(sb)).length, 1);
    await assert.rejects(
      call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking(), client }),
      TypeError,
    );
    assert.equal((await stored(sb)).length, 2);
    const t0 = performance.now();
    const r3 = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking(), client });
    assert.equal(r3.status, 503);
    assert.ok(performance.now() - t0 >= 190);
    assert.equal((await stored(sb)).length, 2);
    const log = await creates(sb);
    assert.deepEqual(log.map((e) => e.fault), [
      "failNext(502,commit)",
      "failNext(0,commit)",
      "failNext(503)",
    ]);
    assert.deepEqual(log.map((e) => e.committed), [true, true, false]);
    assert.deepEqual(log.map((e) => e.status), [502, 0, 503]);
  });
});

Deno.test("failNext commitAfterDelay: nothing until delayMs, then commit and the real 201", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await setFaults(sb, {
      failNext: [{ status: 201, commit: true, commitAfterDelay: true, delayMs: 400 }],
    });
    const pending = call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
    await sleep(150);
    assert.equal((await stored(sb)).length, 0);
    const r = await pending;
    assert.equal(r.status, 201);
    assert.deepEqual((await stored(sb)).map((x) => x._id), [r.body._id]);

    const bad = await call(sb, "POST", "/__sandbox/faults", {
      body: { failNext: [{ status: 502, commitAfterDelay: true }] },
    });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /failNext\[0\]\.commitAfterDelay/);
  });
});

Deno.test("dropReusedCreates: plain fetch re-sends a create on a dropped reused connection", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await call(sb, "GET", "/v1/reservations-v3/search", { token: t }); // warms the connection
    await setFaults(sb, { dropReusedCreates: 1 });
    // ignoreCalendar: without it the re-sent copy would meet the first one's nights (409).
    const r = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({ ignoreCalendar: true }),
    });
    const posts = await creates(sb);
    console.log(
      `plain fetch, one create, reused connection dropped: ${posts.length} POST(s) arrived, ` +
        `caller saw ${r.status}, ${(await stored(sb)).length} reservation(s)`,
    );
    // Observed on Deno 2.9: fetch silently sends the POST again on a new connection, and the
    // caller sees a clean 201 while two reservations exist.
    assert.equal(posts.length, 2, "Deno's fetch re-sends the create once");
    assert.equal(posts[0].reusedConnection, true);
    assert.equal(posts[0].fault, "dropReusedCreate");
    assert.equal(posts[0].committed, true);
    assert.equal(posts[1].reusedConnection, false);
    assert.equal(r.status, 201);
    assert.equal((await stored(sb)).length, 2);
    assert.equal((await call(sb, "GET", "/__sandbox/faults")).body.dropReusedCreates, 0);
  });
});

Deno.test("Connection: close on the create alone does not stop the re-send", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await call(sb, "GET", "/v1/reservations-v3/search", { token: t });
    await setFaults(sb, { dropReusedCreates: 1 });
    await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking(),
      headers: { Connection: "close" },
    });
    // The pooled connection of the earlier request is still used for the create.
    assert.equal((await creates(sb)).length, 2);
  });
});

Deno.test("Connection: close on EVERY request to the host: one send, the caller sees the drop", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const headers = { Connection: "close" };
    const t = await token(sb); // (the token connection is reused by the next plain call...)
    await call(sb, "GET", "/v1/reservations-v3/search", { token: t, headers }); // ...and closed
    await call(sb, "POST", "/__sandbox/faults", {
      body: { failNext: [{ status: 0, commit: true }] },
      headers,
    });
    await assert.rejects(
      call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking(), headers }),
      TypeError,
    );
    await sleep(100);
    const posts = await creates(sb);
    assert.equal(posts.length, 1);
    assert.equal(posts[0].reusedConnection, false);
    assert.equal((await stored(sb)).length, 1);
  });
});

Deno.test("fix: a no-pool client sends a create exactly once and the caller sees the error", async () => {
  await withSandbox(ROOMY, async (sb) => {
    using client = freshConnections();
    const t = await token(sb);
    await call(sb, "GET", "/v1/reservations-v3/search", { token: t, client });
    // Drop the create whatever connection it arrives on (with this client it is always new).
    await setFaults(sb, { dropReusedCreates: 1, failNext: [{ status: 0, commit: true }] });
    await assert.rejects(
      call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking(), client }),
      TypeError,
    );
    await sleep(100); // a re-send, if any, would arrive now
    const posts = await creates(sb);
    assert.equal(posts.length, 1, "exactly one POST");
    assert.equal(posts[0].reusedConnection, false);
    assert.equal(posts[0].committed, true);
    assert.equal((await stored(sb)).length, 1);
    // The same drop on plain fetch's warm connection would have been re-sent:
    await setFaults(sb, { failNext: [{ status: 0, commit: true }] });
    await call(sb, "GET", "/v1/reservations-v3/search", { token: t });
    const r = await call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking({ ignoreCalendar: true }),
    });
    assert.equal(r.status, 201, "plain fetch hides the drop");
    assert.equal((await creates(sb)).length, 3);
    assert.equal((await stored(sb)).length, 3);
  });
});

Deno.test("order: failNext and storm429 win over commit faults; reset clears the new faults", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await setFaults(sb, {
      slowCommitRate: 1,
      commitThenErrorRate: 1,
      failNext: [{ status: 429 }],
      storm429: { durationMs: 10_000 },
    });
    const r1 = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
    assert.equal(r1.status, 429);
    const r2 = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
    assert.equal(r2.status, 429);
    assert.equal((await stored(sb)).length, 0);
    assert.deepEqual((await creates(sb)).map((e) => e.committed), [false, false]);
    await setFaults(sb, { storm429: null, slowCommitRate: 0 });
    const r3 = await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
    assert.ok([502, 503].includes(r3.status));
    assert.equal((await stored(sb)).length, 1);

    await setFaults(sb, { commitThen504Rate: 0.5, dropReusedCreates: 3 });
    const cleared = (await call(sb, "DELETE", "/__sandbox/faults")).body;
    assert.equal(cleared.commitThenErrorRate, 0);
    assert.equal(cleared.commitThen504Rate, 0);
    assert.equal(cleared.slowCommitRate, 0);
    assert.equal(cleared.dropReusedCreates, 0);
    assert.deepEqual(cleared.commitThenErrorStatuses, [502, 503]);
    assert.equal(cleared.commitThen504DelayMs, 5000);
    assert.equal(cleared.slowCommitMs, 10000);
    await setFaults(sb, { slowCommitRate: 1 });
    await call(sb, "POST", "/__sandbox/reset");
    assert.equal((await call(sb, "GET", "/__sandbox/faults")).body.slowCommitRate, 0);
  });
});

Deno.test("rates use the injected random source; a seed replays the same plan", async () => {
  await withSandbox({ ...ROOMY, random: () => 0.5 }, async (sb) => {
    const t = await token(sb);
    await setFaults(sb, { commitThenErrorRate: 0.5 }); // 0.5 < 0.5 is false: never picked
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() })).status,
        201,
      );
    }
    await setFaults(sb, { commitThenErrorRate: 0.51 });
    assert.ok(
      [502, 503].includes(
        (await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() })).status,
      ),
    );
  });
  const plan = async (seed: number) => {
    let statuses: number[] = [];
    await withSandbox(ROOMY, async (sb) => {
      const t = await token(sb);
      await call(sb, "POST", "/__sandbox/config", { body: { seed } });
      await setFaults(sb, { commitThenErrorRate: 0.5 });
      for (let i = 0; i < 12; i++) {
        await call(sb, "POST", "/v1/reservations-v3", { token: t, body: booking() });
      }
      statuses = (await creates(sb)).map((e) => e.status);
    });
    return statuses;
  };
  const a = await plan(42);
  assert.deepEqual(await plan(42), a);
  assert.ok(a.includes(201) && a.some((s) => s >= 500), a.join(","));
});

Deno.test("bad fault values -> 400 naming the key", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ commitThenErrorRate: 2 }, /commitThenErrorRate/],
      [{ commitThenErrorStatuses: [200] }, /commitThenErrorStatuses/],
      [{ commitThenErrorStatuses: [] }, /commitThenErrorStatuses/],
      [{ slowCommitMs: -1 }, /slowCommitMs/],
      [{ dropReusedCreates: 1.5 }, /dropReusedCreates/],
      [{ failNext: [{ status: 502, delayMs: "x" }] }, /failNext\[0\]\.delayMs/],
      [{ failNext: [{ status: 502, commit: "yes" }] }, /failNext\[0\]\.commit/],
    ];
    for (const [body, message] of cases) {
      const r = await call(sb, "POST", "/__sandbox/faults", { body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error.message, message);
    }
  });
});

// ---- calendars ------------------------------------------------------------------------------

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
    const lapsed = await call(sb, "GET", `/v1/reservations-v3/${hold.body._id}`, { token: t });
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
