/**
 * Local stand-in for `supabase functions serve` behind
 * `http://127.0.0.1:54321/functions/v1/<name>`: one Deno child process per function
 * (see function-host.ts), JWT verification per `[functions.<name>] verify_jwt` in
 * supabase/config.toml, automatic restarts, the wall clock. What it reads at start is in
 * config.ts, the platform's own answers (546, 401, 404) in platform.ts. Local-only: never deployed.
 */
import { fileURLToPath } from "node:url";
import {
  discoverFunctions,
  exists,
  parseEnvFile,
  PASSTHROUGH_ENV,
  readVerifyJwt,
} from "./config.ts";
import {
  DEFAULT_WALL_CLOCK_LIMIT_MS,
  functionNotFound,
  jsonResponse,
  verifyJwtRefusal,
  WALL_CLOCK_LIMIT,
  wallClockExceeded,
} from "./platform.ts";
import { HOSTED_DENO_ENV, HOSTED_DENO_PATH } from "../hosted-runtime.ts";

export interface GatewayOptions {
  /** 0 = random free port. Default 54321. */
  port?: number;
  /** Default 127.0.0.1. */
  hostname?: string;
  /** Directory holding `<name>/index.ts` (e.g. supabase/functions). */
  functionsDir: string;
  /** supabase/config.toml (a missing file means every function keeps verify_jwt = true). */
  configTomlPath: string;
  /** Injected into every function; wins over `envFile`. */
  env: Record<string, string>;
  /** KEY=VALUE lines (# comments), e.g. supabase/functions/.env; read once at start; optional. */
  envFile?: string;
  /** HS256 secret that JWTs must be signed with for verify_jwt functions. */
  jwtSecret: string;
  /** No gateway log lines (function output still goes to stdout unless `logDir`). */
  quiet?: boolean;
  /** Write function stdout/stderr to `<logDir>/<name>.log` instead of the gateway's stdout. */
  logDir?: string;
  /** Working directory of function processes. Default: the repo root. */
  cwd?: string;
  /**
   * Deno config for a function without a `deno.json` of its own. Default: none (`--no-config`,
   * so nothing is mapped). A function's own `<name>/deno.json` always wins, as on the platform.
   */
  denoConfig?: string;
  /** How long a function may take to listen. Default 20 000 ms. */
  startTimeoutMs?: number;
  /** How long a request waits for a (re)starting function before 503. Default 10 000 ms. */
  requestWaitMs?: number;
  /**
   * How long one request may run in a function before it is cut off with the platform's 546
   * and the function's process (its isolate) is killed. Default 150 000 ms (Supabase's free
   * plan; paid plans allow 400 s). `FUNCTIONS_WALL_CLOCK_LIMIT_MS` for the stack's gateway.
   */
  wallClockLimitMs?: number;
}

export interface GatewayFunctionInfo {
  name: string;
  pid: number | null;
  port: number | null;
  restarts: number;
  up: boolean;
  verify_jwt: boolean;
  /** Why the function is not up (its last exit and the first `error:` line it wrote), if known. */
  last_error: string | null;
}

export interface Gateway {
  url: string;
  port: number;
  close(): Promise<void>;
  functions(): GatewayFunctionInfo[];
  kill(name: string, signal?: Deno.Signal): void;
}

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const HOST_SCRIPT = fileURLToPath(new URL("./function-host.ts", import.meta.url));

const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

interface FunctionState {
  name: string;
  entry: string;
  /** The function's own deno.json (as `supabase functions deploy` bundles it), or the fallback. */
  config: string | null;
  verifyJwt: boolean;
  child: Deno.ChildProcess | null;
  pid: number | null;
  port: number | null;
  up: boolean;
  restarts: number;
  lastError: string | null;
  /** The first `error:` line the current process wrote to stderr (e.g. an unmapped import). */
  lastStderrError: string | null;
  waiters: Set<(up: boolean) => void>;
  /** Processes killed because a request ran past the wall clock (their requests get 546). */
  cutOff: Set<number>;
  firstAttempt: PromiseWithResolvers<void>;
  loop: Promise<void>;
  log: (line: string) => Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const hostname = options.hostname ?? "127.0.0.1";
  const startTimeoutMs = options.startTimeoutMs ?? 20_000;
  const requestWaitMs = options.requestWaitMs ?? 10_000;
  const wallClockLimitMs = options.wallClockLimitMs ?? DEFAULT_WALL_CLOCK_LIMIT_MS;
  const cwd = options.cwd ?? REPO_ROOT;
  const functionsDir = await Deno.realPath(options.functionsDir);
  const fallbackConfig = options.denoConfig ?? null;
  const say = options.quiet ? () => {} : (msg: string) => console.log(`[gateway] ${msg}`);

