/**
 * Runs one edge function in this process for the local gateway:
 *   deno run --allow-all --no-prompt function-host.ts /abs/path/to/<name>/index.ts
 * Replaces `Deno.serve` so the function's own `Deno.serve(handler)` /
 * `Deno.serve(options, handler)` / `Deno.serve({ handler, ... })` listens on
 * 127.0.0.1:$FUNCTION_HOST_PORT (the port the gateway chose), then imports the function.
 * Local-only infrastructure.
 */
import { pathToFileURL } from "node:url";

const entry = Deno.args[0];
const port = Number(Deno.env.get("FUNCTION_HOST_PORT"));
if (!entry || !Number.isInteger(port) || port <= 0) {
  console.error("usage: FUNCTION_HOST_PORT=<port> function-host.ts <path/to/index.ts>");
  Deno.exit(2);
}

type Handler = Deno.ServeHandler;
type Options = Record<string, unknown> & { handler?: Handler };

const originalServe = Deno.serve.bind(Deno) as (
  options: Record<string, unknown>,
  handler: Handler,
) => Deno.HttpServer;
let serving = false;

function hostedServe(a: unknown, b?: unknown): Deno.HttpServer {
  let options: Options = {};
  let handler: Handler | undefined;
  if (typeof a === "function") {
    handler = a as Handler;
  } else {
    options = { ...(a as Options ?? {}) };
    handler = typeof b === "function" ? b as Handler : options.handler;
    delete options.handler;
  }
  if (!handler) throw new TypeError("Deno.serve: no handler given");
  if (serving) console.error("[function-host] warning: Deno.serve called more than once");
  serving = true;
  // TLS / unix sockets make no sense behind the gateway: keep only harmless options.
  const { signal, onError } = options as { signal?: AbortSignal; onError?: unknown };
  return originalServe({
    port,
    hostname: "127.0.0.1",
    ...(signal ? { signal } : {}),
    ...(onError ? { onError } : {}),
    onListen: () => {},
  }, handler);
}

Object.defineProperty(Deno, "serve", {
  value: hostedServe,
  configurable: true,
  writable: true,
  enumerable: true,
});

const path = entry.startsWith("file:") ? entry : pathToFileURL(entry).href;
await import(path);
