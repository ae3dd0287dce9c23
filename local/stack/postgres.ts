// The private PostgreSQL 15 cluster of the local stack: install, init, start, stop, bootstrap
// (make it Supabase-shaped), migrate with the real Supabase CLI, seed.
import type { StackConfig } from "./config.ts";
import { asPostgresUser, exists, isRoot, run, waitFor } from "./shell.ts";
import { portInUse } from "./ports.ts";

const DEBIAN_PACKAGES = [
  "postgresql-15",
  "postgresql-15-cron",
  "postgresql-15-pgtap",
  "postgresql-15-plpgsql-check",
  "libtap-parser-sourcehandler-pgtap-perl",
];
/** Debian's Postgres 15 extension directory (also where the Postgres 17 suite takes pgTAP from). */
export const EXTENSION_DIR = "/usr/share/postgresql/15/extension";
/** The SQL-only stand-ins of local/extensions, installed into every local Postgres. */
export const LOCAL_EXTENSIONS = [
  "pg_net.control",
  "pg_net--0.14.0.sql",
  "supabase_vault.control",
  "supabase_vault--0.3.1.sql",
];

async function packagesMissing(config: StackConfig): Promise<boolean> {
  const needed = [
    `${config.pgBin}/postgres`,
    `${EXTENSION_DIR}/pg_cron.control`,
    `${EXTENSION_DIR}/pgtap.control`,
    `${EXTENSION_DIR}/plpgsql_check.control`,
    "/usr/bin/pg_prove",
  ];
  for (const path of needed) if (!(await exists(path))) return true;
  return false;
}

/** Installs the Debian packages and the local-compat extensions when they are missing. */
export async function ensureInstalled(config: StackConfig, log: (s: string) => void) {
  if (await packagesMissing(config)) {
    if (!isRoot()) {
      throw new Error(
        `PostgreSQL 15 packages are missing; install them as root: apt-get install -y ${
          DEBIAN_PACKAGES.join(" ")
        }`,
      );
    }
    log("installing PostgreSQL 15, pg_cron, pgTAP, plpgsql_check from Debian …");
    const env = { ...Deno.env.toObject(), DEBIAN_FRONTEND: "noninteractive" };
    await run("apt-get", ["update", "-qq"], { env });
    await run("apt-get", ["install", "-y", "-qq", ...DEBIAN_PACKAGES], { env });
  }
  for (const file of LOCAL_EXTENSIONS) {
    const source = await Deno.readTextFile(`${config.root}/local/extensions/${file}`);
    const target = `${EXTENSION_DIR}/${file}`;
    const current = await Deno.readTextFile(target).catch(() => null);
    if (current === source) continue;
    if (!isRoot()) {
      throw new Error(`copy local/extensions/${file} to ${EXTENSION_DIR} as root (sudo)`);
    }
    await Deno.writeTextFile(target, source);
  }
}

async function chownToPostgres(path: string) {
  if (isRoot()) await run("chown", ["-R", "postgres:postgres", path]);
}

/** `cron: false` for a Postgres without the pg_cron library (the Postgres 17 suite). */
export async function initCluster(
  config: StackConfig,
  log: (s: string) => void,
  options: { cron?: boolean } = {},
) {
  if (await exists(`${config.pgData}/PG_VERSION`)) return false;
  log(`creating a PostgreSQL cluster in ${config.pgData}`);
  await Deno.mkdir(config.pgData, { recursive: true });
  await Deno.chmod(config.pgData, 0o700);
  const pwFile = `${config.pgData}/../pgpass.tmp`;
  await Deno.writeTextFile(pwFile, "postgres\n");
  await chownToPostgres(`${config.pgData}/..`);
  const [cmd, args] = asPostgresUser(`${config.pgBin}/initdb`, [
    "-D",
    config.pgData,
    "-U",
    "supabase_admin",
    "--auth=scram-sha-256",
    `--pwfile=${pwFile}`,
    "--encoding=UTF8",
    "--locale=C.UTF-8",
  ]);
  await run(cmd, args);
  await Deno.remove(pwFile);
  const settings = [
    `port = ${config.dbPort}`,
    `listen_addresses = '127.0.0.1'`,
    `unix_socket_directories = ''`,
    ...(options.cron === false ? [] : [
      `shared_preload_libraries = 'pg_cron'`,
      `cron.database_name = 'postgres'`,
      `cron.use_background_workers = on`,
    ]),
    `max_worker_processes = 32`,
    `max_connections = 200`,
    // The OS keeps written pages across a killed postmaster; only a machine crash would lose them.
    `fsync = off`,
    `full_page_writes = off`,
    `log_min_messages = warning`,
    `timezone = 'UTC'`,
  ];
  await Deno.writeTextFile(
    `${config.pgData}/postgresql.conf`,
    `\n# local stack\n${settings.join("\n")}\n`,
    { append: true },
  );
  await Deno.writeTextFile(
    `${config.pgData}/pg_hba.conf`,
    "host all all 127.0.0.1/32 scram-sha-256\n",
  );
  await chownToPostgres(config.pgData);
  return true;
}

