// The sandbox's webhooks: subscriptions through Guesty's API, a signed v2 event for every change
// of a stay (API, admin API, host buttons), retries after a non-2xx, and the delivery faults.
// A local receiver verifies every request with the standardwebhooks package, as our function does.
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import {
  call,
  createReservation,
  type GuestlySandbox,
  L1,
  nextStay,
  ROOMY,
  token,
  withSandbox,
} from "./helpers.ts";

const SECRET = "whsec_" + btoa("sandbox-webhook-test-secret-32by");

interface Received {
  id: string;
  headers: Record<string, string>;
  // deno-lint-ignore no-explicit-any
  body: any;
  verified: boolean;
}

/** A receiver that answers with `answer(n)` (n = 1 for the first request) and keeps everything. */
function receiver(answer: (n: number) => number = () => 200) {
  const got: Received[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const text = await req.text();
    const headers = Object.fromEntries(req.headers);
    const family = headers["svix-id"] ? "svix" : "webhook";
    let verified = false;
    try {
      new Webhook(SECRET).verify(text, {
        "webhook-id": headers[`${family}-id`],
        "webhook-timestamp": headers[`${family}-timestamp`],
        "webhook-signature": headers[`${family}-signature`],
      });
      verified = true;
    } catch { /* recorded as unverified */ }
    got.push({ id: headers[`${family}-id`], headers, body: JSON.parse(text), verified });
    return new Response("ok", { status: answer(got.length) });
  });
  const url = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/hook`;
  return { got, url, close: () => server.shutdown() };
}

async function waitUntil(what: string, probe: () => boolean, ms = 3000) {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function subscribed(sb: GuestlySandbox, url: string) {
  const t = await token(sb);
  const res = await call(sb, "POST", "/v1/webhooks", {
    token: t,
    body: { url, events: ["reservation.created.v2", "reservation.updated.v2"] },
  });
  assert.equal(res.status, 201);
  return t;
}

const opts = { ...ROOMY, webhookSecret: SECRET, webhookRetryScale: 0.001 };

Deno.test("subscriptions: create, list, update, delete; the secret is the account's whsec_", async () => {
  await withSandbox(opts, async (sb) => {
    const t = await token(sb);
    const created = await call(sb, "POST", "/v1/webhooks", {
      token: t,
      body: { url: "http://127.0.0.1:9/x", events: ["reservation.updated.v2"] },
    });
    assert.equal(created.status, 201);
    const again = await call(sb, "POST", "/v1/webhooks", {
      token: t,
      body: { url: "http://127.0.0.1:9/x", events: ["reservation.created.v2"] },
    });
    assert.equal(again.status, 200, "the same URL again changes the subscription");
    assert.equal((await call(sb, "GET", "/v1/webhooks", { token: t })).body.length, 1);
    const id = created.body._id;
    const put = await call(sb, "PUT", `/v1/webhooks/${id}`, {
      token: t,
      body: { events: ["reservation.created.v2", "reservation.updated.v2"] },
    });
    // Guesty's definition answers the PUT with an array.
    assert.ok(Array.isArray(put.body), put.text);
    assert.deepEqual(put.body[0].events, ["reservation.created.v2", "reservation.updated.v2"]);
    assert.equal(
      (await call(sb, "POST", "/v1/webhooks", { token: t, body: { url: "ftp://x" } })).status,
      400,
    );
    assert.equal((await call(sb, "DELETE", `/v1/webhooks/${id}`, { token: t })).status, 200);
    assert.equal((await call(sb, "DELETE", `/v1/webhooks/${id}`, { token: t })).status, 404);
    const secret = await call(sb, "GET", "/v1/webhooks-v2/secret", { token: t });
    assert.equal(secret.body.secret, SECRET);
    assert.equal((await call(sb, "GET", "/v1/webhooks-v2/secret")).status, 401, "needs a token");
  });
});

Deno.test("a create and a status change each send one signed v2 event with the stay details", async () => {
  const rx = receiver();
  try {
    await withSandbox(opts, async (sb) => {
      const t = await subscribed(sb, rx.url);
      const stay = nextStay();
      const created = await createReservation(sb, t, stay);
      const id = created._id;
      await call(sb, "PUT", `/v1/reservations-v3/${id}/status`, {
        token: t,
        body: { status: "canceled" },
      });
      await waitUntil("two events", () => rx.got.length >= 2);
      const [first, second] = rx.got;
      assert.ok(first.verified && second.verified, "signed with the account's secret");
      assert.ok(first.headers["svix-id"].startsWith("msg_"), "Svix header family by default");
      assert.equal(first.body.event, "reservation.created.v2");
      assert.equal(first.body.reservationId, id);
      assert.equal(first.body.reservation.checkInDateLocalized, stay.checkInDateLocalized);
      assert.equal(first.body.reservation.customFields, undefined, "lean: no custom fields");
      assert.equal(second.body.event, "reservation.updated.v2");
      assert.deepEqual(second.body.subTypes, ["status"]);
      assert.equal(second.body.reservation.status, "canceled");
      assert.ok(second.body.publishedAt > first.body.publishedAt);
    });
  } finally {
    await rx.close();
  }
});

Deno.test("host changes from the admin API emit events; a payment alone does not", async () => {
  const rx = receiver();
  try {
    await withSandbox(opts, async (sb) => {
      const t = await subscribed(sb, rx.url);
      const id = (await createReservation(sb, t, nextStay()))._id;
      const moved = nextStay();
      const dates = await call(sb, "POST", `/__sandbox/reservations/${id}/host-change-dates`, {
        body: { checkIn: moved.checkInDateLocalized, checkOut: moved.checkOutDateLocalized },
      });
      assert.equal(dates.status, 200);
      const guests = await call(sb, "POST", `/__sandbox/reservations/${id}/host-change-guests`, {
        body: { guestsCount: 4 },
      });
      assert.equal(guests.status, 200);
      await call(sb, "POST", `/v1/reservations/${id}/payments`, {
        token: t,
        body: { paymentMethod: { method: "CASH" }, amount: 10 },
      });
      const cancel = await call(sb, "POST", `/__sandbox/reservations/${id}/host-cancel`, {});
      assert.equal(cancel.body.canceledBy, "host");
      await waitUntil("four events", () => rx.got.length >= 4);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(rx.got.map((g) => g.body.subTypes ?? "created"), [
        "created",
        ["dates"],
        ["guestsCount"],
        ["status"],
      ]);
      const ota = await call(sb, "POST", "/__sandbox/ota-reservations", {
        body: {
          listingId: L1,
          checkIn: moved.checkInDateLocalized,
          checkOut: moved.checkOutDateLocalized,
        },
      });
      assert.equal(ota.status, 201);
      await waitUntil("the OTA reservation's event", () => rx.got.length >= 5);
      assert.equal(rx.got[4].body.reservation.source, "airbnb2");
      const again = await call(sb, "POST", `/__sandbox/reservations/${id}/host-cancel`, {});
      assert.equal(again.status, 422, "a cancelled reservation cannot be changed");
    });
  } finally {
    await rx.close();
  }
});

Deno.test("a non-2xx answer is retried with the same message id until a 2xx", async () => {
  const rx = receiver((n) => (n < 3 ? 500 : 202));
  try {
    await withSandbox(opts, async (sb) => {
      const t = await subscribed(sb, rx.url);
      await createReservation(sb, t, nextStay());
      await waitUntil("three attempts", () => rx.got.length >= 3);
      assert.equal(new Set(rx.got.map((g) => g.id)).size, 1);
      // The sandbox logs a delivery once it has the answer, a moment after the receiver sent it
      // (and in another process when the tests run on the hosted runtime's Deno).
      let log: Array<{ status: number; willRetry: boolean }> = [];
      const deadline = Date.now() + 3000;
      while (log.length < 3 && Date.now() < deadline) {
        log = (await call(sb, "GET", "/__sandbox/webhook-deliveries")).body;
        if (log.length < 3) await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(log.map((d: { status: number }) => d.status), [500, 500, 202]);
      assert.deepEqual(log.map((d: { willRetry: boolean }) => d.willRetry), [true, true, false]);
    });
  } finally {
    await rx.close();
  }
});

Deno.test("faults: drop, duplicate, reorder; webhook-* headers on request", async () => {
  const rx = receiver();
  try {
    await withSandbox(opts, async (sb) => {
      const t = await subscribed(sb, rx.url);
      await call(sb, "POST", "/__sandbox/webhook-config", { body: { headerFamily: "webhook" } });
      await call(sb, "POST", "/__sandbox/webhook-faults", {
        body: { dropNext: 1, duplicateNext: 1 },
      });
      const a = (await createReservation(sb, t, nextStay()))._id; // dropped
      const b = (await createReservation(sb, t, nextStay()))._id; // twice
      await waitUntil("the duplicate", () => rx.got.length >= 2);
      assert.ok(rx.got.every((g) => g.body.reservationId === b && g.verified));
      assert.ok(rx.got[0].headers["webhook-id"], "webhook-* family");
      assert.equal(rx.got[0].id, rx.got[1].id, "a duplicate carries the same message id");
      const dropped =
        (await call(sb, "GET", `/__sandbox/webhook-deliveries?reservationId=${a}`)).body;
      assert.equal(dropped[0].fault, "dropped");

      await call(sb, "POST", "/__sandbox/webhook-faults", { body: { reorderNext: 2 } });
      await call(sb, "PUT", `/v1/reservations-v3/${b}/guests`, {
        token: t,
        body: { guestsCount: 3 },
      });
      await call(sb, "PUT", `/v1/reservations-v3/${b}/status`, {
        token: t,
        body: { status: "canceled" },
      });
      await waitUntil("both held events", () => rx.got.length >= 4);
      assert.deepEqual(rx.got.slice(2).map((g) => g.body.subTypes), [["status"], ["guestsCount"]]);
      assert.ok(rx.got[2].body.publishedAt > rx.got[3].body.publishedAt, "newest arrived first");
      assert.equal(
        (await call(sb, "POST", "/__sandbox/webhook-faults", { body: { nope: 1 } })).status,
        400,
      );
    });
  } finally {
    await rx.close();
  }
});

Deno.test("reset keeps the subscription and the secret, clears the delivery log", async () => {
  const rx = receiver();
  try {
    await withSandbox(opts, async (sb) => {
      const t = await subscribed(sb, rx.url);
      await createReservation(sb, t, nextStay());
      await waitUntil("an event", () => rx.got.length >= 1);
      await call(sb, "POST", "/__sandbox/reset", {});
      assert.deepEqual((await call(sb, "GET", "/__sandbox/webhook-deliveries")).body, []);
      assert.equal((await call(sb, "GET", "/__sandbox/webhooks")).body.length, 1);
      const t2 = await token(sb);
      await createReservation(sb, t2, nextStay());
      await waitUntil("an event after the reset", () => rx.got.length >= 2);
      assert.ok(rx.got[1].verified);
    });
  } finally {
    await rx.close();
  }
});
