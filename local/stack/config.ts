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
    pgData: `${stateDir}/pgdata`,
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
