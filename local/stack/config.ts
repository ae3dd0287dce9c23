// Where the local stack lives and which ports it uses. Ports come from supabase/config.toml and
// can be overridden by environment variables, so two stacks can run side by side.
import { parse } from "smol-toml";

export const REPO_ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

export interface StackConfig {
  root: string;
  stateDir: string;
  pgData: string;
  pgBin: string;
  apiPort: number;
  dbPort: number;
  sandboxPort: number;
  mailPort: number;
  apiUrl: string;
  functionsUrl: string;
  sandboxUrl: string;
  mailUrl: string;
  /** Connection as `postgres` (not a superuser), like SUPABASE_DB_URL on the platform. */
  dbUrl: string;
  /** Connection as the superuser; local tooling only. */
  adminDbUrl: string;
  guestlyClientId: string;
  guestlyClientSecret: string;
  stripeWebhookSecret: string;
}

function portFrom(envName: string, fallback: number): number {
  const value = Deno.env.get(envName);
  if (!value) return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`${envName} must be a TCP port, got "${value}"`);
  }
  return port;
}

/**
 * PostgreSQL runs as the postgres OS user when we are root, and that user must be able to reach
 * its data directory. A checkout under a private home (e.g. /root, mode 700) is out of its reach,
 * so the cluster then lives under /var/lib/postgresql instead (one per state directory).
 */
export function pgDataDir(stateDir: string): string {
  const inRepo = `${stateDir}/pgdata`;
  if (Deno.uid() !== 0) return inRepo;
  const ancestors = stateDir.split("/").slice(1, -1).map((_, i, parts) =>
    "/" + parts.slice(0, i + 1).join("/")
  );
  const reachable = ancestors.every((dir) => {
    try {
      return ((Deno.statSync(dir).mode ?? 0) & 0o001) !== 0;
    } catch {
      return true; // not created yet: created by us with the default 755
    }
  });
  if (reachable) return inRepo;
  let hash = 0;
  for (const char of stateDir) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `/var/lib/postgresql/guestly-sync-${hash.toString(16)}/pgdata`;
}

export function loadStackConfig(): StackConfig {
  const toml = parse(Deno.readTextFileSync(`${REPO_ROOT}/supabase/config.toml`)) as {
    api?: { port?: number };
    db?: { port?: number };
    local_smtp?: { port?: number };
  };
  const apiPort = portFrom("SUPABASE_API_PORT", toml.api?.port ?? 54321);
  const dbPort = portFrom("SUPABASE_DB_PORT", toml.db?.port ?? 54322);
  const mailPort = portFrom("MAIL_CATCHER_PORT", toml.local_smtp?.port ?? 54324);
  const sandboxPort = portFrom("GUESTLY_SANDBOX_PORT", 54330);
  const stateDir = Deno.env.get("LOCAL_STACK_DIR") ?? `${REPO_ROOT}/.local`;
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  return {
    root: REPO_ROOT,
    stateDir,
    pgData: pgDataDir(stateDir),
    pgBin: Deno.env.get("PG_BIN") ?? "/usr/lib/postgresql/15/bin",
    apiPort,
    dbPort,
    sandboxPort,
    mailPort,
    apiUrl,
    functionsUrl: `${apiUrl}/functions/v1`,
    sandboxUrl: `http://127.0.0.1:${sandboxPort}`,
    mailUrl: `http://127.0.0.1:${mailPort}`,
    dbUrl: `postgresql://postgres:postgres@127.0.0.1:${dbPort}/postgres`,
    adminDbUrl: `postgresql://supabase_admin:postgres@127.0.0.1:${dbPort}/postgres`,
    // Local-only credentials of the sandbox and test signing secret; not secrets of any real account.
    guestlyClientId: "sandbox-client-id",
    guestlyClientSecret: "sandbox-client-secret",
    stripeWebhookSecret: "whsec_local_stack_only",
  };
}