  const verifyJwt = await readVerifyJwt(options.configTomlPath);
  const fileEnv = options.envFile && await exists(options.envFile)
    ? parseEnvFile(await Deno.readTextFile(options.envFile))
    : {};
  const baseEnv: Record<string, string> = {};
  for (const key of PASSTHROUGH_ENV) {
    const value = Deno.env.get(key);
    if (value !== undefined) baseEnv[key] = value;
  }
  Object.assign(baseEnv, fileEnv, options.env, { DENO_NO_UPDATE_CHECK: "1" });

  if (options.logDir) await Deno.mkdir(options.logDir, { recursive: true });
  const logFiles: Deno.FsFile[] = [];
  const encoder = new TextEncoder();

  async function makeLogger(name: string): Promise<(line: string) => Promise<void>> {
    let sink: { write(p: Uint8Array): Promise<number> };
    if (options.logDir) {
      const file = await Deno.open(`${options.logDir}/${name}.log`, {
        create: true,
        append: true,
      });
      logFiles.push(file);
      sink = file;
    } else {
      sink = Deno.stdout;
    }
    let chain = Promise.resolve();
    return (line: string) => {
      chain = chain.then(async () => {
        let bytes = encoder.encode(line);
        while (bytes.length > 0) bytes = bytes.subarray(await sink.write(bytes));
      }).catch(() => {});
      return chain;
    };
  }

  const states = new Map<string, FunctionState>();
  for (const name of await discoverFunctions(functionsDir)) {
    const dir = `${functionsDir}/${name}`;
    // Each function with its own deno.json, as `supabase functions deploy` bundles it: it can
    // import only what that file maps (never the repository's deno.json or node_modules). Its
    // npm packages come from Deno's cache (DENO_DIR), fetched from the npm registry on first
    // use; --no-lock keeps the run from writing deno.lock files into the functions.
    states.set(name, {
      name,
      entry: `${dir}/index.ts`,
      config: await exists(`${dir}/deno.json`) ? `${dir}/deno.json` : fallbackConfig,
      verifyJwt: verifyJwt.get(name) ?? true,
      child: null,
      pid: null,
      port: null,
      up: false,
      restarts: 0,
      lastError: null,
      lastStderrError: null,
      waiters: new Set(),
      cutOff: new Set(),
      firstAttempt: Promise.withResolvers<void>(),
      loop: Promise.resolve(),
      log: await makeLogger(name),
    });
  }

