// Fetches every function's imports before anything starts a function: each with that function's
// own deno.json (as the gateway runs it and `supabase functions deploy` bundles it), in the
// foreground and in the user's own environment, into Deno's cache (DENO_DIR). A function process
// then starts from a warm cache; a registry this machine cannot reach is one clear error here,
// not a function that exits at start and answers 503 in a loop. Local-only: never deployed.
import { discoverFunctions, exists } from "../gateway/config.ts";
import { networkEnv } from "../network-env.ts";
import { run } from "./shell.ts";
import { HOSTED_DENO_ENV, HOSTED_DENO_PATH } from "../hosted-runtime.ts";

export interface FetchOptions {
  functionsDir: string;
  /** One progress line (default: stderr). */
  progress?: (line: string) => void;
  /**
   * The environment to run in; default: this process's own, over what the hosted-runtime Deno
   * needs here (HOSTED_DENO_ENV).
   */
  env?: Record<string, string>;
}

export class DependencyFetchError extends Error {}

/** Runs `deno cache` for each function; throws a DependencyFetchError saying what to check. */
export async function fetchFunctionDependencies(options: FetchOptions): Promise<void> {
  const progress = options.progress ?? ((line: string) => console.error(line));
  const env = options.env ?? { ...HOSTED_DENO_ENV, ...Deno.env.toObject() };
  const names = await discoverFunctions(options.functionsDir);
  const started = Date.now();
  progress(
    `fetching the dependencies of ${names.length} functions (each with its own deno.json) …`,
  );
  for (const name of names) {
    const dir = `${options.functionsDir}/${name}`;
    const config = await exists(`${dir}/deno.json`) ? ["--config", `${dir}/deno.json`] : [];
    // The Deno every function process runs on (the gateway's): its cache is the one to warm.
    const output = await run(
      HOSTED_DENO_PATH,
      ["cache", "--no-lock", ...config, `${dir}/index.ts`],
      { env: { ...env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" }, clearEnv: true, check: false },
    );
    if (output.code !== 0) {
      throw new DependencyFetchError(describeFetchFailure(name, output.stderr, env));
    }
  }
  progress(`dependencies ready (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

/**
 * What a failed `deno cache` means for the user: which function, which package, which URL, and
 * the variables that decide how this machine reaches it (with their current values).
 */
export function describeFetchFailure(
  functionName: string,
  stderr: string,
  env: Record<string, string | undefined>,
): string {
  // `deno cache` runs with NO_COLOR: the lines are plain.
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  const failed = /Failed loading (\S+) for package "([^"]+)"/.exec(stderr);
  const errorLine = lines.find((l) => /^error:/i.test(l)) ?? lines.at(-1) ?? "(no output)";
  const cause = lines.find((l) => /^\d+: /.test(l))?.replace(/^\d+: /, "");
  const settings = Object.entries(networkEnv((name) => env[name]))
    .map(([name, value]) => `${name}=${value}`);
  const head = failed
    ? `could not fetch npm package "${failed[2]}" from ${
      failed[1]
    } (needed by function ${functionName})`
    : `could not fetch the dependencies of function ${functionName}: ${errorLine}`;
  return [
    head,
    ...(cause ? [`  cause: ${cause}`] : failed ? [`  ${errorLine}`] : []),
    "  check how this machine reaches the registry:",
    "    TLS   — NODE_EXTRA_CA_CERTS or DENO_CERT (a CA file), SSL_CERT_FILE, DENO_TLS_CA_STORE=system",
    "    proxy — HTTPS_PROXY / HTTP_PROXY and NO_PROXY",
    "    registry — NPM_CONFIG_REGISTRY (a mirror), DENO_AUTH_TOKENS",
    `  set now: ${settings.length > 0 ? settings.join(" ") : "none of them"}`,
  ].join("\n");
}
