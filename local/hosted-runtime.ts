/**
 * The Deno that Supabase's hosted Edge Functions run on, for running and checking our function
 * code locally. Tooling (tests, bench, chaos, stack scripts) stays on node_modules/.bin/deno.
 *
 * The version is named once, in local/hosted-deno/package.json (its `deno` dependency), with
 * its source: supabase/edge-runtime pins Deno 2.1.4 (deno/Cargo.toml `version = "2.1.4"`,
 * .env `DENO_VERSION=2.1.4`). It is a package of its own, not an npm alias in the root
 * package.json, because an alias of `deno` also links a `deno` bin and npm lets whichever
 * installs last own node_modules/.bin/deno — an incremental `npm install` put the tooling on 2.1.
 *
 * `deno run -A local/hosted-runtime.ts` prints the binary's path (for shell scripts);
 * `… --check` also runs it and fails unless it reports the pinned version; `… --env` prints
 * HOSTED_DENO_ENV as KEY=VALUE lines.
 * Local-only: never deployed.
 */
import { fileURLToPath } from "node:url";
import hostedDenoPackage from "./hosted-deno/package.json" with { type: "json" };

/** The Deno version the hosted edge runtime embeds (from local/hosted-deno/package.json). */
export const HOSTED_DENO_VERSION: string = hostedDenoPackage.dependencies.deno;

const PACKAGE_DIR = fileURLToPath(new URL("./hosted-deno/node_modules/", import.meta.url));

/** npm's name for this machine's Deno build (the `deno` package's optional dependencies). */
function platformPackage(): string {
  const arch = Deno.build.arch === "aarch64" ? "arm64" : "x64";
  if (Deno.build.os === "windows") return `win32-${arch}`;
  if (Deno.build.os === "darwin") return `darwin-${arch}`;
  return `linux-${arch}-glibc`;
}

function findHostedDeno(): string {
  const exe = Deno.build.os === "windows" ? "deno.exe" : "deno";
  // The `deno` package's postinstall copies the binary into its own directory; without install
  // scripts (npm's allowScripts) it stays in the platform package only.
  const candidates = [
    `${PACKAGE_DIR}deno/${exe}`,
    `${PACKAGE_DIR}@deno/${platformPackage()}/${exe}`,
  ];
  for (const path of candidates) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not this one
    }
  }
  throw new Error(
    `the hosted-runtime Deno ${HOSTED_DENO_VERSION} is not installed (looked for ` +
      `${candidates.join(", ")}): run \`npm install\``,
  );
}

/**
 * Absolute path of the hosted-runtime Deno binary. The local gateway runs every function
 * process on it; `npm test` type-checks the functions and runs the unit suite with it.
 */
export const HOSTED_DENO_PATH: string = findHostedDeno();

/**
 * Environment the hosted-runtime Deno needs on this machine, under the caller's own values
 * (`{ ...HOSTED_DENO_ENV, ...env }`). Deno 2.1 trusts only its bundled Mozilla roots unless told
 * otherwise, where the tooling's newer Deno also trusts the system store; without the system
 * store it cannot reach the npm registry through a proxy with its own CA (UnknownIssuer).
 */
export const HOSTED_DENO_ENV: Readonly<Record<string, string>> = {
  DENO_TLS_CA_STORE: "mozilla,system",
};

/**
 * Whether this process's fetch silently sends a request again when the kept-alive connection it
 * went out on is dropped before any answer. Observed against the Guestly sandbox dropping a
 * reused connection: Deno 2.9.6 (the tooling's) re-sends it on a new connection and the caller
 * sees only the second answer; 2.1.4 (the hosted runtime's) fails the request ("connection
 * closed before message completed"). The keep-alive controls expect one or the other.
 */
export const POOLED_FETCH_RESENDS_ON_DROP: boolean = Deno.version.deno !== HOSTED_DENO_VERSION;

/** Runs the binary and returns the version it reports (e.g. "2.1.4"). */
export async function reportedHostedDenoVersion(): Promise<string> {
  const out = await new Deno.Command(HOSTED_DENO_PATH, {
    args: ["--version"],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const match = new TextDecoder().decode(out.stdout).match(/^deno (\S+)/);
  if (!out.success || !match) throw new Error(`${HOSTED_DENO_PATH} --version failed`);
  return match[1];
}

if (import.meta.main) {
  if (Deno.args.includes("--env")) {
    // KEY=VALUE lines for `env`, the caller's own values winning, as the gateway merges them.
    for (const [key, value] of Object.entries(HOSTED_DENO_ENV)) {
      console.log(`${key}=${Deno.env.get(key) ?? value}`);
    }
    Deno.exit(0);
  }
  if (Deno.args.includes("--check")) {
    const reported = await reportedHostedDenoVersion();
    if (reported !== HOSTED_DENO_VERSION) {
      console.error(
        `${HOSTED_DENO_PATH} reports Deno ${reported}, pinned ${HOSTED_DENO_VERSION}: run \`npm install\``,
      );
      Deno.exit(1);
    }
  }
  console.log(HOSTED_DENO_PATH);
}