  let closing = false;
  const closeController = new AbortController();
  // No pooled connections: a request then never rides a connection the function closed by
  // dying, so "connection refused" reliably means the request did not reach the function.
  const httpClient = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });

  function setUp(state: FunctionState, up: boolean) {
    state.up = up;
    if (up) {
      for (const w of [...state.waiters]) w(true);
    }
  }

  function waitUp(state: FunctionState, ms: number): Promise<boolean> {
    if (state.up) return Promise.resolve(true);
    if (closing) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (up: boolean) => {
        clearTimeout(timer);
        state.waiters.delete(done);
        resolve(up);
      };
      const timer = setTimeout(() => done(false), ms);
      state.waiters.add(done);
    });
  }

  async function pump(stream: ReadableStream<Uint8Array>, state: FunctionState, tag: string) {
    let buffered = "";
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl);
          // deno's own errors (a module that cannot load) start with "error:", in colour.
          // deno-lint-ignore no-control-regex -- strips the colour codes (ESC [ … m)
          const plain = line.replace(/\x1b\[[0-9;]*m/g, "").trim();
          // The first one names the cause (later ones are its consequences).
          if (tag === ":err" && /^error:/i.test(plain)) state.lastStderrError ??= plain;
          await state.log(`[${state.name}${tag}] ${line}\n`);
          buffered = buffered.slice(nl + 1);
        }
      }
    } catch {
      // stream torn down with the process
    }
    if (buffered !== "") await state.log(`[${state.name}${tag}] ${buffered}\n`);
  }

  async function waitForPort(port: number, deadline: number, stop: () => boolean) {
    while (!stop() && Date.now() < deadline) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conn.close();
        return true;
      } catch {
        await sleep(50, closeController.signal);
      }
    }
    return false;
  }

  async function supervise(state: FunctionState) {
    let backoff = 200;
    let first = true;
    while (!closing) {
      if (!first) state.restarts++;
      // Requests of a process cut off by the wall clock have all been answered by now.
      state.cutOff.clear();
      state.lastStderrError = null;
      const port = freePort();
      let child: Deno.ChildProcess | null = null;
      try {
        // Every function on the Deno the hosted edge runtime embeds, not the tooling's.
        child = new Deno.Command(HOSTED_DENO_PATH, {
          args: [
            "run",
            "--allow-all",
            "--no-prompt",
            "--no-lock",
            ...(state.config ? ["--config", state.config] : ["--no-config"]),
            HOST_SCRIPT,
            state.entry,
          ],
          cwd,
          env: { ...HOSTED_DENO_ENV, ...baseEnv, FUNCTION_HOST_PORT: String(port) },
          clearEnv: true,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
      } catch (e) {
        state.lastError = `spawn failed: ${e instanceof Error ? e.message : e}`;
        say(`${state.name}: ${state.lastError}`);
      }
      let wasReady = false;
      let readyAt = 0;
      if (child) {
        state.child = child;
        state.pid = child.pid;
        state.port = port;
        let exited = false;
        const status = child.status.then((s) => {
          exited = true;
          return s;
        });
        const pumps = Promise.all([
          pump(child.stdout, state, ""),
          pump(child.stderr, state, ":err"),
        ]);
        wasReady = await waitForPort(port, Date.now() + startTimeoutMs, () => exited || closing);
        if (wasReady && !exited && !closing) {
          readyAt = Date.now();
          state.lastError = null;
          setUp(state, true);
          say(`${state.name} up (pid ${child.pid}, port ${port})`);
        } else if (!exited) {
          if (!closing) state.lastError = `did not listen within ${startTimeoutMs} ms`;
          try {
            child.kill("SIGKILL");
          } catch {
            // already gone
          }
        }
        if (first) state.firstAttempt.resolve();
        const s = await status;
        await pumps;
        state.up = false;
        state.child = null;
        state.pid = null;
        if (!closing) {
          const how = s.signal ? `signal ${s.signal}` : `code ${s.code}`;
          state.lastError ??= `exited with ${how}` +
            (state.lastStderrError ? ` (${state.lastStderrError})` : "");
          say(`${state.name} exited (${how}); restarting`);
        }
      }
      if (first) state.firstAttempt.resolve();
      first = false;
      if (closing) break;
      if (wasReady && Date.now() - readyAt > 10_000) backoff = 200;
      await sleep(backoff, closeController.signal);
      backoff = Math.min(backoff * 2, 5_000);
    }
  }

  for (const state of states.values()) state.loop = supervise(state);
  await Promise.all([...states.values()].map((s) => s.firstAttempt.promise));

  function unavailable(state: FunctionState): Response {
    return jsonResponse({
      code: "FUNCTION_UNAVAILABLE",
      message: `Function ${state.name} is not running${
        state.lastError ? `: ${state.lastError}` : ""
      }`,
    }, 503);
  }

  async function proxy(req: Request, state: FunctionState, rest: string, search: string) {
    for (let attempt = 0;; attempt++) {
      if (!state.up && !(await waitUp(state, requestWaitMs))) return unavailable(state);
      const port = state.port;
      const pid = state.pid;
      const headers = new Headers(req.headers);
      for (const h of HOP_BY_HOP) headers.delete(h);
      const host = headers.get("host");
      headers.delete("host");
      if (host) headers.set("x-forwarded-host", host);
      headers.set("x-forwarded-proto", "http");
      // The gateway's own server compresses for the client when appropriate.
      headers.set("accept-encoding", "identity");
      const hasBody = req.body !== null && req.method !== "GET" && req.method !== "HEAD";
      // The platform's wall clock: past it the request is answered 546 and the isolate is
      // terminated, so nothing the function was still doing (a Guestly call, a database
      // write) happens after the caller was told it failed. Locally the isolate is the
      // function's process; the supervisor starts a fresh one.
      const aborter = new AbortController();
      const timer = setTimeout(() => {
        if (pid === null || state.pid !== pid) return;
        state.cutOff.add(pid);
        aborter.abort();
        void state.log(
          `[${state.name}:gateway] Shutdown: WallClockTime — wall clock time limit reached ` +
            `(${wallClockLimitMs} ms) during ${req.method} ${rest || "/"}; process ${pid} ` +
            `terminated, request answered ${WALL_CLOCK_LIMIT.status}\n`,
        );
        say(`${state.name}: wall clock limit (${wallClockLimitMs} ms) reached; killing pid ${pid}`);
        kill(state.name, "SIGKILL");
      }, wallClockLimitMs);
      let upstream: Response;
      try {
        upstream = await fetch(`http://127.0.0.1:${port}/${state.name}${rest}${search}`, {
          method: req.method,
          headers,
          body: hasBody ? req.body : undefined,
          redirect: "manual",
          client: httpClient,
          signal: aborter.signal,
        });
      } catch (e) {
        clearTimeout(timer);
        if (pid !== null && state.cutOff.has(pid)) return wallClockExceeded();
        // Process died between requests (not yet noticed): the connection was refused, so the
        // request never reached it and a bodiless request can safely be sent again.
        if (
          attempt === 0 && !hasBody && e instanceof TypeError &&
          /refused|\(Connect\)/i.test(`${e.message} ${e.cause ?? ""}`)
        ) {
          const deadline = Date.now() + 2_000;
          while (!closing && state.up && state.pid === pid && Date.now() < deadline) {
            await sleep(50, closeController.signal);
          }
          if (!closing) continue;
        }
        return jsonResponse({
          code: "BAD_GATEWAY",
          message: `Function ${state.name} failed to respond: ${
            e instanceof Error ? e.message : String(e)
          }`,
        }, 502);
      }
      const out = new Headers(upstream.headers);
      for (const h of HOP_BY_HOP) out.delete(h);
      // The clock runs until the body is complete: a stream still open at the limit breaks off.
      let body: ReadableStream<Uint8Array> | null = null;
      if (upstream.body) {
        const pipe = new TransformStream<Uint8Array, Uint8Array>();
        upstream.body.pipeTo(pipe.writable).catch(() => {}).finally(() => clearTimeout(timer));
        body = pipe.readable;
      } else {
        clearTimeout(timer);
      }
      return new Response(body, {
        status: upstream.status,
        statusText: upstream.statusText,
        headers: out,
      });
    }
  }

  function status(): GatewayFunctionInfo[] {
    return [...states.values()].map((s) => ({
      name: s.name,
      pid: s.pid,
      port: s.port,
      restarts: s.restarts,
      up: s.up,
      verify_jwt: s.verifyJwt,
      last_error: s.up ? null : s.lastError,
    }));
  }

  function kill(name: string, signal: Deno.Signal = "SIGKILL"): void {
    const state = states.get(name);
    if (!state) throw new Error(`no such function: ${name}`);
    if (!state.child) return;
    if (signal === "SIGKILL" || signal === "SIGTERM" || signal === "SIGINT") state.up = false;
    try {
      state.child.kill(signal);
    } catch {
      // already exited
    }
  }

  async function handler(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname;
    const prefix = "/functions/v1/";
    if (path.startsWith(prefix)) {
      const after = path.slice(prefix.length);
      const slash = after.indexOf("/");
      const name = slash < 0 ? after : after.slice(0, slash);
      const rest = slash < 0 ? "" : after.slice(slash);
      const state = states.get(name);
      if (!state) return functionNotFound();
      if (state.verifyJwt) {
        const refused = await verifyJwtRefusal(req, options.jwtSecret);
        if (refused) return refused;
      }
      return await proxy(req, state, rest, url.search);
    }
    if (path === "/__gateway/status" && req.method === "GET") return Response.json(status());
    const killMatch = /^\/__gateway\/kill\/([^/]+)$/.exec(path);
    if (killMatch && req.method === "POST") {
      const state = states.get(killMatch[1]);
      if (!state) return functionNotFound();
      const pid = state.pid;
      kill(state.name, "SIGKILL");
      return Response.json({ killed: state.name, pid });
    }
    return jsonResponse({ code: "NOT_FOUND", message: `No route for ${path}` }, 404);
  }

  const listening = Promise.withResolvers<Deno.NetAddr>();
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      port: options.port ?? 54321,
      hostname,
      onListen: (addr) => listening.resolve(addr as Deno.NetAddr),
    }, async (req) => {
      try {
        return await handler(req);
      } catch (e) {
        return jsonResponse({ code: "GATEWAY_ERROR", message: String(e) }, 500);
      }
    });
  } catch (e) {
    await shutdownChildren();
    throw e;
  }
  const addr = await listening.promise;
  const url = `http://${
    addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname
  }:${addr.port}`;
  say(`listening on ${url}/functions/v1/ (${[...states.keys()].join(", ") || "no functions"})`);

  async function shutdownChildren() {
    closing = true;
    closeController.abort();
    for (const state of states.values()) {
      for (const w of [...state.waiters]) w(false);
      try {
        state.child?.kill("SIGKILL");
      } catch {
        // already exited
      }
    }
    await Promise.all([...states.values()].map((s) => s.loop));
  }

  let closed: Promise<void> | null = null;
  return {
    url,
    port: addr.port,
    functions: status,
    kill,
    close() {
      closed ??= (async () => {
        await shutdownChildren();
        await server.shutdown();
        await server.finished;
        httpClient.close();
        for (const f of logFiles) {
          try {
            f.close();
          } catch {
            // already closed
          }
        }
      })();
      return closed;
    },
  };
}
