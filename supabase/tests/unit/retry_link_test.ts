// The retry link: only a person's deliberate action (the page's button, a POST with the token in
// its body) starts a retry. A mail scanner's GET, HEAD or prefetch changes nothing.
import assert from "node:assert/strict";
import {
  createRetryLinkHandler,
  isDefaultSupabaseDomain,
  type PreviewResult,
  type RedeemResult,
} from "../../functions/_shared/notifications/handlers.ts";
import {
  parseRetryLinkBase,
  retryLinkFor,
  signRetryToken,
} from "../../functions/_shared/notifications/retry-token.ts";
import { buildAlertEmail } from "../../functions/_shared/notifications/outbox.ts";
import { memoryLogger } from "../../functions/_shared/log.ts";

const SECRET = "unit-test-retry-link-secret-0123456789";
const BOOKING = "5eed0000-0000-4000-8000-000000000001";
const ALERT = "a1e70000-0000-4000-8000-00000000000a";
const NOW = Date.parse("2026-11-26T12:00:00Z");
const FN_URL = "https://proj.supabase.co/functions/v1/retry-link";
const SITE = "https://www.rental.example";

/** A database stand-in with the same rules as guestly.redeem_retry_link / preview_retry_link. */
function fakeDb() {
  const used = new Map<string, string>();
  const retries: string[] = [];
  const previews: string[] = [];
  return {
    used,
    retries,
    previews,
    redeem: (linkId: string, bookingId: string): Promise<RedeemResult> => {
      if (used.has(linkId)) {
        return Promise.resolve({ ok: false, reason: "link_used", used_at: used.get(linkId) });
      }
      used.set(linkId, "2026-11-26 12:00:05+00");
      retries.push(bookingId);
      return Promise.resolve({ ok: true, request_id: retries.length });
    },
    preview: (linkId: string): Promise<PreviewResult> => {
      previews.push(linkId);
      if (used.has(linkId)) {
        return Promise.resolve({ ok: false, reason: "link_used", used_at: used.get(linkId) });
      }
      return Promise.resolve({
        ok: true,
        booking_status: "confirmed",
        sync_status: "failed",
        last_error: "Guestly HTTP 422: guest.email: <rejected>",
        attempts: 4,
        next_attempt_at: null,
        gave_up_at: "2026-11-26 11:00:00+00",
      });
    },
  };
}

function setup() {
  const db = fakeDb();
  const handler = createRetryLinkHandler({
    secret: SECRET,
    now: () => NOW,
    redeem: db.redeem,
    preview: db.preview,
    functionUrl: FN_URL,
    allowedOrigins: [SITE],
    log: memoryLogger(),
  });
  return { db, handler };
}

const token = () =>
  signRetryToken({ alertId: ALERT, bookingId: BOOKING, exp: NOW / 1000 + 3600 }, SECRET);
const local = (t: string) => `http://127.0.0.1:54321/functions/v1/retry-link?token=${t}`;
const form = (t: string, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
  body: new URLSearchParams({ token: t }).toString(),
});

Deno.test("retry-link: a scanner's GET, HEAD and prefetch start nothing and spend nothing", async () => {
  const { db, handler } = setup();
  const t = await token();
  const scanners: RequestInit[] = [
    {},
    { method: "HEAD" },
    { headers: { purpose: "prefetch", "sec-purpose": "prefetch" } },
    { headers: { "user-agent": "Mozilla/5.0 (compatible; SafeLinks scanner)", accept: "*/*" } },
    { headers: { accept: "application/json" } },
  ];
  for (const init of scanners) {
    for (let i = 0; i < 3; i++) {
      const response = await handler(new Request(local(t), init));
      assert.equal(response.status, 200, JSON.stringify(init));
      await response.body?.cancel();
    }
  }
  assert.deepEqual(db.retries, [], "no retry started");
  assert.equal(db.used.size, 0, "the link is not used up");
  assert.equal(db.previews.length, 15, "each GET/HEAD only read the state");

  // After all that, the person's click still works.
  const click = await handler(
    new Request(local(""), form(t, { origin: "http://127.0.0.1:54321" })),
  );
  assert.equal(click.status, 200);
  assert.deepEqual(db.retries, [BOOKING]);
});

Deno.test("retry-link: GET shows what the retry will do and a button that POSTs the token", async () => {
  const { handler } = setup();
  const t = await token();
  const response = await handler(new Request(local(t)));
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type")!, /^text\/html/);
  assert.equal(response.headers.get("referrer-policy"), "no-referrer");
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.match(response.headers.get("content-security-policy")!, /frame-ancestors 'none'/);
  const html = await response.text();
  assert.match(html, new RegExp(`Retry the Guestly sync of booking ${BOOKING}\\?`));
  assert.match(html, /Nothing has been started: opening this link changes nothing/);
  assert.match(html, /sync is failed after 4 attempts \(no automatic retry is left\)/);
  assert.match(html, /Guestly HTTP 422: guest\.email: &lt;rejected&gt;/, "escaped");
  assert.match(html, /<form method="post" action="\?">/, "posts to the same path, no query");
  assert.ok(html.includes(`<input type="hidden" name="token" value="${t}">`), "token in the body");
  assert.match(html, /<button type="submit"[^>]*>Start the retry<\/button>/);
  assert.match(html, /until 2026-11-26 13:00 UTC/);
});

