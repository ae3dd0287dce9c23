// Child side of own-process.ts: starts the sandbox in this process (the tooling's Deno) with the
// options given as JSON, prints {url, port} as its first stdout line, and closes it and exits
// when stdin ends. Local test infrastructure only.
import { startGuestlySandbox } from "./server.ts";

const sandbox = await startGuestlySandbox(JSON.parse(Deno.args[0] ?? "{}"));
console.log(JSON.stringify({ url: sandbox.url, port: sandbox.port }));
for await (const _ of Deno.stdin.readable) {
  // nothing is sent; the stream ends when the parent closes it or dies
}
await sandbox.close();
Deno.exit(0);
