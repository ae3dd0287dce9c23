// Who may call guestly-sync and notify-admin (verify_jwt = false): the legacy service_role JWT
// or a secret key, in `Authorization: Bearer` or `apikey`, and nothing else.
import assert from "node:assert/strict";
import { parseSecretKeys, serviceKeysFrom } from "../../functions/_shared/service-keys.ts";
import { createGuestlySyncHandler } from "../../functions/_shared/guestly/handler.ts";
import { memoryLogger } from "../../functions/_shared/log.ts";

const LEGACY = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJl";
const SECRET = "sb_secret_0123456789abcdefghijkl_0a1b2c3d";
const SECOND = "sb_secret_ZYXWVUTSRQPONMLKJIHGFE_9f8e7d6c";
const PUBLISHABLE = "sb_publishable_0123456789abcdefghij_11223344";
const ANON = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.c2lnbmF0dXJl";

const platformEnv = {
  SUPABASE_SERVICE_ROLE_KEY: LEGACY,
  SUPABASE_ANON_KEY: ANON,
  SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET }),
  SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: PUBLISHABLE }),
};

function request(headers: Record<string, string>): Request {
  return new Request("http://x/guestly-sync", { method: "POST", headers, body: "{}" });
}

Deno.test("SUPABASE_SECRET_KEYS: a JSON object of named keys", () => {
  assert.deepEqual(parseSecretKeys(JSON.stringify({ default: SECRET, database: SECOND })), {
    keys: [SECRET, SECOND],
    problem: null,
  });
  assert.deepEqual(parseSecretKeys(undefined), { keys: [], problem: null });
  assert.deepEqual(parseSecretKeys(` ${SECRET} `), { keys: [SECRET], problem: null });
  assert.match(parseSecretKeys("{not json").problem!, /SUPABASE_SECRET_KEYS is not JSON/);
  assert.match(parseSecretKeys(`["${SECRET}"]`).problem!, /must be a JSON object/);
  const partial = parseSecretKeys(JSON.stringify({ default: SECRET, broken: 42 }));
  assert.deepEqual(partial.keys, [SECRET]);
  assert.match(partial.problem!, /broken/);
});

Deno.test("the legacy service_role JWT and every secret key get in, in either header", async () => {
  const keys = serviceKeysFrom({
    ...platformEnv,
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET, database: SECOND }),
  });
  assert.equal(keys.count, 3);
  assert.deepEqual(keys.problems, []);
  for (const key of [LEGACY, SECRET, SECOND]) {
    assert.ok(await keys.accepts(request({ Authorization: `Bearer ${key}` })), "bearer");
    assert.ok(await keys.accepts(request({ apikey: key })), "apikey");
  }
  // supabase-js with a user session: the user's JWT as bearer, the key in apikey.
  assert.ok(await keys.accepts(request({ Authorization: `Bearer ${ANON}`, apikey: SECRET })));
});

Deno.test("anon, publishable, forged, truncated and random keys are refused with 401", async () => {
  const keys = serviceKeysFrom(platformEnv);
  const refused: Array<Record<string, string>> = [
    {},
    { Authorization: `Bearer ${ANON}` },
    { apikey: ANON },
    { apikey: PUBLISHABLE },
    { Authorization: `Bearer ${PUBLISHABLE}` },
    { apikey: `sb_secret_${crypto.randomUUID().replaceAll("-", "")}` },
    { apikey: SECRET.slice(0, -1) },
    { apikey: `${SECRET}x` },
    { Authorization: `Bearer ${LEGACY.slice(0, -4)}AAAA` },
    { Authorization: SECRET }, // no "Bearer "
    { Authorization: `Basic ${SECRET}` },
    { Authorization: "Bearer " },
  ];
  for (const headers of refused) {
    assert.equal(await keys.accepts(request(headers)), false, JSON.stringify(headers));
    const answer = await keys.refusal(request(headers));
    assert.equal(answer?.status, 401);
    assert.match((await answer!.json()).error, /sb_secret_.*apikey.*service_role/);
  }
  assert.equal(await keys.refusal(request({ apikey: SECRET })), null);
});

