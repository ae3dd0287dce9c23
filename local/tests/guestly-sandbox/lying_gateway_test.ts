// Keep-alive and the lying gateway: commits answered 502/503/504, slow commits, and Deno's
// fetch re-sending a create on a dropped reused connection (and the no-pool fix).
import assert from "node:assert/strict";
import {
  booking,
  call,
  freshConnections,
  type GuestlySandbox,
  ROOMY,
  setFaults,
  stored,
  token,
  withSandbox,
} from "./helpers.ts";
import { POOLED_FETCH_RESENDS_ON_DROP } from "../../hosted-runtime.ts";

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
      body: booking(),
    });
    assert.equal(r.status, 503);
    assert.match(r.headers.get("content-type") ?? "", /^text\/plain/);
    assert.throws(() => JSON.parse(r.text), "a gateway's 503 is not Guestly JSON");
    assert.equal(r.headers.get("x-ratelimit-limit-second"), null);
    // The reservation really exists and a lookup by the stay (listing and dates) finds it.
    const all = await stored(sb);
    assert.equal(all.length, 1);
    await setFaults(sb, { commitThenErrorRate: 0 });
    const stay = new URLSearchParams({
      "filter[listingId]": String(all[0].listingId),
      "filter[checkInDateLocalized]": String(all[0].checkInDateLocalized),
      "filter[checkOutDateLocalized]": String(all[0].checkOutDateLocalized),
    });
    const found = await call(sb, "GET", `/v1/reservations-v3/search?${stay}`, { token: t });
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
    }).catch((error: Error) => error);
    const posts = await creates(sb);
    console.log(
      `Deno ${Deno.version.deno}, plain fetch, one create, reused connection dropped: ` +
        `${posts.length} POST(s) arrived, caller saw ${
          r instanceof Error ? r.message : r.status
        }, ${(await stored(sb)).length} reservation(s)`,
    );
    assert.equal(posts[0].reusedConnection, true);
    assert.equal(posts[0].fault, "dropReusedCreate");
    assert.equal(posts[0].committed, true);
    if (POOLED_FETCH_RESENDS_ON_DROP) {
      // Deno 2.9 (the tooling's): fetch silently sends the POST again on a new connection, and
      // the caller sees a clean 201 while two reservations exist.
      assert.equal(posts.length, 2, "Deno's fetch re-sends the create once");
      assert.equal(posts[1].reusedConnection, false);
      assert.ok(!(r instanceof Error) && r.status === 201, String(r));
      assert.equal((await stored(sb)).length, 2);
    } else {
      // Deno 2.1 (the hosted runtime's): the drop fails the call; one POST, one reservation
      // the caller does not know about.
      assert.equal(posts.length, 1, "Deno 2.1's fetch does not re-send");
      assert.ok(r instanceof TypeError, String(r));
      assert.equal((await stored(sb)).length, 1);
    }
    assert.equal((await call(sb, "GET", "/__sandbox/faults")).body.dropReusedCreates, 0);
  });
});

Deno.test("Connection: close on the create alone does not stop the re-send", async () => {
  await withSandbox(ROOMY, async (sb) => {
    const t = await token(sb);
    await call(sb, "GET", "/v1/reservations-v3/search", { token: t });
    await setFaults(sb, { dropReusedCreates: 1 });
    const sent = call(sb, "POST", "/v1/reservations-v3", {
      token: t,
      body: booking(),
      headers: { Connection: "close" },
    });
    // The pooled connection of the earlier request is still used for the create: it is dropped,
    // and Deno 2.9 re-sends it (two POSTs) where 2.1 fails the call (one).
    if (POOLED_FETCH_RESENDS_ON_DROP) {
      await sent;
      assert.equal((await creates(sb)).length, 2);
    } else {
      await assert.rejects(sent, TypeError);
      const posts = await creates(sb);
      assert.equal(posts.length, 1);
      assert.equal(posts[0].fault, "dropReusedCreate", "it went out on the pooled connection");
    }
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
    // The same drop on plain fetch's warm connection (dropReusedCreates is still armed: the
    // create above came on a new connection) — re-sent on Deno 2.9, failed on 2.1:
    await setFaults(sb, { failNext: [{ status: 0, commit: true }] });
    const read = call(sb, "GET", "/v1/reservations-v3/search", { token: t });
    if (POOLED_FETCH_RESENDS_ON_DROP) {
      await read; // the dropped read is re-sent too
      const r = await call(sb, "POST", "/v1/reservations-v3", {
        token: t,
        body: booking({ ignoreCalendar: true }),
      });
      assert.equal(r.status, 201, "plain fetch hides the drop");
      assert.equal((await creates(sb)).length, 3);
      assert.equal((await stored(sb)).length, 3);
    } else {
      await assert.rejects(read, TypeError, "Deno 2.1 fails the dropped read");
      await call(sb, "GET", "/v1/reservations-v3/search", { token: t }); // warms a connection
      await assert.rejects(
        call(sb, "POST", "/v1/reservations-v3", {
          token: t,
          body: booking({ ignoreCalendar: true }),
        }),
        TypeError,
        "plain fetch on Deno 2.1 shows the drop",
      );
      const posts = await creates(sb);
      assert.equal(posts.length, 2);
      assert.equal(posts[1].fault, "dropReusedCreate");
      assert.equal((await stored(sb)).length, 2);
    }
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