export async function psql(
  config: StackConfig,
  sql: string,
  options: { admin?: boolean; check?: boolean; file?: string; vars?: Record<string, string> } = {},
) {
  const url = options.admin ? config.adminDbUrl : config.dbUrl;
  const args = [url, "-v", "ON_ERROR_STOP=1", "-X", "-q", "-t", "-A"];
  for (const [name, value] of Object.entries(options.vars ?? {})) {
    args.push("-v", `${name}=${value}`);
  }
  if (options.file) args.push("-1", "-f", options.file);
  else args.push("-c", sql);
  return await run("psql", args, { check: options.check });
}

/**
 * This stack's own cluster runs on the configured port: its postmaster.pid (pid, data directory,
 * start time, port, …) names a live postgres process serving this data directory on that port.
 * Anything else answering there (another project's Postgres, our cluster started on another
 * port, a stale pid reused after a crash) is not ours.
 */
export async function ownPostgresRuns(config: StackConfig): Promise<boolean> {
  const lines = (await Deno.readTextFile(`${config.pgData}/postmaster.pid`).catch(() => ""))
    .split("\n");
  const pid = Number(lines[0]);
  if (!(pid > 0) || Number(lines[3]) !== config.dbPort) return false;
  const same = async (a: string, b: string) =>
    (await Deno.realPath(a).catch(() => a)) === (await Deno.realPath(b).catch(() => b));
  if (!(await same(lines[1] ?? "", config.pgData))) return false;
  const command = await Deno.readTextFile(`/proc/${pid}/comm`).catch(() => "");
  return command.trim() === "postgres";
}

export async function isPostgresUp(config: StackConfig): Promise<boolean> {
  const result = await run(`${config.pgBin}/pg_isready`, [
    "-h",
    "127.0.0.1",
    "-p",
    String(config.dbPort),
    "-q",
  ], { check: false });
  return result.code === 0;
}

export async function startPostgres(config: StackConfig) {
  if (await isPostgresUp(config)) return;
  // Beside the data directory: the postgres OS user must be able to write it.
  const logFile = `${config.pgData}/../postgres.log`;
  await Deno.writeTextFile(logFile, "", { append: true });
  await chownToPostgres(logFile);
  const [cmd, args] = asPostgresUser(`${config.pgBin}/pg_ctl`, [
    "-D",
    config.pgData,
    "-l",
    logFile,
    "-w",
    "-t",
    "60",
    "start",
  ]);
  // The port can be held for a moment by an outgoing connection (it is in the ephemeral range).
  for (let tries = 1;; tries++) {
    const started = await run(cmd, args, { check: false });
    if (started.code === 0) break;
    const log = await Deno.readTextFile(logFile).catch(() => "");
    const bindFailed = /could not bind|Address already in use/i.test(log.slice(-2000));
    if (bindFailed && tries >= 5) throw portInUse(config, "postgres");
    if (tries >= 5 || !bindFailed) {
      throw new Error(
        `pg_ctl start failed:\n${started.stdout}${started.stderr}\n${log.slice(-2000)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1000 * tries));
  }
  await waitFor("postgres", () => isPostgresUp(config), 60_000);
}

export async function stopPostgres(config: StackConfig, mode: "fast" | "immediate" = "fast") {
  if (!(await exists(`${config.pgData}/postmaster.pid`))) return;
  const [cmd, args] = asPostgresUser(`${config.pgBin}/pg_ctl`, [
    "-D",
    config.pgData,
    "-m",
    mode,
    "-w",
    "stop",
  ]);
  await run(cmd, args, { check: false });
}

/** Kills the postmaster with SIGKILL, as a crash would (chaos tests). */
export async function killPostgres(config: StackConfig) {
  const pidText = await Deno.readTextFile(`${config.pgData}/postmaster.pid`).catch(() => "");
  const pid = Number(pidText.split("\n")[0]);
  if (pid > 0) Deno.kill(pid, "SIGKILL");
  await waitFor("postgres to die", async () => !(await isPostgresUp(config)), 10_000);
}

export async function bootstrap(
  config: StackConfig,
  log: (s: string) => void,
  vars: Record<string, string> = {},
) {
  const done = await psql(
    config,
    "select 1 from pg_roles where rolname = 'anon'",
    { admin: true },
  );
  if (done.stdout.trim() === "1") return;
  log("bootstrapping Supabase roles, schemas, default privileges, pg_net, Vault …");
  await psql(config, "", { admin: true, file: `${config.root}/local/db/bootstrap.sql`, vars });
}

export async function migrate(config: StackConfig) {
  const supabase = `${config.root}/node_modules/.bin/supabase`;
  const result = await run(supabase, [
    "migration",
    "up",
    `--remote=${config.dbUrl}?sslmode=disable`,
    "--yes",
    "--workdir",
    config.root,
  ], { check: false, env: { ...Deno.env.toObject(), SUPABASE_TELEMETRY_DISABLED: "1" } });
  if (result.code !== 0) {
    throw new Error(`supabase migration up failed:\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout + result.stderr;
}

export async function seed(config: StackConfig, log: (s: string) => void) {
  const seeded = await psql(
    config,
    "select 1 from pg_class where relname = 'local_stack_seeded' and relnamespace = 'supabase_migrations'::regnamespace",
  );
  if (seeded.stdout.trim() === "1") return;
  log("seeding supabase/seed.sql");
  await psql(config, "", { file: `${config.root}/supabase/seed.sql` });
  await psql(config, "create table supabase_migrations.local_stack_seeded ()");
}
