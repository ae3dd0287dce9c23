import assert from "node:assert/strict";
import { startGateway } from "../gateway/server.ts";
import { WALL_CLOCK_LIMIT, wallClockLimitFrom } from "../gateway/platform.ts";
import {
  generateApiKeys,
  LOCAL_JWT_SECRET,
  localKeys,
  stackApiKeys,
  verifySupabaseJwt,
} from "../keys.ts";
import { SignJWT } from "jose";
import { HOSTED_DENO_VERSION } from "../hosted-runtime.ts";

const ECHO = `import { z } from "zod";
Deno.serve(async (req) => {
  const url = new URL(req.url);
  return Response.json({
    path: url.pathname,
    search: url.search,
    method: req.method,
    env: Deno.env.get("INJECTED"),
    fileEnv: Deno.env.get("FROM_FILE"),
    overridden: Deno.env.get("OVERRIDDEN"),
    secretLeak: Deno.env.get("GATEWAY_TEST_SECRET") ?? null,
    auth: req.headers.get("authorization"),
    zod: z.string().parse("ok"),
    body: await req.text(),
    deno: Deno.version.deno,
  });
});
`;

/** A function's own deno.json, as `supabase functions deploy` bundles it. */
const ZOD_ONLY = JSON.stringify({ imports: { zod: "npm:zod@^3.25.0" } });

const CRASH = `Deno.serve({ port: 1 }, (req) => {
  if (new URL(req.url).pathname.endsWith("/die")) Deno.exit(1);
  return new Response("alive " + Deno.pid);
});
`;

const CONFIG = `[functions.open]
verify_jwt = false

[functions.crash]
verify_jwt = false
`;

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "gateway_test_" });
  const fns = `${dir}/functions`;
  for (const name of ["echo", "open", "crash", "_shared"]) {
    await Deno.mkdir(`${fns}/${name}`, { recursive: true });
  }
  await Deno.writeTextFile(`${fns}/echo/index.ts`, ECHO);
  await Deno.writeTextFile(`${fns}/open/index.ts`, ECHO);
  for (const name of ["echo", "open"]) {
    await Deno.writeTextFile(`${fns}/${name}/deno.json`, ZOD_ONLY);
  }
  await Deno.writeTextFile(`${fns}/crash/index.ts`, CRASH);
  await Deno.writeTextFile(`${fns}/_shared/index.ts`, `throw new Error("not a function");\n`);
  await Deno.writeTextFile(`${dir}/config.toml`, CONFIG);
  await Deno.writeTextFile(
    `${fns}/.env`,
    `# comment\nFROM_FILE=file-value\nOVERRIDDEN="from file"\n\n`,
  );
  return { dir, fns };
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat); // zombies count as gone
  } catch {
    return false;
  }
}