Deno.test("retry-link: the POST starts the retry once; a replay is refused and says why", async () => {
  const { db, handler } = setup();
  const t = await token();
  const first = await handler(new Request(local(""), form(t)));
  assert.equal(first.status, 200);
  assert.match(await first.text(), new RegExp(`Retry started for booking ${BOOKING}`));
  for (let i = 0; i < 2; i++) {
    const replay = await handler(new Request(local(""), form(t)));
    assert.equal(replay.status, 403);
    const text = await replay.text();
    assert.match(text, /This retry link was already used at 2026-11-26 12:00:05\+00/);
    assert.match(text, new RegExp(`npm run sync:retry -- ${BOOKING}`));
  }
  assert.deepEqual(db.retries, [BOOKING], "exactly one retry");
  // The page now says the same on GET.
  const page = await handler(new Request(local(t)));
  assert.equal(page.status, 403);
  assert.match(await page.text(), /already used/);
});

Deno.test("retry-link: a POST needs the token in its body, and a cross-site form is refused", async () => {
  const { db, handler } = setup();
  const t = await token();
  // Token only in the URL (a scanner or a tool re-sending the link as POST).
  const urlOnly = await handler(new Request(local(t), { method: "POST" }));
  assert.equal(urlOnly.status, 400);
  assert.match(await urlOnly.text(), /token must be sent in the POST body/);
  const empty = await handler(new Request(local(t), form("")));
  assert.equal(empty.status, 400);
  await empty.body?.cancel();
  // Another site's page that got hold of a link cannot make the admin's browser start it.
  const crossSite = await handler(
    new Request(
      local(""),
      form(t, { origin: "https://evil.example", "sec-fetch-site": "cross-site" }),
    ),
  );
  assert.equal(crossSite.status, 403);
  assert.match(await crossSite.text(), /request from another site \(https:\/\/evil\.example\)/);
  assert.deepEqual(db.retries, []);
  assert.equal(db.used.size, 0);
  // A forged token in the body is refused like one in a link.
  const forged = await signRetryToken(
    { alertId: ALERT, bookingId: BOOKING, exp: NOW / 1000 + 60 },
    "x",
  );
  const f = await handler(new Request(local(""), form(forged)));
  assert.equal(f.status, 403);
  assert.match(await f.text(), /signature does not match/);
  const expired = await signRetryToken(
    { alertId: ALERT, bookingId: BOOKING, exp: NOW / 1000 - 1 },
    SECRET,
  );
  const e = await handler(new Request(local(expired)));
  assert.equal(e.status, 403);
  assert.match(await e.text(), /expired/);
  const m = await handler(new Request(local("")));
  assert.equal(m.status, 403);
  assert.match(await m.text(), /malformed/);
  const put = await handler(new Request(local(t), { method: "PUT", body: "x" }));
  assert.equal(put.status, 405);
  assert.equal(put.headers.get("allow"), "GET, HEAD, POST, OPTIONS");
  await put.body?.cancel();
  assert.deepEqual(db.retries, []);
});

Deno.test("retry-link: the RETRY_LINK_BASE_URL page may preview and start through CORS", async () => {
  const { db, handler } = setup();
  const t = await token();
  const preflight = await handler(
    new Request(FN_URL, {
      method: "OPTIONS",
      headers: {
        origin: SITE,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    }),
  );
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), SITE);
  assert.match(preflight.headers.get("access-control-allow-methods")!, /POST/);
  assert.match(preflight.headers.get("access-control-allow-headers")!, /content-type/);
  const other = await handler(
    new Request(FN_URL, { method: "OPTIONS", headers: { origin: "https://evil.example" } }),
  );
  assert.equal(other.status, 403);
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  await other.body?.cancel();

  const preview = await handler(
    new Request(`${FN_URL}?token=${t}`, { headers: { origin: SITE, accept: "application/json" } }),
  );
  assert.equal(preview.status, 200);
  assert.equal(preview.headers.get("access-control-allow-origin"), SITE);
  const shown = await preview.json();
  assert.equal(shown.state, "ready");
  assert.equal(shown.booking_id, BOOKING);
  assert.equal(shown.sync_status, "failed");
  assert.deepEqual(db.retries, []);

  const post = () =>
    handler(
      new Request(FN_URL, {
        method: "POST",
        headers: {
          origin: SITE,
          "sec-fetch-site": "cross-site",
          "content-type": "application/json",
        },
        body: JSON.stringify({ token: t }),
      }),
    );
  const started = await post();
  assert.equal(started.status, 200);
  assert.equal(started.headers.get("access-control-allow-origin"), SITE);
  assert.deepEqual(await started.json(), {
    title: `Retry started for booking ${BOOKING}`,
    message: `Retry started for booking ${BOOKING}. A new sync round is running; if it fails ` +
      "again you will get a new alert. Check progress with npm run sync:status.",
    ok: true,
    state: "started",
    booking_id: BOOKING,
  });
  const replay = await post();
  assert.equal(replay.status, 403);
  assert.equal((await replay.json()).reason, "link_used");
  assert.deepEqual(db.retries, [BOOKING]);
});

