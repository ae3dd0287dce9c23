// Integration tests of the local pg_net stand-in (local/extensions/pg_net--0.14.0.sql) with a real
// worker (local/pg_net/worker.ts) against the running local database.
//
// The stack's own pg_net worker service may be running too: then either worker may send a request.
// Every test therefore has its own HTTP receiver on a random port and a unique URL path, and only
// asserts on requests that reached that receiver and on net._http_response rows of the request
// ids it created itself.
import assert from "node:assert/strict";
import postgres from "postgres";
import { loadStackConfig } from "../stack/config.ts";
import { startPgNetWorker } from "../pg_net/worker.ts";

const { dbUrl, adminDbUrl } = loadStackConfig();

interface Received {
  method: string;
  url: URL;
  headers: Headers;
  body: string;
  at: number;
}

interface Receiver {
  /** Base URL with a unique path prefix; only requests under it are recorded. */
  base: string;
  received: Received[];
  close(): Promise<void>;
}

/** `closing` aborts when the receiver shuts down (ends slow handlers). */
type Handler = (request: Request, closing: AbortSignal) => Response | Promise<Response>;

/** A local HTTP server on port 0 that records every request under its own unique path. */
function startReceiver(handler: Handler = () => new Response("ok")): Receiver {
  const prefix = `/pg-net-test/${crypto.randomUUID()}`;
  const received: Received[] = [];
  const closing = new AbortController();
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
      onError: () => new Response(null, { status: 500 }),
    },
    async (request) => {
      const url = new URL(request.url);
      if (!url.pathname.startsWith(prefix)) return new Response("not mine", { status: 404 });
      received.push({
        method: request.method,
        url,
        headers: request.headers,
        body: await request.text(),
        at: performance.now(),
      });
      return await handler(request, closing.signal);
    },
  );
  return {
    base: `http://127.0.0.1:${server.addr.port}${prefix}`,
    received,
    async close() {
      closing.abort();
      await server.shutdown();
    },
  };
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await delay(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

interface ResponseRow {
  id: string;
  status_code: number | null;
  content_type: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timed_out: boolean | null;
  error_msg: string | null;
}

class Rollback extends Error {}

Deno.test("pg_net stand-in: requests are sent once, after commit, by the worker", async (t) => {
  // The app's side (triggers, functions) queues requests as postgres, the non-superuser role.
  const sql = postgres(dbUrl, { max: 3, onnotice: () => {} });
  const logs: Record<string, unknown>[] = [];
  const worker = startPgNetWorker({ databaseUrl: adminDbUrl, log: (line) => logs.push(line) });

  const responseRows = (ids: string[]) =>
    sql<ResponseRow[]>`
      select id::text, status_code, content_type, headers, content, timed_out, error_msg
      from net._http_response where id = any(${ids}::bigint[])`;
  const responseFor = (id: string, timeoutMs = 5000) =>
    until(`net._http_response row for request ${id}`, async () => {
      const [row] = await responseRows([id]);
      return row;
    }, timeoutMs);
  const queued = async (id: string) =>
    (await sql`select 1 from net.http_request_queue where id = ${id}::bigint`).length;

  try {
    await t.step("a request queued in a transaction that rolls back is never sent", async () => {
      const receiver = startReceiver();
      try {
        let id = "";
        await assert.rejects(
          sql.begin(async (tx) => {
            [{ id }] = await tx<{ id: string }[]>`
              select net.http_post(${receiver.base + "/rolled-back"}::text,
                                   ${sql.json({ never: "sent" })}::jsonb)::text as id`;
            assert.match(id, /^\d+$/);
            throw new Rollback("roll back");
          }),
          Rollback,
        );
        await delay(1500);
        assert.equal(receiver.received.length, 0, "nothing reached the receiver");
        assert.equal(await queued(id), 0, "the queued row is gone with the rollback");
        assert.equal((await responseRows([id])).length, 0, "no response is recorded");
      } finally {
        await receiver.close();
      }
    });

    await t.step("a request is not sent before COMMIT, and is sent right after it", async () => {
      const receiver = startReceiver(() =>
        Response.json({ received: true }, { status: 201, headers: { "x-receiver": "commit" } })
      );
      try {
        const body = { booking_id: "b-42", amount_total: 12500, guest: { name: "Zoë" } };
        let committedAt = 0;
        const id = await sql.begin(async (tx) => {
          const [{ id }] = await tx<{ id: string }[]>`
            select net.http_post(
              url := ${receiver.base + "/after-commit"}::text,
              body := ${sql.json(body)}::jsonb,
              headers := ${
            sql.json({ Authorization: "Bearer local-test", "X-Trace": "t-1" })
          }::jsonb
            )::text as id`;
          await delay(1000);
          assert.equal(
            receiver.received.length,
            0,
            "nothing is sent while the transaction is open",
          );
          assert.equal(await queued(id), 0, "other sessions cannot see the uncommitted request");
          assert.equal(
            (await tx`select 1 from net.http_request_queue where id = ${id}::bigint`).length,
            1,
            "the request is queued inside the transaction",
          );
          committedAt = performance.now();
          return id;
        });

        const [request] = await until(
          "the committed request",
          () => receiver.received.length > 0 ? receiver.received : undefined,
        );
        assert.ok(request.at >= committedAt, "sent after COMMIT");
        assert.equal(request.method, "POST");
        assert.equal(request.url.pathname, new URL(receiver.base).pathname + "/after-commit");
        assert.equal(request.headers.get("content-type"), "application/json");
        assert.equal(request.headers.get("authorization"), "Bearer local-test");
        assert.equal(request.headers.get("x-trace"), "t-1");
        assert.deepEqual(JSON.parse(request.body), body);

        const response = await responseFor(id);
        assert.equal(response.status_code, 201);
        assert.equal(response.timed_out, false);
        assert.equal(response.error_msg, null);
        assert.equal(response.content_type, "application/json");
        assert.deepEqual(JSON.parse(response.content ?? ""), { received: true });
        assert.equal(response.headers?.["x-receiver"], "commit");
        assert.equal(await queued(id), 0, "the sent request left the queue");
        await delay(300);
        assert.equal(receiver.received.length, 1, "sent exactly once");
      } finally {
        await receiver.close();
      }
    });

    await t.step("timeout_milliseconds is honoured", async () => {
      const receiver = startReceiver(async (_request, signal) => {
        await delay(3000, signal);
        return new Response("too late");
      });
      try {
        const [{ id }] = await sql<{ id: string }[]>`
          select net.http_post(url := ${receiver.base + "/slow"}::text,
                               timeout_milliseconds := 500)::text as id`;
        const started = performance.now();
        const response = await responseFor(id, 5000);
        const elapsed = performance.now() - started;
        assert.equal(receiver.received.length, 1, "the request reached the receiver");
        assert.equal(response.timed_out, true);
        assert.equal(response.status_code, null);
        assert.ok(response.error_msg, "error_msg is set");
        assert.match(response.error_msg, /timeout/i);
        assert.ok(
          elapsed < 2500,
          `recorded after ~500 ms, not after the 3 s reply (${elapsed} ms)`,
        );
      } finally {
        await receiver.close();
      }
    });

    await t.step("a 500 is recorded and never retried", async () => {
      const receiver = startReceiver(() =>
        new Response("boom", { status: 500, headers: { "content-type": "text/plain" } })
      );
      try {
        const [{ id }] = await sql<{ id: string }[]>`
          select net.http_post(${receiver.base + "/fails"}::text,
                               ${sql.json({ attempt: 1 })}::jsonb)::text as id`;
        const response = await responseFor(id);
        assert.equal(response.status_code, 500);
        assert.equal(response.timed_out, false);
        assert.equal(response.content, "boom");
        await delay(1200);
        assert.equal(receiver.received.length, 1, "exactly one attempt");
        assert.equal(await queued(id), 0, "nothing is left in the queue to retry");
        assert.equal((await responseRows([id])).length, 1, "exactly one response row");
      } finally {
        await receiver.close();
      }
    });

    await t.step("http_get passes params url-encoded and the response is recorded", async () => {
      const reply = "Grüße — 東京 ✓\nline 2";
      const receiver = startReceiver(() =>
        new Response(reply, { headers: { "content-type": "text/plain; charset=utf-8" } })
      );
      try {
        const params = { q: "a b&c=d", city: "Zürich", path: "1/2?" };
        const [{ id }] = await sql<{ id: string }[]>`
          select net.http_get(url := ${receiver.base + "/search"}::text,
                              params := ${sql.json(params)}::jsonb,
                              headers := ${sql.json({ "X-Get": "yes" })}::jsonb)::text as id`;
        const response = await responseFor(id);
        assert.equal(receiver.received.length, 1);
        const [request] = receiver.received;
        assert.equal(request.method, "GET");
        assert.equal(request.body, "");
        assert.equal(request.headers.get("x-get"), "yes");
        assert.deepEqual(Object.fromEntries(request.url.searchParams), params);
        const raw = request.url.search.slice(1).split("&").sort();
        assert.deepEqual(raw, ["city=Z%C3%BCrich", "path=1%2F2%3F", "q=a%20b%26c%3Dd"]);

        assert.equal(response.status_code, 200);
        assert.equal(response.timed_out, false);
        assert.equal(response.error_msg, null);
        assert.equal(response.content, reply);
        assert.equal(response.content_type, "text/plain; charset=utf-8");
      } finally {
        await receiver.close();
      }
    });

    await t.step("http_delete sends its method and optional body", async () => {
      const receiver = startReceiver(() => new Response(null, { status: 204 }));
      try {
        const [{ id }] = await sql<{ id: string }[]>`
          select net.http_delete(url := ${receiver.base + "/thing"}::text,
                                 body := ${sql.json({ reason: "cleanup" })}::jsonb)::text as id`;
        const response = await responseFor(id);
        assert.equal(response.status_code, 204);
        assert.equal(receiver.received.length, 1);
        assert.equal(receiver.received[0].method, "DELETE");
        assert.deepEqual(JSON.parse(receiver.received[0].body), { reason: "cleanup" });
      } finally {
        await receiver.close();
      }
    });
  } finally {
    await worker.stop();
    await sql.end({ timeout: 2 });
  }
});
