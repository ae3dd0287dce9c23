// Proof that two migration chains build the same database: applies the chain of an old git ref
// and the chain in the working tree to two fresh, Supabase-shaped Postgres 15 clusters (the local
// stack's own init/bootstrap code, pg_cron and the local/extensions stand-ins), then compares
// `pg_dump --schema-only` (tables, functions, triggers, views, ACLs/grants, ownership, RLS and
// policies) after normalising the order of its entries, and the pg_cron job table.
// Prints "equal" or a unified diff; exits 1 when they differ.
//
//   deno run -A scripts/migrations-equal.ts [old-ref]   (default: the parent of the commit that
//   last replaced migration files, i.e. the chain before the newest consolidation)
// Ports: PG_EQUAL_PORT (default 54340). Needs root (runs Postgres as the postgres OS user).
import { loadStackConfig, type StackConfig } from "../local/stack/config.ts";
import {
  bootstrap,
  ensureInstalled,
  initCluster,
  startPostgres,
  stopPostgres,
} from "../local/stack/postgres.ts";
import { run } from "../local/stack/shell.ts";

const log = (s: string) => console.error(`[migrations-equal] ${s}`);
const base = loadStackConfig();
const port = Number(Deno.env.get("PG_EQUAL_PORT") ?? 54340);

async function git(...args: string[]): Promise<string> {
  return (await run("git", ["-C", base.root, ...args])).stdout.trim();
}

/** The commit before the newest one that deleted files in supabase/migrations. */
async function defaultOldRef(): Promise<string> {
  const commit = await git(
    "log",
    "-1",
    "--diff-filter=D",
    "--format=%H",
    "--",
    "supabase/migrations",
  );
  return commit ? `${commit}~1` : "HEAD";
}

/** Writes the migrations of `ref` (or of the working tree when null) into `dir`. */
async function exportChain(ref: string | null, dir: string): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  if (ref === null) {
    const source = `${base.root}/supabase/migrations`;
    for await (const entry of Deno.readDir(source)) {
      if (entry.name.endsWith(".sql")) {
        await Deno.copyFile(`${source}/${entry.name}`, `${dir}/${entry.name}`);
      }
    }
  } else {
    const names = (await git("ls-tree", "--name-only", `${ref}:supabase/migrations`)).split("\n");
    for (const name of names.filter((n) => n.endsWith(".sql"))) {
      await Deno.writeTextFile(
        `${dir}/${name}`,
        (await run("git", ["-C", base.root, "show", `${ref}:supabase/migrations/${name}`])).stdout,
      );
    }
  }
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.endsWith(".sql")) files.push(entry.name);
  }
  return files.sort();
}

/** Splits pg_dump output into its "-- Name: …" entries and sorts them, so order does not matter. */
function normaliseDump(dump: string): string {
  const lines = dump.split("\n").filter((line) =>
    !/^-- (Dumped (from|by)|PostgreSQL database dump)/.test(line) &&
    !/^\\(un)?restrict /.test(line) && !/^SET |^SELECT pg_catalog.set_config/.test(line)
  );
  const entries: string[] = [];
  let current: string[] = [];
  for (const line of lines) {
    if (line.startsWith("-- Name: ") && current.length) {
      entries.push(current.join("\n").trim());
      current = [];
    }
    current.push(line);
  }
  entries.push(current.join("\n").trim());
  return entries.filter((e) => e.length > 0).sort().join("\n\n") + "\n";
}

async function build(
  label: string,
  files: string[],
  dir: string,
  workDir: string,
): Promise<string> {
  const config: StackConfig = {
    ...base,
    stateDir: `${workDir}/${label}`,
    pgData: `${workDir}/${label}/pgdata`,
    dbPort: port,
    dbUrl: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`,
    adminDbUrl: `postgresql://supabase_admin:postgres@127.0.0.1:${port}/postgres`,
  };
  await initCluster(config, log);
  await startPostgres(config);
  try {
    await bootstrap(config, log);
    log(`${label}: applying ${files.length} migrations`);
    for (const file of files) {
      // As `postgres` (not a superuser), one transaction per file, as `supabase migration up` does.
      const result = await run("psql", [
        config.dbUrl,
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-1",
        "-f",
        `${dir}/${file}`,
      ], { check: false });
      if (result.code !== 0) throw new Error(`${label}: ${file} failed:\n${result.stderr}`);
    }
    const dump = await run(`${config.pgBin}/pg_dump`, [
      "--schema-only",
      config.adminDbUrl,
    ]);
    // Rows the migrations themselves insert (e.g. guestly.alert_kinds), sorted.
    const data = await run(`${config.pgBin}/pg_dump`, [
      "--data-only",
      "--inserts",
      "--exclude-schema=cron",
      "--exclude-schema=net",
      "--exclude-schema=vault",
      "--exclude-schema=supabase_migrations",
      config.adminDbUrl,
    ]);
    const rows = data.stdout.split("\n").filter((line) => line.startsWith("INSERT ")).sort();
    const cron = await run("psql", [
      config.adminDbUrl,
      "-X",
      "-A",
      "-t",
      "-c",
      "select jobname, schedule, username, command from cron.job order by jobname, command",
    ]);
    return `${
      normaliseDump(dump.stdout)
    }\n-- cron.job (jobname|schedule|username|command)\n${cron.stdout}\n-- rows\n${
      rows.join("\n")
    }\n`;
  } finally {
    await stopPostgres(config);
  }
}

async function main(): Promise<number> {
  const oldRef = Deno.args[0] ?? (await defaultOldRef());
  const workDir = await Deno.makeTempDir({ prefix: "migrations-equal-" });
  await run("chmod", ["755", workDir]);
  await ensureInstalled(base, log);
  try {
    log(
      `old chain: ${oldRef} (${await git(
        "rev-parse",
        "--short",
        oldRef,
      )}); new chain: working tree`,
    );
    const oldFiles = await exportChain(oldRef, `${workDir}/old-migrations`);
    const newFiles = await exportChain(null, `${workDir}/new-migrations`);
    const oldSchema = await build("old", oldFiles, `${workDir}/old-migrations`, workDir);
    const newSchema = await build("new", newFiles, `${workDir}/new-migrations`, workDir);
    if (oldSchema === newSchema) {
      console.log(`equal (${oldFiles.length} old files vs ${newFiles.length} new files)`);
      return 0;
    }
    await Deno.writeTextFile(`${workDir}/old.sql`, oldSchema);
    await Deno.writeTextFile(`${workDir}/new.sql`, newSchema);
    const diff = await run("diff", ["-u", `${workDir}/old.sql`, `${workDir}/new.sql`], {
      check: false,
    });
    console.log(diff.stdout);
    console.log(`different (normalised dumps kept in ${workDir})`);
    return 1;
  } finally {
    // Keep the dumps of a failed comparison; drop the clusters.
    await run("rm", ["-rf", `${workDir}/old`, `${workDir}/new`], { check: false });
  }
}

Deno.exit(await main());