Deno.test("a project with only the new keys (legacy keys disabled) works", async () => {
  const keys = serviceKeysFrom({ SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET }) });
  assert.ok(await keys.accepts(request({ apikey: SECRET })));
  assert.equal(await keys.accepts(request({ Authorization: `Bearer ${LEGACY}` })), false);
  const single = serviceKeysFrom({ SUPABASE_SECRET_KEY: SECRET });
  assert.ok(await single.accepts(request({ apikey: SECRET })));
});

Deno.test("a publishable key is never a service key, even when configured as one", async () => {
  const keys = serviceKeysFrom({
    SUPABASE_SECRET_KEY: PUBLISHABLE,
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET }),
  });
  assert.equal(await keys.accepts(request({ apikey: PUBLISHABLE })), false);
  assert.ok(await keys.accepts(request({ apikey: SECRET })));
  assert.match(keys.problems.join("\n"), /SUPABASE_SECRET_KEY holds a publishable key/);
});

Deno.test("no key configured: every call is refused with 500 saying why", async () => {
  const keys = serviceKeysFrom({ SUPABASE_SECRET_KEYS: "oops" });
  assert.equal(keys.count, 0);
  const answer = await keys.refusal(request({ apikey: SECRET }));
  assert.equal(answer?.status, 500);
  assert.match((await answer!.json()).error, /no service key configured/);
  assert.match(keys.problems[0], /not JSON/);
  // Never the value of a key in a problem.
  const odd = serviceKeysFrom({ SUPABASE_SECRET_KEY: PUBLISHABLE });
  assert.ok(!odd.problems.join("").includes(PUBLISHABLE));
});

Deno.test("guestly-sync's handler: a secret key in apikey reaches the sync, others do not", async () => {
  const synced: string[] = [];
  const handler = createGuestlySyncHandler({
    serviceKeys: serviceKeysFrom(platformEnv),
    enabled: true,
    sync: (bookingId) => {
      synced.push(bookingId);
      return Promise.resolve({ outcome: "skipped", reason: "already_synced" } as never);
    },
    retry: () => Promise.reject(new Error("not called")),
    log: memoryLogger(),
  });
  const id = crypto.randomUUID();
  const call = (headers: Record<string, string>) =>
    handler(
      new Request("http://x/guestly-sync", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...headers },
        body: JSON.stringify({ bookingId: id }),
      }),
    );
  assert.equal((await call({ apikey: PUBLISHABLE })).status, 401);
  assert.equal((await call({ Authorization: `Bearer ${ANON}` })).status, 401);
  assert.deepEqual(synced, []);
  assert.equal((await call({ apikey: SECRET })).status, 200);
  assert.equal((await call({ Authorization: `Bearer ${LEGACY}` })).status, 200);
  assert.deepEqual(synced, [id, id]);
});

// A function builds its service keys once, at start, so hashing the configured keys waits for
// the first request that presents one: started at construction, it outlived the tests that
// never present a key and failed them on the leak sanitizer ("an async operation to digest data
// was started in this test, but never completed", seen on the hosted runtime's Deno 2.1).
Deno.test("the configured keys are hashed on first use, not when the keys are built", async () => {
  const subtle = crypto.subtle;
  const original = subtle.digest;
  let digests = 0;
  subtle.digest = function (...args: Parameters<SubtleCrypto["digest"]>) {
    digests++;
    return original.apply(subtle, args);
  };
  try {
    const keys = serviceKeysFrom({
      SUPABASE_SERVICE_ROLE_KEY: LEGACY,
      SUPABASE_SECRET_KEY: SECRET,
    });
    assert.equal(digests, 0, "nothing hashed while building");
    const request = new Request("http://x/", { headers: { apikey: SECRET } });
    assert.equal(await keys.accepts(request), true);
    assert.equal(digests, 3, "both configured keys and the presented one");
    assert.equal(await keys.accepts(request), true);
    assert.equal(digests, 4, "the configured keys' digests are kept");
  } finally {
    subtle.digest = original;
  }
});
