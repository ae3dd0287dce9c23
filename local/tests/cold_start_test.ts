// A fresh machine: an empty Deno cache, a function process started with a cleared environment
// plus only what the gateway passes on. The function must still come up (its npm packages are
// fetched through the machine's network settings, here a real HTTPS proxy we run), a registry out
// of reach must be one clear error, and a function that cannot start must be named, not left to
// answer 503 in a loop.
import assert from "node:assert/strict";
import { startGateway } from "../gateway/server.ts";
import { PASSTHROUGH_ENV } from "../gateway/config.ts";
import { NETWORK_ENV } from "../network-env.ts";
import { LOCAL_JWT_SECRET } from "../keys.ts";
import { describeFetchFailure, fetchFunctionDependencies } from "../stack/function-deps.ts";
import {
  describeStartFailures,
  FunctionStartError,
  startFailures,
  waitForFunctions,
} from "../stack/functions-ready.ts";
import type { GatewayFunctionInfo } from "../gateway/server.ts";

const FUNCTION = `import { z } from "zod";
Deno.serve(() => Response.json({
  zod: z.string().parse("ok"),
  secret: Deno.env.get("COLD_START_SECRET") ?? null,
  proxy: Deno.env.get("HTTPS_PROXY") ?? null,
}));
`;
const ZOD_ONLY = JSON.stringify({ imports: { zod: "npm:zod@^3.25.0" } });

/** A real CONNECT proxy (what HTTPS_PROXY points at): records each tunnel's target. */
function startConnectProxy() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const targets: string[] = [];
  const open = new Set<Deno.Conn>();
  (async () => {
    for await (const client of listener) {
      open.add(client);
      (async () => {
        let head = "";
        const buffer = new Uint8Array(8192);
        while (!head.includes("\r\n\r\n")) {
          const n = await client.read(buffer);
          if (n === null) return;
          head += new TextDecoder().decode(buffer.subarray(0, n));
        }
        const m = /^CONNECT ([^\s:]+):(\d+) HTTP/.exec(head);
        if (!m) {
          await client.write(new TextEncoder().encode("HTTP/1.1 405 Only CONNECT\r\n\r\n"));
          return client.close();
        }
        targets.push(`${m[1]}:${m[2]}`);
        const upstream = await Deno.connect({ hostname: m[1], port: Number(m[2]) });
        open.add(upstream);
        await client.write(new TextEncoder().encode("HTTP/1.1 200 Connection Established\r\n\r\n"));
        await Promise.allSettled([
          client.readable.pipeTo(upstream.writable),
          upstream.readable.pipeTo(client.writable),
        ]);
      })().catch(() => {}).finally(() => {
        for (const conn of open) {
          try {
            conn.close();
          } catch { /* closed */ }
        }
      });
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    targets,
    close() {
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    },
  };
}

async function oneFunction() {
  const dir = await Deno.makeTempDir({ prefix: "cold_start_" });
  await Deno.mkdir(`${dir}/functions/cold`, { recursive: true });
  await Deno.writeTextFile(`${dir}/functions/cold/index.ts`, FUNCTION);
  await Deno.writeTextFile(`${dir}/functions/cold/deno.json`, ZOD_ONLY);
  await Deno.writeTextFile(`${dir}/config.toml`, "[functions.cold]\nverify_jwt = false\n");
  return dir;
}

/** Runs `body` with these variables set (undefined = unset) and restores them after. */
async function withEnv(vars: Record<string, string | undefined>, body: () => Promise<void>) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  };
  apply(vars);
  try {
    await body();
  } finally {
    apply(saved);
  }
}

const NO_OTHER_PROXY = { NO_PROXY: undefined, no_proxy: undefined, https_proxy: undefined };

Deno.test("cold start: a function with an empty Deno cache comes up through the passed-on proxy", async () => {
  const dir = await oneFunction();
  const proxy = startConnectProxy();
  await withEnv({
    ...NO_OTHER_PROXY,
    DENO_DIR: `${dir}/empty-deno-cache`,
    HTTPS_PROXY: proxy.url,
    COLD_START_SECRET: "must-not-reach-the-function",
  }, async () => {
    const gateway = await startGateway({
      port: 0,
      functionsDir: `${dir}/functions`,
      configTomlPath: `${dir}/config.toml`,
      env: {},
      jwtSecret: LOCAL_JWT_SECRET,
      quiet: true,
      logDir: `${dir}/logs`,
      startTimeoutMs: 60_000,
    });
    try {
      const [info] = gateway.functions();
      assert.equal(info.up, true, `cold function up (${info.last_error})`);
      const response = await fetch(`${gateway.url}/functions/v1/cold`);
      assert.equal(response.status, 200);
      const body = await response.json();
      assert.equal(body.zod, "ok");
      assert.equal(body.proxy, proxy.url, "the proxy setting is passed on");
      assert.equal(body.secret, null, "nothing outside the pass-through list is");
      // Its packages really came over the network, through the proxy, into the empty cache.
      const registry = new URL(Deno.env.get("NPM_CONFIG_REGISTRY") ?? "https://registry.npmjs.org");
      assert.ok(
        proxy.targets.includes(`${registry.hostname}:443`),
        `tunnels: ${proxy.targets.join(", ")}`,
      );
      assert.ok((await Deno.stat(`${dir}/empty-deno-cache/npm`)).isDirectory);
    } finally {
      await gateway.close();
      proxy.close();
    }
  });
});

