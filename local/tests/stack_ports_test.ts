// A port the stack needs, held by another process (another project's `supabase start`, a stray
// service of an earlier stack): `stack up` stops before it installs or starts anything, with one
// line naming the port and the variable that moves it — no stack trace, nothing of ours started.
import assert from "node:assert/strict";

const ROOT = new URL("../..", import.meta.url).pathname;

async function stack(command: "up" | "down", env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", `${ROOT}deno.json`, `${ROOT}local/cli/stack.ts`, command],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** Ports free right now (the system's choice, released at once). */
function freePorts(n: number): number[] {
  const listeners = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

for (
  const [variable, service] of [
    ["SUPABASE_DB_PORT", "postgres"],
    ["SUPABASE_API_PORT", "gateway"],
    ["GUESTLY_SANDBOX_PORT", "guestly-sandbox"],
  ] as const
) {
  Deno.test(`stack up with ${variable} held by another process: one line naming it, nothing started`, async () => {
    // Something else listens there (any TCP server: a foreign Postgres looks the same).
    const holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (holder.addr as Deno.NetAddr).port;
    const stateDir = await Deno.makeTempDir({ prefix: "stack-ports-" });
    // Every other port of this stack free, the held one ours to test.
    const free = freePorts(4);
    const env = {
      LOCAL_STACK_DIR: stateDir,
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "/root",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      SUPABASE_API_PORT: String(free[0]),
      SUPABASE_DB_PORT: String(free[1]),
      MAIL_CATCHER_PORT: String(free[2]),
      GUESTLY_SANDBOX_PORT: String(free[3]),
      [variable]: String(port),
    };
    try {
      const result = await stack("up", env);
      assert.equal(result.code, 1, result.stderr);
      const lines = result.stderr.trim().split("\n").filter((l) => l.trim() !== "");
      assert.match(
        lines.at(-1) ?? "",
        new RegExp(`^port ${port} \\(${service}, ${variable}\\) is held by another process`),
      );
      assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack trace");
      // Stopped before anything was set up: no cluster, no service started.
      const made = [];
      for await (const entry of Deno.readDir(stateDir)) made.push(entry.name);
      assert.deepEqual(made.filter((n) => n !== "logs" && n !== "run"), []);
    } finally {
      holder.close();
      // Should the check ever let `up` go on, whatever it started is stopped, not left running.
      await stack("down", env);
      await Deno.remove(stateDir, { recursive: true });
    }
  });
}