Deno.test("gateway: routing, env, verify_jwt, restarts, clean shutdown", async (t) => {
  const { dir, fns } = await setup();
  Deno.env.set("GATEWAY_TEST_SECRET", "must-not-leak");
  const keys = await localKeys(LOCAL_JWT_SECRET);
  const gateway = await startGateway({
    port: 0,
    functionsDir: fns,
    configTomlPath: `${dir}/config.toml`,
    env: { INJECTED: "injected-value", OVERRIDDEN: "from env" },
    envFile: `${fns}/.env`,
    jwtSecret: LOCAL_JWT_SECRET,
    quiet: true,
    logDir: `${dir}/logs`,
  });
  const base = `${gateway.url}/functions/v1`;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const pids: number[] = [];
  try {
    await t.step("discovers functions, skips _shared, reads verify_jwt", () => {
      const fnList = gateway.functions();
      assert.deepEqual(fnList.map((f) => f.name), ["crash", "echo", "open"]);
      for (const f of fnList) {
        assert.ok(f.up, `${f.name} up`);
        assert.ok(f.pid);
        pids.push(f.pid);
      }
      const byName = Object.fromEntries(fnList.map((f) => [f.name, f]));
      assert.equal(byName.echo.verify_jwt, true);
      assert.equal(byName.open.verify_jwt, false);
    });

    await t.step("proxies path, method, query, body; injects env", async () => {
      const res = await fetch(`${base}/echo/a/b?x=1&y=two`, {
        method: "POST",
        headers: { ...bearer(keys.anonKey), "content-type": "text/plain" },
        body: "hello body",
      });
      assert.equal(res.status, 200);
      const json = await res.json();
      assert.equal(json.path, "/echo/a/b");
      assert.equal(json.search, "?x=1&y=two");
      assert.equal(json.method, "POST");
      assert.equal(json.body, "hello body");
      assert.equal(json.deno, HOSTED_DENO_VERSION, "functions run on the hosted runtime's Deno");
      assert.equal(json.env, "injected-value");
      assert.equal(json.fileEnv, "file-value");
      assert.equal(json.overridden, "from env");
      assert.equal(json.secretLeak, null);
      assert.equal(json.zod, "ok");
      assert.equal(json.auth, `Bearer ${keys.anonKey}`);

      const put = await fetch(`${base}/echo`, {
        method: "PUT",
        headers: bearer(keys.serviceRoleKey),
        body: JSON.stringify({ a: 1 }),
      });
      assert.equal(put.status, 200);
      const putJson = await put.json();
      assert.equal(putJson.path, "/echo");
      assert.equal(putJson.method, "PUT");
      assert.equal(putJson.body, '{"a":1}');
    });

    await t.step("verify_jwt = true", async () => {
      const none = await fetch(`${base}/echo`);
      assert.equal(none.status, 401);
      assert.deepEqual(await none.json(), { code: 401, message: "Missing authorization header" });

      const forged = await new SignJWT({ iss: "supabase-demo", role: "service_role" })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setExpirationTime("1h")
        .sign(new TextEncoder().encode("another-secret-another-secret-another-secret"));
      const bad = await fetch(`${base}/echo`, { headers: bearer(forged) });
      assert.equal(bad.status, 401);
      assert.deepEqual(await bad.json(), { code: 401, message: "Invalid JWT" });

      const expired = await new SignJWT({ role: "anon" })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
        .sign(new TextEncoder().encode(LOCAL_JWT_SECRET));
      const old = await fetch(`${base}/echo`, { headers: bearer(expired) });
      assert.equal(old.status, 401);
      assert.deepEqual(await old.json(), { code: 401, message: "Invalid JWT" });

      const garbage = await fetch(`${base}/echo`, { headers: { authorization: "Basic abc" } });
      assert.equal(garbage.status, 401);
      await garbage.body?.cancel();

      // The new keys are not JWTs: the platform's check refuses them, in either header.
      const { secretKey, publishableKey } = await generateApiKeys();
      for (const key of [secretKey, publishableKey]) {
        const asBearer = await fetch(`${base}/echo`, { headers: bearer(key) });
        assert.equal(asBearer.status, 401);
        assert.deepEqual(await asBearer.json(), { code: 401, message: "Invalid JWT" });
        const asApikey = await fetch(`${base}/echo`, { headers: { apikey: key } });
        assert.equal(asApikey.status, 401);
        assert.deepEqual(await asApikey.json(), {
          code: 401,
          message: "Missing authorization header",
        });
      }

      for (const key of [keys.anonKey, keys.serviceRoleKey]) {
        const ok = await fetch(`${base}/echo`, { headers: bearer(key) });
        assert.equal(ok.status, 200);
        await ok.body?.cancel();
      }
    });

    await t.step("verify_jwt = false passes through untouched", async () => {
      const res = await fetch(`${base}/open/hook`, { method: "POST", body: "x" });
      assert.equal(res.status, 200);
      const json = await res.json();
      assert.equal(json.path, "/open/hook");
      assert.equal(json.auth, null);
      const withHeader = await fetch(`${base}/open`, { headers: bearer("not-a-jwt") });
      assert.equal(withHeader.status, 200);
      assert.equal((await withHeader.json()).auth, "Bearer not-a-jwt");
    });

    await t.step("unknown function → 404", async () => {
      for (const path of ["nope", "_shared", "nope/deeper"]) {
        const res = await fetch(`${base}/${path}`, { headers: bearer(keys.anonKey) });
        assert.equal(res.status, 404);
        assert.deepEqual(await res.json(), {
          code: "NOT_FOUND",
          message: "Requested function was not found",
        });
      }
    });

    await t.step("kill -9 → restarted and answers again", async () => {
      const before = gateway.functions().find((f) => f.name === "echo")!;
      const killed = await fetch(`${gateway.url}/__gateway/kill/echo`, { method: "POST" });
      assert.equal(killed.status, 200);
      assert.equal((await killed.json()).pid, before.pid);
      // the request waits for the restart
      const res = await fetch(`${base}/echo/again`, { headers: bearer(keys.anonKey) });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).path, "/echo/again");
      const after = gateway.functions().find((f) => f.name === "echo")!;
      assert.notEqual(after.pid, before.pid);
      assert.equal(after.restarts, 1);
      assert.equal(alive(before.pid!), false);
      pids.push(after.pid!);
    });

    await t.step("crash mid-request → 502, then restarted", async () => {
      const first = await fetch(`${base}/crash/ok`);
      assert.equal(first.status, 200);
      const firstText = await first.text();
      assert.match(firstText, /^alive \d+$/);
      const died = await fetch(`${base}/crash/die`);
      assert.equal(died.status, 502);
      assert.equal((await died.json()).code, "BAD_GATEWAY");
      // A request racing the dying process may also get 502; wait for the restart.
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const c = gateway.functions().find((f) => f.name === "crash")!;
        if (c.up && c.restarts === 1) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const again = await fetch(`${base}/crash/ok`);
      assert.equal(again.status, 200);
      const againText = await again.text();
      assert.notEqual(againText, firstText);
      const status = await fetch(`${gateway.url}/__gateway/status`);
      const list = await status.json() as Array<{ name: string; restarts: number; up: boolean }>;
      const crash = list.find((f) => f.name === "crash")!;
      assert.equal(crash.restarts, 1);
      assert.equal(crash.up, true);
      pids.push(...gateway.functions().map((f) => f.pid!));
    });

    await t.step("function output goes to logDir", async () => {
      const log = await Deno.readTextFile(`${dir}/logs/crash.log`).catch(() => "");
      assert.equal(typeof log, "string");
      const entries = [];
      for await (const e of Deno.readDir(`${dir}/logs`)) entries.push(e.name);
      assert.deepEqual(entries.sort(), ["crash.log", "echo.log", "open.log"]);
    });
  } finally {
    await gateway.close();
    Deno.env.delete("GATEWAY_TEST_SECRET");
  }
  for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} still running`);
  assert.deepEqual(gateway.functions().map((f) => f.pid), [null, null, null]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("gateway: a function that cannot start answers 503 and is retried", async () => {
  const { dir, fns } = await setup();
  await Deno.remove(`${fns}/crash`, { recursive: true });
  await Deno.remove(`${fns}/open`, { recursive: true });
  await Deno.writeTextFile(`${fns}/echo/index.ts`, `throw new Error("boom at import");\n`);
  const gateway = await startGateway({
    port: 0,
    functionsDir: fns,
    configTomlPath: `${dir}/missing.toml`,
    env: {},
    jwtSecret: LOCAL_JWT_SECRET,
    quiet: true,
    logDir: `${dir}/logs`,
    requestWaitMs: 300,
  });
  try {
    const keys = await localKeys();
    const res = await fetch(`${gateway.url}/functions/v1/echo`, {
      headers: { authorization: `Bearer ${keys.anonKey}` },
    });
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.equal(body.code, "FUNCTION_UNAVAILABLE");
    assert.match(body.message, /echo/);
    // the gateway keeps trying
    const deadline = Date.now() + 5_000;
    while (gateway.functions()[0].restarts < 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(gateway.functions()[0].restarts >= 1);
    assert.match(await Deno.readTextFile(`${dir}/logs/echo.log`), /boom at import/);
  } finally {
    await gateway.close();
  }
  await Deno.remove(dir, { recursive: true });
});

// Imports a package the repository's deno.json (and node_modules) has, but its own does not map.
const USES_STRIPE = `import Stripe from "stripe";
Deno.serve(() => new Response(typeof Stripe));
`;

/** Deno's refusal of an unmapped bare import: 2.9 says `Import "x" not a dependency`, 2.1 (the
 * hosted runtime's, which runs the functions) `Relative import path "x" not prefixed with / …`. */
const unmappedImport = (name: string) =>
  new RegExp(
    `Import "${name}" not a dependency|Relative import path "${name}" not prefixed with /`,
  );

Deno.test("gateway: each function runs with its own deno.json and nothing else", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gateway_config_" });
  const fns = `${dir}/functions`;
  const write = async (name: string, code: string, config?: string) => {
    await Deno.mkdir(`${fns}/${name}`, { recursive: true });
    await Deno.writeTextFile(`${fns}/${name}/index.ts`, code);
    if (config) await Deno.writeTextFile(`${fns}/${name}/deno.json`, config);
  };
  await write("mapped", ECHO, ZOD_ONLY);
  await write("unmapped", USES_STRIPE, ZOD_ONLY);
  await write("no-config", ECHO);
  await write(
    "own-stripe",
    USES_STRIPE,
    JSON.stringify({ imports: { stripe: "npm:stripe@^17.7.0" } }),
  );
  await Deno.writeTextFile(
    `${dir}/config.toml`,
    ["mapped", "unmapped", "no-config", "own-stripe"]
      .map((n) => `[functions.${n}]\nverify_jwt = false\n`).join("\n"),
  );
  const gateway = await startGateway({
    port: 0,
    functionsDir: fns,
    configTomlPath: `${dir}/config.toml`,
    env: {},
    jwtSecret: LOCAL_JWT_SECRET,
    quiet: true,
    logDir: `${dir}/logs`,
    requestWaitMs: 300,
  });
  const call = async (name: string) => {
    const res = await fetch(`${gateway.url}/functions/v1/${name}`);
    return { status: res.status, text: await res.text() };
  };
  try {
    const mapped = await call("mapped");
    assert.equal(mapped.status, 200);
    assert.equal(JSON.parse(mapped.text).zod, "ok");
    assert.deepEqual(await call("own-stripe"), { status: 200, text: "function" });

    // "stripe" is in the repository's deno.json and node_modules, not in this function's file.
    const unmapped = await call("unmapped");
    assert.equal(unmapped.status, 503);
    assert.match(JSON.parse(unmapped.text).message, unmappedImport("stripe"));
    assert.match(await Deno.readTextFile(`${dir}/logs/unmapped.log`), unmappedImport("stripe"));
    // Without a deno.json of its own nothing is mapped (the repository's file is never used).
    const bare = await call("no-config");
    assert.equal(bare.status, 503);
    assert.match(JSON.parse(bare.text).message, unmappedImport("zod"));
    // Running a function writes nothing into it (no deno.lock beside its deno.json).
    for (const name of ["mapped", "own-stripe"]) {
      const files: string[] = [];
      for await (const e of Deno.readDir(`${fns}/${name}`)) files.push(e.name);
      assert.deepEqual(files.sort(), ["deno.json", "index.ts"]);
    }
  } finally {
    await gateway.close();
  }
  await Deno.remove(dir, { recursive: true });
});

// Waits `ms`, then leaves a file behind: the side effect a cut-off request must never have.
const SLOW = `Deno.serve(async (req) => {
  const url = new URL(req.url);
  const id = url.searchParams.get("id");
  const ms = Number(url.searchParams.get("ms"));
  await Deno.writeTextFile(\`\${Deno.env.get("MARKER_DIR")}/started-\${id}\`, String(Deno.pid));
  await new Promise((resolve) => setTimeout(resolve, ms));
  await Deno.writeTextFile(\`\${Deno.env.get("MARKER_DIR")}/done-\${id}\`, String(Deno.pid));
  return Response.json({ id, pid: Deno.pid });
});
`;

Deno.test("gateway: a request past the wall clock is cut off with 546 and its work abandoned", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gateway_wall_clock_" });
  await Deno.mkdir(`${dir}/functions/slow`, { recursive: true });
  await Deno.writeTextFile(`${dir}/functions/slow/index.ts`, SLOW);
  await Deno.writeTextFile(`${dir}/config.toml`, `[functions.slow]\nverify_jwt = false\n`);
  const gateway = await startGateway({
    port: 0,
    functionsDir: `${dir}/functions`,
    configTomlPath: `${dir}/config.toml`,
    env: { MARKER_DIR: dir },
    jwtSecret: LOCAL_JWT_SECRET,
    quiet: true,
    logDir: `${dir}/logs`,
    wallClockLimitMs: 1_000,
  });
  const url = (id: string, ms: number) => `${gateway.url}/functions/v1/slow?id=${id}&ms=${ms}`;
  const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
  try {
    const pidBefore = gateway.functions()[0].pid!;

    // In time: answered by the function, nothing cut.
    const quick = await fetch(url("quick", 300));
    assert.equal(quick.status, 200);
    assert.equal((await quick.json()).pid, pidBefore);
    assert.ok(await exists(`${dir}/done-quick`));

    // Past the limit: the platform's answer, after about the limit, not after the work.
    const started = Date.now();
    const late = await fetch(url("late", 3_000));
    const elapsed = Date.now() - started;
    assert.equal(late.status, WALL_CLOCK_LIMIT.status);
    assert.equal(late.headers.get("sb-error-code"), "WORKER_RESOURCE_LIMIT");
    assert.deepEqual(await late.json(), {
      code: "WORKER_RESOURCE_LIMIT",
      message: "Function failed due to not having enough compute resources (please check logs)",
    });
    assert.ok(elapsed >= 1_000 && elapsed < 2_500, `cut off after ${elapsed} ms`);
    assert.ok(await exists(`${dir}/started-late`), "the request did reach the function");

    // The isolate (the process) is gone, so the rest of the work never happens.
    await new Promise((resolve) => setTimeout(resolve, 3_000 - elapsed + 1_000));
    assert.equal(await exists(`${dir}/done-late`), false, "work after the cut-off ran");
    assert.equal(alive(pidBefore), false, "the function's process was terminated");
    assert.match(
      await Deno.readTextFile(`${dir}/logs/slow.log`),
      /wall clock time limit reached \(1000 ms\)/,
    );

    // A fresh process serves the next request.
    const next = await fetch(url("next", 100));
    assert.equal(next.status, 200);
    assert.notEqual((await next.json()).pid, pidBefore);
    assert.equal(gateway.functions()[0].restarts, 1);
  } finally {
    await gateway.close();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("gateway: FUNCTIONS_WALL_CLOCK_LIMIT_MS is parsed strictly", () => {
  assert.equal(wallClockLimitFrom(undefined), 150_000);
  assert.equal(wallClockLimitFrom(""), 150_000);
  assert.equal(wallClockLimitFrom("400000"), 400_000);
  for (const bad of ["0", "-5", "1.5", "150s", "abc"]) {
    assert.throws(
      () => wallClockLimitFrom(bad),
      /FUNCTIONS_WALL_CLOCK_LIMIT_MS must be a positive/,
    );
  }
});

Deno.test("keys: CLI-compatible local keys and verification", async () => {
  const keys = await localKeys(LOCAL_JWT_SECRET);
  // The Supabase CLI's well-known local anon / service_role keys.
  assert.equal(
    keys.anonKey,
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0",
  );
  assert.equal(
    keys.serviceRoleKey,
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU",
  );
  assert.deepEqual(await verifySupabaseJwt(keys.anonKey, LOCAL_JWT_SECRET), { role: "anon" });
  assert.deepEqual(await verifySupabaseJwt(keys.serviceRoleKey, LOCAL_JWT_SECRET), {
    role: "service_role",
  });
  assert.equal(await verifySupabaseJwt(keys.anonKey, "x".repeat(40)), null);
  assert.equal(await verifySupabaseJwt("garbage", LOCAL_JWT_SECRET), null);
});

Deno.test("keys: a random sb_publishable_/sb_secret_ pair per stack, kept for its processes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "stack_keys_" });
  try {
    const first = await stackApiKeys(dir);
    assert.match(first.secretKey, /^sb_secret_[A-Za-z0-9_-]{22}_[A-Za-z0-9_-]{8}$/);
    assert.match(first.publishableKey, /^sb_publishable_[A-Za-z0-9_-]{22}_[A-Za-z0-9_-]{8}$/);
    assert.deepEqual(await stackApiKeys(dir), first, "the same stack keeps its keys");
    assert.equal((await Deno.stat(`${dir}/api-keys.json`)).mode! & 0o077, 0, "mode 600");
    const other = await Deno.makeTempDir({ prefix: "stack_keys_" });
    assert.notEqual((await stackApiKeys(other)).secretKey, first.secretKey, "another stack");
    await Deno.remove(other, { recursive: true });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