Deno.test("cold start: a function whose packages cannot be fetched is named, with its first error", async () => {
  const dir = await oneFunction();
  await withEnv({
    ...NO_OTHER_PROXY,
    DENO_DIR: `${dir}/empty-deno-cache`,
    HTTPS_PROXY: "http://127.0.0.1:1", // nothing listens: the registry is out of reach
  }, async () => {
    const gateway = await startGateway({
      port: 0,
      functionsDir: `${dir}/functions`,
      configTomlPath: `${dir}/config.toml`,
      env: {},
      jwtSecret: LOCAL_JWT_SECRET,
      quiet: true,
      logDir: `${dir}/logs`,
    });
    try {
      const error = await waitForFunctions({
        apiUrl: gateway.url,
        logDir: `${dir}/logs`,
        timeoutMs: 20_000,
        intervalMs: 100,
      }).then(() => null, (e) => e);
      assert.ok(error instanceof FunctionStartError, `expected a start error, got ${error}`);
      assert.match(error.message, /^function cold cannot start: /);
      assert.match(error.message, /Failed loading \S+zod for package "zod"/);
      assert.match(error.message, new RegExp(`its log: ${dir}/logs/cold\\.log`));
    } finally {
      await gateway.close();
    }
  });
});

Deno.test("cold start: an unreachable registry stops the dependency fetch with what to check", async () => {
  const dir = await oneFunction();
  const lines: string[] = [];
  const error = await fetchFunctionDependencies({
    functionsDir: `${dir}/functions`,
    progress: (line) => lines.push(line),
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "",
      DENO_DIR: `${dir}/empty-deno-cache`,
      HTTPS_PROXY: "http://127.0.0.1:1",
    },
  }).then(() => null, (e) => e);
  assert.ok(error instanceof Error);
  assert.match(
    error.message,
    /could not fetch npm package "zod" from \S+ \(needed by function cold\)/,
  );
  assert.match(error.message, /cause: .*Connection refused/);
  assert.match(error.message, /NODE_EXTRA_CA_CERTS/);
  assert.match(error.message, /set now: HTTPS_PROXY=http:\/\/127\.0\.0\.1:1/);
  assert.deepEqual(lines, [
    "fetching the dependencies of 1 functions (each with its own deno.json) …",
  ]);
});

Deno.test("cold start: the pass-through list carries every network setting and no secret", () => {
  for (const name of NETWORK_ENV) assert.ok(PASSTHROUGH_ENV.includes(name), name);
  for (
    const name of ["NODE_EXTRA_CA_CERTS", "DENO_CERT", "SSL_CERT_FILE", "HTTPS_PROXY", "NO_PROXY"]
  ) {
    assert.ok(PASSTHROUGH_ENV.includes(name), name);
  }
  for (const name of PASSTHROUGH_ENV) assert.doesNotMatch(name, /KEY|SECRET|PASSWORD|TOKEN$/);
});

Deno.test("cold start: a fetch failure names the package, the URL and the settings", () => {
  const stderr = `Download https://registry.npmjs.org/zod
error: Failed loading https://registry.npmjs.org/stripe for package "stripe"
    0: error sending request for url (https://registry.npmjs.org/stripe): client error (Connect): invalid peer certificate: UnknownIssuer
    at file:///x/_shared/stripe/webhook-handler.ts:6:20`;
  const message = describeFetchFailure("stripe-webhook", stderr, {
    SSL_CERT_DIR: "/etc/ssl/certs",
  });
  assert.match(
    message,
    /^could not fetch npm package "stripe" from https:\/\/registry\.npmjs\.org\/stripe \(needed by function stripe-webhook\)/,
  );
  assert.match(message, /cause: .*invalid peer certificate: UnknownIssuer/);
  assert.match(message, /set now: SSL_CERT_DIR=\/etc\/ssl\/certs$/);
  const other = describeFetchFailure("x", 'error: Module not found "file:///a.ts".', {});
  assert.match(other, /^could not fetch the dependencies of function x: error: Module not found/);
  assert.match(other, /set now: none of them/);
});

Deno.test("cold start: a function is given up on after two failed restarts, or at the deadline", () => {
  const info = (name: string, up: boolean, restarts: number): GatewayFunctionInfo => ({
    name,
    up,
    restarts,
    pid: null,
    port: null,
    verify_jwt: false,
    last_error: up ? null : "exited with code 1 (error: boom)",
  });
  const status = [info("a", true, 0), info("b", false, 1), info("c", false, 2)];
  const now = startFailures(status, false);
  assert.deepEqual(now.waiting, ["b"]);
  assert.deepEqual(now.failed.map((f) => f.name), ["c"]);
  assert.deepEqual(startFailures(status, true).failed.map((f) => f.name), ["b", "c"]);
  assert.deepEqual(startFailures([info("a", true, 5)], true), { waiting: [], failed: [] });
  assert.equal(
    describeStartFailures([status[2]], "/logs"),
    "function c cannot start: exited with code 1 (error: boom)\n  its log: /logs/c.log",
  );
});