Deno.test("retry-link on *.supabase.co: plain text that says how to start it, nothing started", async () => {
  const { db, handler } = setup();
  const t = await token();
  const onHosted = new Request(`http://proj.supabase.co/retry-link?token=${t}`, {
    headers: { host: "proj.supabase.co" },
  });
  assert.ok(isDefaultSupabaseDomain(onHosted));
  assert.ok(!isDefaultSupabaseDomain(new Request(local(t))));
  assert.ok(
    !isDefaultSupabaseDomain(
      new Request(local(t), { headers: { "x-forwarded-host": "api.rental.example" } }),
    ),
  );
  const response = await handler(onHosted);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type")!, /^text\/plain/);
  const text = await response.text();
  assert.ok(!/<(p|form|html|button|input)\b/.test(text), "no markup to be shown raw");
  assert.match(text, /Nothing has been started/);
  assert.ok(text.includes(`curl -X POST --data-urlencode 'token=${t}' '${FN_URL}'`));
  assert.ok(text.includes(`npm run sync:retry -- ${BOOKING}`));
  assert.deepEqual(db.retries, []);
  // The POST's answer is HTML even there (only GET answers are rewritten to text/plain).
  const post = await handler(
    new Request("http://proj.supabase.co/retry-link", {
      ...form(t),
      headers: { ...form(t).headers, host: "proj.supabase.co" },
    }),
  );
  assert.equal(post.status, 200);
  assert.match(post.headers.get("content-type")!, /^text\/html/);
  await post.body?.cancel();
});

Deno.test("retry link URL: the function, or RETRY_LINK_BASE_URL with the token in the fragment", async () => {
  const alert = { id: ALERT, bookingId: BOOKING, createdAt: "2026-11-26T12:00:00Z" };
  const direct = await retryLinkFor("https://proj.supabase.co/", alert, SECRET);
  assert.match(
    direct.url,
    /^https:\/\/proj\.supabase\.co\/functions\/v1\/retry-link\?token=[\w-]+\.[\w-]+$/,
  );
  const base = parseRetryLinkBase(" https://www.rental.example/admin/retry ");
  assert.deepEqual(base, {
    ok: true,
    base: { url: "https://www.rental.example/admin/retry", origin: "https://www.rental.example" },
  });
  const viaSite = await retryLinkFor(
    "https://proj.supabase.co",
    alert,
    SECRET,
    "https://www.rental.example/admin/retry",
  );
  assert.match(viaSite.url, /^https:\/\/www\.rental\.example\/admin\/retry#token=[\w-]+\.[\w-]+$/);
  assert.equal(viaSite.url.split("#token=")[1], direct.url.split("?token=")[1], "the same token");
  const customDomain = await retryLinkFor(
    "https://proj.supabase.co",
    alert,
    SECRET,
    "https://api.rental.example/functions/v1/retry-link",
  );
  assert.equal(
    customDomain.url,
    `https://api.rental.example/functions/v1/retry-link?token=${direct.url.split("?token=")[1]}`,
    "the function on a custom domain gets the token in the query",
  );
  assert.deepEqual(parseRetryLinkBase(undefined), { ok: true, base: null });
  assert.deepEqual(parseRetryLinkBase(""), { ok: true, base: null });
  for (
    const bad of [
      "www.rental.example",
      "ftp://x.example/",
      "https://x.example/#t",
      "https://x.example/?a=1",
    ]
  ) {
    const parsed = parseRetryLinkBase(bad);
    assert.equal(parsed.ok, false, bad);
    assert.match((parsed as { error: string }).error, /RETRY_LINK_BASE_URL/);
  }
  // The email carries the website link when the base URL is set.
  const email = await buildAlertEmail({
    alert: {
      id: ALERT,
      kind: "sync_failed",
      booking_id: BOOKING,
      details: {},
      created_at: "2026-11-26T12:00:00Z",
    },
    booking: null,
    attempts_total: 0,
    attempts: [],
  }, {
    supabaseUrl: "https://proj.supabase.co",
    retryLinkSecret: SECRET,
    retryLinkBaseUrl: "https://www.rental.example/admin/retry",
  });
  assert.ok(email.text.includes(viaSite.url));
  assert.match(email.text, /opening it changes nothing; its button starts the retry/);
});
