// The sandbox in a process of its own on the tooling's Deno, for callers running on another
// Deno — the tests that run the sync core on the hosted runtime's Deno 2.1. There, node:http is
// built on Deno.serve: `socket.destroy()` closes nothing (a "dropped" request just hangs until
// the client gives up, and `server.close()` waits for it), and every request gets a socket of its
// own (so keep-alive connections cannot be told apart). Guesty is a server elsewhere: its
// stand-in behaves the same whichever Deno runs the code under test.
// Local test infrastructure only.
import { fileURLToPath } from "node:url";
import type { GuestlySandbox, GuestlySandboxOptions } from "./server.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TOOLING_PACKAGE = `${ROOT}node_modules/deno/package.json`;
const CHILD = fileURLToPath(new URL("./own-process-child.ts", import.meta.url));

/** The tooling's Deno version (node_modules/deno), or null when it is not installed. */
function toolingDenoVersion(): string | null {
  try {
    return (JSON.parse(Deno.readTextFileSync(TOOLING_PACKAGE)) as { version?: string }).version ??
      null;
  } catch {
    return null;
  }
}

/**
 * True when this process is not on the tooling's Deno, where the sandbox's drops and
 * connection tracking were checked, and the options can cross a process boundary.
 */
export function sandboxNeedsOwnProcess(options: GuestlySandboxOptions): boolean {
  const tooling = toolingDenoVersion();
  return tooling !== null && tooling !== Deno.version.deno && options.random === undefined;
}

export async function startSandboxProcess(
  options: GuestlySandboxOptions,
): Promise<GuestlySandbox> {
  const child = new Deno.Command(`${ROOT}node_modules/.bin/deno`, {
    args: [
      "run",
      "-A",
      "--no-lock",
      "--config",
      `${ROOT}deno.json`,
      CHILD,
      JSON.stringify(options),
    ],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let started: { url: string; port: number } | null = null;
  while (!started) {
    const { done, value } = await lines.read();
    if (done) break;
    buffered += value;
    const nl = buffered.indexOf("\n");
    if (nl >= 0) started = JSON.parse(buffered.slice(0, nl));
  }
  if (!started) {
    await child.status;
    throw new Error("the Guestly sandbox process exited before it listened");
  }
  // Its request log lines (unless quiet) go where an in-process sandbox's would.
  const forwarding = (async () => {
    for (;;) {
      const { done, value } = await lines.read();
      if (done) return;
      await Deno.stdout.write(new TextEncoder().encode(value));
    }
  })().catch(() => {});
  const stdin = child.stdin.getWriter();
  let closing: Promise<void> | null = null;
  return {
    url: started.url,
    port: started.port,
    close() {
      // The child closes its sandbox and exits when its stdin ends (also if this process dies).
      closing ??= (async () => {
        await stdin.close().catch(() => {});
        const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await child.status;
        clearTimeout(killer);
        await forwarding;
      })();
      return closing;
    },
  };
}
