import assert from "node:assert/strict";
import {
  type AlertContext,
  formatAmount,
  renderAlertEmail,
} from "../../functions/_shared/notifications/admin-alerts.ts";
import {
  retryLinkFor,
  signRetryToken,
  verifyRetryToken,
} from "../../functions/_shared/notifications/retry-token.ts";
import {
  type AlertStore,
  buildAlertEmail,
  deliverDueAlerts,
  type Mailer,
  resendMailer,
} from "../../functions/_shared/notifications/outbox.ts";
import { createNotifyAdminHandler } from "../../functions/_shared/notifications/handlers.ts";
import { serviceKeysFrom } from "../../functions/_shared/service-keys.ts";
import { memoryLogger } from "../../functions/_shared/log.ts";
import type { Resend } from "resend";

const SECRET = "unit-test-retry-link-secret-0123456789";
const BOOKING = "5eed0000-0000-4000-8000-000000000001";
const ALERT = "a1e70000-0000-4000-8000-00000000000a";
const CREATED = "2026-11-26T12:34:55.573092+00:00";

function syncFailedContext(overrides: Partial<AlertContext> = {}): AlertContext {
  return {
    alert: {
      id: ALERT,
      kind: "sync_failed",
      booking_id: BOOKING,
      details: { error: "Guestly HTTP 422: guest.email: rejected", permanent: true },
      created_at: CREATED,
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
    attempts_total: 2,
    attempts: [
      {
        attempt: 1,
        operation: "create",
        started_at: "2026-11-26T12:30:01.000Z",
        duration_ms: 31,
        http_status: 503,
        outcome: "retryable",
        error: "Guestly HTTP 503: unavailable",
      },
      {
        attempt: 2,
        operation: "create",
        started_at: "2026-11-26T12:34:55.000Z",
        duration_ms: 12,
        http_status: 422,
        outcome: "permanent",
        error: "Guestly HTTP 422: guest.email: rejected",
      },
    ],
    ...overrides,
  };
}

const LINK = {
  url: "https://proj.supabase.co/functions/v1/retry-link?token=abc.def&x=1",
  expiresAt: new Date("2026-11-29T12:34:55Z"),
};

Deno.test("sync_failed email: the subject names booking, guest and property", () => {
  const email = renderAlertEmail(syncFailedContext(), LINK);
  assert.equal(
    email.subject,
    "Guestly sync failed: booking 5eed0000… — Ada Lovelace at Ocean View Loft",
  );
});

Deno.test("sync_failed email: text and HTML carry every field", () => {
  const email = renderAlertEmail(syncFailedContext(), LINK);
  const expected = [
    BOOKING,
    "Ada Lovelace",
    "ada@example.com",
    "Ocean View Loft",
    "2027-02-01",
    "2027-02-05",
    "€640.00",
    "pi_3QxYzAbCdEf",
    "Guestly HTTP 422: guest.email: rejected",
    "422",
    "Guestly HTTP 503: unavailable",
    "2026-11-26 12:30:01 UTC",
    "2026-11-26 12:34:55 UTC",
    `npm run sync:retry -- ${BOOKING}`,
    "2026-11-29 12:34:55 UTC",
  ];
  for (const field of expected) {
    assert.ok(email.text.includes(field), `text lacks ${field}`);
    assert.ok(email.html.includes(field), `html lacks ${field}`);
  }
  assert.ok(email.text.includes(`select guestly_retry_sync('${BOOKING}');`));
  assert.ok(email.html.includes(`select guestly_retry_sync(&#39;${BOOKING}&#39;);`));
  assert.ok(email.text.includes(LINK.url));
  assert.ok(email.html.includes(`href="${LINK.url.replace("&", "&amp;")}"`));
  assert.match(email.text, /HTTP status:\s+422/);
  assert.match(email.text, /ATTEMPTS \(2\)/);
});

Deno.test("sync_failed email: the guest name is escaped in HTML (and in the subject it is text)", () => {
  const ctx = syncFailedContext();
  ctx.booking!.guest_first_name = `<script>alert("x")</script>`;
  ctx.booking!.property_name = "Loft & <b>Sea</b>";
  ctx.attempts[1].error = "<img src=x onerror=alert(1)>";
  const email = renderAlertEmail(ctx, LINK);
  assert.ok(!email.html.includes("<script>"));
  assert.ok(!email.html.includes("<img"));
  assert.ok(!email.html.includes("<b>Sea"));
  assert.ok(email.html.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
  assert.ok(email.html.includes("Loft &amp; &lt;b&gt;Sea&lt;/b&gt;"));
  assert.ok(email.text.includes(`<script>alert("x")</script> Lovelace`));
});

Deno.test("sync_failed email: no secret, no key, and the same bytes every time", async () => {
  const deps = { supabaseUrl: "https://proj.supabase.co", retryLinkSecret: SECRET };
  const first = await buildAlertEmail(syncFailedContext(), deps);
  const second = await buildAlertEmail(syncFailedContext(), deps);
  assert.deepEqual(first, second);
  for (const part of [first.subject, first.text, first.html]) {
    assert.ok(!part.includes(SECRET));
    assert.ok(!/service_role|eyJhbGci|re_[A-Za-z0-9]{8}/.test(part));
  }
  const url = /https:\/\/proj\.supabase\.co\/functions\/v1\/retry-link\?token=([\w.-]+)/
    .exec(first.text);
  assert.ok(url, "the one-click link is in the text");
  const check = await verifyRetryToken(url[1], SECRET, Date.parse("2026-11-27T00:00:00Z"));
  assert.deepEqual(check, {
    ok: true,
    payload: { alertId: ALERT, bookingId: BOOKING, exp: Date.parse("2026-11-29T12:34:55Z") / 1000 },
  });
});

Deno.test("sync_failed email without a link secret still shows CLI and SQL", async () => {
  const email = await buildAlertEmail(syncFailedContext(), {
    supabaseUrl: "https://proj.supabase.co",
    retryLinkSecret: "",
  });
  assert.ok(!email.text.includes("retry-link?token="));
  assert.ok(email.text.includes("RETRY_LINK_SECRET is not set"));
  assert.ok(email.text.includes(`npm run sync:retry -- ${BOOKING}`));
});

Deno.test("payment_mismatch email: own subject and body with both amounts", () => {
  const ctx = syncFailedContext({
    alert: {
      id: ALERT,
      kind: "payment_mismatch",
      booking_id: BOOKING,
      details: {
        event_id: "evt_1Qabc",
        event_type: "checkout.session.completed",
        payment_intent_id: "pi_mismatch_1",
        expected_amount: 64000,
        expected_currency: "eur",
        received_amount: 50000,
        received_currency: "eur",
      },
      created_at: CREATED,
    },
    attempts: [],
    attempts_total: 0,
  });
  const email = renderAlertEmail(ctx, null);
  assert.equal(
    email.subject,
    "Payment mismatch: booking 5eed0000… — Ada Lovelace at Ocean View Loft " +
      "(received €500.00 EUR, expected €640.00 EUR)",
  );
  for (
    const field of ["evt_1Qabc", "pi_mismatch_1", "€500.00", "€640.00", BOOKING, "NOT confirmed"]
  ) {
    assert.ok(email.text.includes(field), `text lacks ${field}`);
    assert.ok(email.html.includes(field), `html lacks ${field}`);
  }
  assert.ok(!email.text.includes("sync:retry"), "a mismatch is not fixed by a sync retry");
});

Deno.test("amounts use the currency's own decimals", () => {
  assert.equal(formatAmount(64000, "eur"), "€640.00 EUR");
  assert.equal(formatAmount(45000, "usd"), "$450.00 USD");
  assert.equal(formatAmount(12000, "jpy"), "¥12,000 JPY");
  assert.equal(formatAmount("64000", "chf"), "CHF 640.00");
});

Deno.test("retry token: valid, expired, forged, tampered, malformed", async () => {
  const now = Date.parse("2026-11-26T12:00:00Z");
  const exp = now / 1000 + 3600;
  const token = await signRetryToken({ alertId: ALERT, bookingId: BOOKING, exp }, SECRET);
  assert.deepEqual(await verifyRetryToken(token, SECRET, now), {
    ok: true,
    payload: { alertId: ALERT, bookingId: BOOKING, exp },
  });
  assert.deepEqual(await verifyRetryToken(token, SECRET, now + 3600_000), {
    ok: false,
    reason: "expired",
  });
  const forged = await signRetryToken({ alertId: ALERT, bookingId: BOOKING, exp }, "other-secret");
  assert.deepEqual(await verifyRetryToken(forged, SECRET, now), { ok: false, reason: "forged" });
  // Another booking id in the payload, the old signature kept.
  const [, signature] = token.split(".");
  const otherPayload = (await signRetryToken(
    { alertId: ALERT, bookingId: "5eed0000-0000-4000-8000-000000000002", exp },
    SECRET,
  )).split(".")[0];
  assert.deepEqual(await verifyRetryToken(`${otherPayload}.${signature}`, SECRET, now), {
    ok: false,
    reason: "forged",
  });
  // A longer lifetime, same signature.
  const later =
    (await signRetryToken({ alertId: ALERT, bookingId: BOOKING, exp: exp + 99 }, SECRET))
      .split(".")[0];
  assert.equal((await verifyRetryToken(`${later}.${signature}`, SECRET, now)).ok, false);
  for (const bad of ["", "abc", "a.b.c", `${token}x!`, ".", null]) {
    assert.deepEqual(await verifyRetryToken(bad, SECRET, now), { ok: false, reason: "malformed" });
  }
});

Deno.test("retry link: 72 h from the alert, on the project's functions URL", async () => {
  const link = await retryLinkFor("https://proj.supabase.co/", {
    id: ALERT,
    bookingId: BOOKING,
    createdAt: "2026-11-26T12:00:00Z",
  }, SECRET);
  assert.equal(link.expiresAt.toISOString(), "2026-11-29T12:00:00.000Z");
  assert.match(
    link.url,
    /^https:\/\/proj\.supabase\.co\/functions\/v1\/retry-link\?token=[\w-]+\.[\w-]+$/,
  );
});

// ---------------------------------------------------------------------------------------------
// Delivery loop with an in-memory outbox.

class MemoryOutbox implements AlertStore {
  due: string[];
  sent = new Map<string, string | null>();
  failed: Array<{ id: string; error: string }> = [];
  constructor(ids: string[]) {
    this.due = [...ids];
  }
  claimDue(batchSize: number) {
    const batch = this.due.splice(0, batchSize);
    return Promise.resolve(batch.map((id) => ({
      id,
      kind: "sync_failed",
      booking_id: BOOKING,
      created_at: CREATED,
      send_attempts: 1,
    })));
  }
  context(id: string) {
    const ctx = syncFailedContext();
    ctx.alert.id = id;
    return Promise.resolve(ctx);
  }
  markSent(id: string, messageId: string | null) {
    this.sent.set(id, messageId);
    return Promise.resolve();
  }
  markFailed(id: string, error: string) {
    this.failed.push({ id, error });
    return Promise.resolve("2026-11-26T12:36:00.000Z");
  }
}

Deno.test("delivery: sent alerts are marked sent, a failing send is marked failed", async () => {
  const ids = ["a1e70000-0000-4000-8000-000000000001", "a1e70000-0000-4000-8000-000000000002"];
  const store = new MemoryOutbox(ids);
  const calls: Array<{ to: string[]; key: string }> = [];
  const sleeps: number[] = [];
  const mailer: Mailer = {
    send(email, key) {
      calls.push({ to: email.to, key });
      return Promise.resolve(
        key === ids[0] ? { ok: true, id: "msg-1" } : { ok: false, error: "Resend 503 down" },
      );
    },
  };
  const summary = await deliverDueAlerts({
    store,
    mailer,
    from: "Alerts <a@x.example>",
    to: ["one@x.example", "two@x.example"],
    supabaseUrl: "https://proj.supabase.co",
    retryLinkSecret: SECRET,
    log: memoryLogger(),
    batchSize: 1,
    spacingMs: 550,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  });
  assert.deepEqual(sleeps, [550], "sends are spaced for Resend's rate limit");
  assert.deepEqual(summary.sent, [ids[0]]);
  assert.deepEqual(summary.failed.map((f) => f.id), [ids[1]]);
  assert.deepEqual([...store.sent], [[ids[0], "msg-1"]]);
  assert.deepEqual(store.failed, [{ id: ids[1], error: "Resend 503 down" }]);
  assert.deepEqual(calls.map((c) => c.key), ids, "the idempotency key is the alert id");
  assert.deepEqual(calls[0].to, ["one@x.example", "two@x.example"]);
});

function fakeResend(answer: { data: unknown; error: unknown }, seen: unknown[] = []): Resend {
  return {
    emails: {
      send: (payload: unknown, options: unknown) => {
        seen.push({ payload, options });
        return Promise.resolve(answer);
      },
    },
  } as unknown as Resend;
}

Deno.test("resend mailer: passes the idempotency key; errors become values", async () => {
  const seen: unknown[] = [];
  const email = {
    from: "f@x.example",
    to: ["t@x.example"],
    subject: "s",
    text: "t",
    html: "<p>h</p>",
  };
  const ok = await resendMailer(fakeResend({ data: { id: "re_1" }, error: null }, seen))
    .send(email, ALERT);
  assert.deepEqual(ok, { ok: true, id: "re_1" });
  assert.deepEqual(seen[0], { payload: email, options: { idempotencyKey: ALERT } });
  const down = await resendMailer(fakeResend({
    data: null,
    error: { statusCode: 503, name: "service_unavailable", message: "outage" },
  })).send(email, ALERT);
  assert.deepEqual(down, { ok: false, error: "Resend 503 service_unavailable: outage" });
  const reused = await resendMailer(fakeResend({
    data: null,
    error: { statusCode: 409, name: "invalid_idempotent_request", message: "different payload" },
  })).send(email, ALERT);
  assert.deepEqual(reused, { ok: true, id: null }, "already sent once: never send it again");
});

// ---------------------------------------------------------------------------------------------
// HTTP edges.

Deno.test("notify-admin: only the service_role key gets in", async () => {
  let delivered = 0;
  const handler = createNotifyAdminHandler({
    serviceKeys: serviceKeysFrom({ SUPABASE_SERVICE_ROLE_KEY: "service-key" }),
    configError: null,
    deliver: () => {
      delivered++;
      return Promise.resolve({ sent: ["x"], failed: [] });
    },
    log: memoryLogger(),
  });
  const call = (auth?: string) =>
    handler(
      new Request("http://x/notify-admin", {
        method: "POST",
        body: "{}",
        headers: auth ? { Authorization: auth } : {},
      }),
    );
  assert.equal((await call()).status, 401);
  assert.equal((await call("Bearer anon-key")).status, 401);
  const ok = await call("Bearer service-key");
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { sent: 1, failed: [] });
  assert.equal(delivered, 1);
});

// The retry-link handler's tests are in retry_link_test.ts.
