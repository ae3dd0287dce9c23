// Local stand-in for pg_net's background worker. Takes committed rows from
// net.http_request_queue (deleting them first, so a request is attempted at most once — pg_net
// never retries), sends them, and records the outcome in net._http_response.
import postgres from "postgres";

export interface PgNetWorkerOptions {
  databaseUrl: string;
  pollIntervalMs?: number;
  batchSize?: number;
  responseTtlHours?: number;
  log?: (line: Record<string, unknown>) => void;
}

interface QueuedRequest {
  id: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Uint8Array<ArrayBuffer> | null;
  timeout_milliseconds: number;
}

interface RecordedResponse {
  id: string;
  status_code: number | null;
  content_type: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timed_out: boolean | null;
  error_msg: string | null;
}

export async function sendQueuedRequest(request: QueuedRequest): Promise<RecordedResponse> {
  const timeoutMs = request.timeout_milliseconds;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetch(request.url, {
      method: request.method.toUpperCase(),
      headers: request.headers ?? {},
      body: request.body ? new Uint8Array(request.body) : undefined,
      signal: controller.signal,
    });
    const content = await response.text();
    return {
      id: request.id,
      status_code: response.status,
      content_type: response.headers.get("content-type"),
      headers: Object.fromEntries(response.headers.entries()),
      content,
      timed_out: false,
      error_msg: null,
    };
  } catch (error) {
    const timedOut = controller.signal.aborted;
    return {
      id: request.id,
      status_code: null,
      content_type: null,
      headers: null,
      content: null,
      timed_out: timedOut,
      error_msg: timedOut
        ? `Timeout of ${timeoutMs} ms reached`
        : `Couldn't connect to server: ${error instanceof Error ? error.message : String(error)}`,
    };
  } finally {
    clearTimeout(timer);
  }
}

export function startPgNetWorker(options: PgNetWorkerOptions): { stop(): Promise<void> } {
  const pollIntervalMs = options.pollIntervalMs ?? 200;
  const batchSize = options.batchSize ?? 200;
  const ttlHours = options.responseTtlHours ?? 6;
  const log = options.log ?? ((line) => console.log(JSON.stringify(line)));
  const sql = postgres(options.databaseUrl, {
    max: 4,
    onnotice: () => {},
    connection: { application_name: "pg_net local worker" },
  });
  let stopped = false;
  let wake: (() => void) | null = null;
  const inFlight = new Set<Promise<void>>();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wake = null;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        wake = null;
        resolve();
      };
    });

  const listening = sql.listen("pg_net_local_wake", () => wake?.()).catch((error) =>
    log({ event: "pg_net.listen_failed", error: String(error) })
  );

  async function record(response: RecordedResponse) {
    await sql`
      insert into net._http_response
        (id, status_code, content_type, headers, content, timed_out, error_msg)
      values (${response.id}, ${response.status_code}, ${response.content_type},
              ${response.headers ? sql.json(response.headers) : null}, ${response.content},
              ${response.timed_out}, ${response.error_msg})`;
  }

  async function takeBatch(): Promise<QueuedRequest[]> {
    return await sql<QueuedRequest[]>`
      delete from net.http_request_queue
      where id in (select id from net.http_request_queue order by id
                   limit ${batchSize} for update skip locked)
      returning id, method, url, headers, body, timeout_milliseconds`;
  }

  let lastCleanup = 0;
  async function loop() {
    while (!stopped) {
      try {
        const batch = await takeBatch();
        for (const request of batch) {
          const started = performance.now();
          const task = sendQueuedRequest(request)
            .then(async (response) => {
              log({
                event: "pg_net.sent",
                id: request.id,
                method: request.method,
                url: request.url,
                status: response.status_code,
                timed_out: response.timed_out,
                ms: Math.round(performance.now() - started),
              });
              await record(response);
            })
            .catch((error) => log({ event: "pg_net.record_failed", error: String(error) }))
            .finally(() => inFlight.delete(task));
          inFlight.add(task);
        }
        if (Date.now() - lastCleanup > 60_000) {
          lastCleanup = Date.now();
          await sql`delete from net._http_response
                    where created < now() - make_interval(hours => ${ttlHours})`;
        }
        if (batch.length < batchSize) await sleep(pollIntervalMs);
      } catch (error) {
        log({ event: "pg_net.poll_failed", error: String(error) });
        await sleep(1000);
      }
    }
  }
  const running = loop();

  return {
    async stop() {
      stopped = true;
      wake?.();
      await running;
      await Promise.allSettled([...inFlight]);
      await listening;
      await sql.end({ timeout: 2 });
    },
  };
}

if (import.meta.main) {
  const databaseUrl = Deno.env.get("PG_NET_DATABASE_URL");
  if (!databaseUrl) throw new Error("PG_NET_DATABASE_URL is required");
  const worker = startPgNetWorker({ databaseUrl });
  console.log(JSON.stringify({ event: "pg_net.worker_started" }));
  const shutdown = async () => {
    await worker.stop();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", shutdown);
  Deno.addSignalListener("SIGINT", shutdown);
}
