import assert from "node:assert/strict";
import { startMailCatcher, type StoredEmail } from "../mail-catcher/server.ts";

async function getJson<T = unknown>(url: string, init?: RequestInit): Promise<[number, T]> {
  const res = await fetch(url, init);
  const body = await res.json() as T;
  return [res.status, body];
}

async function messages(url: string): Promise<StoredEmail[]> {
  const [status, body] = await getJson<StoredEmail[]>(`${url}/__catcher/messages`);
  assert.equal(status, 200);
  return body;
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  getJson<Record<string, unknown>>(`${url}/emails`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

const AUTH = { authorization: "Bearer re_test_key" };
const EMAIL = {
  from: "Guestly <sync@example.com>",
  to: "admin@example.com",
  subject: "Hello",
  text: "hi",
};

Deno.test("mail catcher: raw HTTP API", async (t) => {
  const catcher = await startMailCatcher({ quiet: true });
  try {
    await t.step("401 without an API key", async () => {
      const [status, body] = await post(catcher.url, EMAIL);
      assert.equal(status, 401);
      assert.deepEqual(body, {
        statusCode: 401,
        name: "missing_api_key",
        message: "Missing API key in the authorization header",
      });
    });

    await t.step("422 naming the missing/invalid field", async () => {
      for (const field of ["from", "to", "subject"] as const) {
        const payload: Record<string, unknown> = { ...EMAIL };
        delete payload[field];
        const [status, body] = await post(catcher.url, payload, AUTH);
        assert.equal(status, 422, field);
        assert.equal(body.name, "validation_error");
        assert.equal(body.statusCode, 422);
        assert.match(String(body.message), new RegExp(`\`${field}\``));
      }
      const [status, body] = await post(catcher.url, { ...EMAIL, text: undefined }, AUTH);
      assert.equal(status, 422);
      assert.match(String(body.message), /html/);
      const [s2, b2] = await post(catcher.url, { ...EMAIL, to: ["ok@example.com", 5] }, AUTH);
      assert.equal(s2, 422);
      assert.match(String(b2.message), /`to`/);
      assert.deepEqual(await messages(catcher.url), []);
    });

    await t.step("200 stores the message; GET /emails/{id}", async () => {
      const [status, body] = await post(catcher.url, {
        ...EMAIL,
        to: ["a@example.com", "b@example.com"],
        cc: "c@example.com",
        reply_to: "r@example.com",
        html: "<b>hi</b>",
        tags: [{ name: "kind", value: "test" }],
      }, AUTH);
      assert.equal(status, 200);
      assert.match(String(body.id), /^[0-9a-f-]{36}$/);
      const all = await messages(catcher.url);
      assert.equal(all.length, 1);
      assert.equal(all[0].id, body.id);
      assert.deepEqual(all[0].to, ["a@example.com", "b@example.com"]);
      assert.deepEqual(all[0].cc, ["c@example.com"]);
      assert.deepEqual(all[0].reply_to, ["r@example.com"]);
      assert.equal(all[0].html, "<b>hi</b>");
      assert.equal(all[0].text, "hi");
      assert.equal(all[0].idempotencyKey, null);
      assert.ok(!Number.isNaN(Date.parse(all[0].receivedAt)));

      const [s2, one] = await getJson<Record<string, unknown>>(
        `${catcher.url}/emails/${body.id}`,
        { headers: AUTH },
      );
      assert.equal(s2, 200);
      assert.equal(one.object, "email");
      assert.equal(one.id, body.id);
      assert.equal(one.subject, "Hello");
      const [s3] = await getJson(`${catcher.url}/emails/${crypto.randomUUID()}`, { headers: AUTH });
      assert.equal(s3, 404);
    });

    await t.step("idempotency: same payload → first id; other payload → 409", async () => {
      const key = { ...AUTH, "idempotency-key": "k-1" };
      const [s1, b1] = await post(catcher.url, { ...EMAIL, subject: "Idem" }, key);
      // same payload, keys in another order
      const [s2, b2] = await post(catcher.url, {
        text: "hi",
        subject: "Idem",
        to: EMAIL.to,
        from: EMAIL.from,
      }, key);
      assert.equal(s1, 200);
      assert.equal(s2, 200);
      assert.equal(b2.id, b1.id);
      const [s3, b3] = await post(catcher.url, { ...EMAIL, subject: "Other" }, key);
      assert.equal(s3, 409);
      assert.equal(b3.name, "invalid_idempotent_request");
      assert.equal(b3.statusCode, 409);
      const all = await messages(catcher.url);
      assert.equal(all.filter((m) => m.idempotencyKey === "k-1").length, 1);
    });

    await t.step("down switch → 503, then back", async () => {
      const [sd] = await getJson(`${catcher.url}/__catcher/down`, {
        method: "POST",
        body: JSON.stringify({ down: true }),
      });
      assert.equal(sd, 200);
      const before = (await messages(catcher.url)).length;
      const [s1, b1] = await post(catcher.url, EMAIL, AUTH);
      assert.equal(s1, 503);
      assert.equal(b1.statusCode, 503);
      assert.equal((await messages(catcher.url)).length, before);
      await (await fetch(`${catcher.url}/__catcher/down`, {
        method: "POST",
        body: JSON.stringify({ down: false }),
      })).body?.cancel();
      const [s2] = await post(catcher.url, EMAIL, AUTH);
      assert.equal(s2, 200);
    });

    await t.step("inbox HTML escapes everything", async () => {
      const [, b] = await post(catcher.url, {
        ...EMAIL,
        subject: "<script>alert(1)</script>",
        html: '<p onclick="x">body & more</p>',
        text: "plain <text>",
      }, AUTH);
      const res = await fetch(`${catcher.url}/`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /text\/html/);
      const page = await res.text();
      assert.ok(!page.includes("<script>alert(1)</script>"));
      assert.ok(page.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
      assert.ok(page.includes(`/__catcher/messages/${b.id}.html`));
      // newest first
      assert.ok(page.indexOf(String(b.id)) < page.indexOf("Hello"));

      const detail = await fetch(`${catcher.url}/__catcher/messages/${b.id}.html`);
      assert.equal(detail.status, 200);
      const text = await detail.text();
      assert.ok(text.includes("plain &lt;text&gt;"));
      assert.ok(text.includes("body &amp;amp; more") || text.includes("body &amp; more"));
      assert.ok(!text.includes('<p onclick="x">'));
    });

    await t.step("DELETE clears", async () => {
      const [s] = await getJson(`${catcher.url}/__catcher/messages`, { method: "DELETE" });
      assert.equal(s, 200);
      assert.deepEqual(await messages(catcher.url), []);
    });
  } finally {
    await catcher.close();
  }
});

Deno.test("mail catcher: the real Resend SDK talks to it", async () => {
  const catcher = await startMailCatcher({ quiet: true });
  const previous = Deno.env.get("RESEND_BASE_URL");
  try {
    // The SDK reads process.env.RESEND_BASE_URL in its constructor.
    Deno.env.set("RESEND_BASE_URL", catcher.url);
    const { Resend } = await import("resend");
    const resend = new Resend("re_test_key");
    const email = {
      from: "Guestly <sync@example.com>",
      to: ["admin@example.com"],
      subject: "Sync failed",
      html: "<p>Reservation <b>42</b> failed</p>",
      text: "Reservation 42 failed",
    };
    const first = await resend.emails.send(email, { idempotencyKey: "sync-42" });
    assert.equal(first.error, null);
    assert.ok(first.data?.id);
    let stored = await messages(catcher.url);
    assert.equal(stored.length, 1);
    assert.equal(stored[0].id, first.data.id);
    assert.equal(stored[0].subject, "Sync failed");
    assert.equal(stored[0].from, "Guestly <sync@example.com>");
    assert.deepEqual(stored[0].to, ["admin@example.com"]);
    assert.equal(stored[0].idempotencyKey, "sync-42");

    const again = await resend.emails.send(email, { idempotencyKey: "sync-42" });
    assert.equal(again.error, null);
    assert.equal(again.data?.id, first.data.id);
    stored = await messages(catcher.url);
    assert.equal(stored.length, 1);

    const conflict = await resend.emails.send({ ...email, subject: "changed" }, {
      idempotencyKey: "sync-42",
    });
    assert.equal(conflict.data, null);
    assert.equal(conflict.error?.name, "invalid_idempotent_request");

    const got = await resend.emails.get(first.data.id);
    assert.equal(got.error, null);
    assert.equal(got.data?.subject, "Sync failed");

    // deno-lint-ignore no-explicit-any
    const missing = await resend.emails.send({ from: email.from, to: email.to, html: "x" } as any);
    assert.equal(missing.data, null);
    assert.equal(missing.error?.name, "validation_error");
    assert.match(missing.error?.message ?? "", /`subject`/);
    assert.equal((await messages(catcher.url)).length, 1);

    await (await fetch(`${catcher.url}/__catcher/down`, {
      method: "POST",
      body: JSON.stringify({ down: true }),
    })).body?.cancel();
    const failed = await resend.emails.send({ ...email, subject: "while down" });
    assert.equal(failed.data, null);
    assert.equal(failed.error?.statusCode, 503);
  } finally {
    if (previous === undefined) Deno.env.delete("RESEND_BASE_URL");
    else Deno.env.set("RESEND_BASE_URL", previous);
    await catcher.close();
  }
});
