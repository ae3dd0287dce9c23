// Brings the whole local stack up or down. Idempotent: `up` reuses whatever already runs.
import { loadStackConfig, type StackConfig } from "./config.ts";
import { functionsEnv } from "./env.ts";
import {
  bootstrap,
  ensureInstalled,
  initCluster,
  isPostgresUp,
  migrate,
  ownPostgresRuns,
  psql,
  seed,
  startPostgres,
  stopPostgres,
} from "./postgres.ts";
import { servicePid, startService, stopService } from "./services.ts";
import { apiKeysEnv, localKeys, stackApiKeys } from "../keys.ts";
import { wallClockLimitFrom } from "../gateway/platform.ts";
import { registerSandboxWebhook, stackWebhookSecret, webhookFunctionUrl } from "./webhooks.ts";
import { DependencyFetchError, fetchFunctionDependencies } from "./function-deps.ts";
import { FunctionStartError, waitForFunctions } from "./functions-ready.ts";
import { ensurePortFree, PortInUseError } from "./ports.ts";

export const SERVICES = ["mail-catcher", "guestly-sandbox", "pg-net-worker", "gateway"] as const;

export interface UpOptions {
  log?: (line: string) => void;
  seed?: boolean;
  /** Restart with the settings the gateway was last started with (not this shell's env). */
  reuseSavedEnv?: boolean;
}

export async function stackUp(options: UpOptions = {}): Promise<StackConfig> {
  const log = options.log ?? ((line: string) => console.log(line));
  const config = loadStackConfig();
  await Deno.mkdir(config.stateDir, { recursive: true });
  await ensurePortsFree(config);
  await ensureInstalled(config, log);
  await initCluster(config, log);
  await startPostgres(config);
  await bootstrap(config, log);
  const migrated = await migrate(config);
  if (/Applying migration/i.test(migrated)) log(migrated.trim());
  if (options.seed !== false) await seed(config, log);
  await configureVault(config);

  const saved = options.reuseSavedEnv
    ? await Deno.readTextFile(`${config.stateDir}/run/gateway.env.json`).then(JSON.parse).catch(
      () => null,
    )
    : null;
  // A state saved before the stack had the new keys gets them: Vault holds the secret key.
  const env: Record<string, string> = saved
    ? {
      GUESTLY_WEBHOOK_SECRET: await stackWebhookSecret(config),
      ...saved,
      ...apiKeysEnv(await stackApiKeys(config.stateDir)),
    }
    : await functionsEnv(config);
  await startService(config, {
    name: "mail-catcher",
    script: "local/mail-catcher/main.ts",
    env: { MAIL_CATCHER_PORT: String(config.mailPort) },
    readyUrl: `${config.mailUrl}/__catcher/messages`,
  });
  await startService(config, {
    name: "guestly-sandbox",
    script: "local/guestly-sandbox/main.ts",
    env: {
      GUESTLY_SANDBOX_PORT: String(config.sandboxPort),
      GUESTLY_SANDBOX_RATE_SCALE: Deno.env.get("GUESTLY_SANDBOX_RATE_SCALE") ?? "1",
      GUESTLY_CLIENT_ID: env.GUESTLY_CLIENT_ID,
      GUESTLY_CLIENT_SECRET: env.GUESTLY_CLIENT_SECRET,
      GUESTLY_SANDBOX_WEBHOOK_SECRET: env.GUESTLY_WEBHOOK_SECRET ??
        await stackWebhookSecret(config),
      // Svix's schedule (5 s, 5 min, 30 min, …) a hundred times faster: 50 ms, 3 s, 18 s, …
      GUESTLY_SANDBOX_WEBHOOK_RETRY_SCALE: Deno.env.get("GUESTLY_SANDBOX_WEBHOOK_RETRY_SCALE") ??
        "0.01",
    },
    readyUrl: `${config.sandboxUrl}/__sandbox/faults`,
  });
  await startService(config, {
    name: "pg-net-worker",
    script: "local/pg_net/worker.ts",
    env: { PG_NET_DATABASE_URL: config.adminDbUrl },
  });
  // Before the gateway starts a function: every function's imports, in this shell's environment
  // (a gateway already running has its functions up: nothing to fetch for it).
  if (!(await servicePid(config, "gateway"))) {
    await fetchFunctionDependencies({
      functionsDir: `${config.root}/supabase/functions`,
      progress: log,
    });
  }
  await startService(config, {
    name: "gateway",
    script: "local/stack/run-gateway.ts",
    env: {
      ...env,
      SUPABASE_API_PORT: String(config.apiPort),
      LOCAL_STACK_DIR: config.stateDir,
      ...wallClockSetting(env),
    },
    readyUrl: `${config.apiUrl}/__gateway/status`,
  });
  await functionsUp(config);
  await registerSandboxWebhook(config);
  return config;
}

/**
 * Before anything is installed or started: a port this stack needs and another process holds
 * (a `supabase start` of another project on 54322, a stray process of an earlier stack whose pid
 * files were deleted) stops `up` with one line naming it. A Postgres on our port that is not this
 * stack's own cluster is never taken for ours (it would be migrated and seeded).
 */
async function ensurePortsFree(config: StackConfig): Promise<void> {
  if (!(await ownPostgresRuns(config))) await ensurePortFree(config, "postgres");
  for (const name of ["mail-catcher", "guestly-sandbox", "gateway"] as const) {
    if (!(await servicePid(config, name))) await ensurePortFree(config, name);
  }
}

/**
 * For the commands: a stack that cannot come up for a reason the user can fix (the registry out
 * of reach, a function that cannot start) ends the command with that message alone, exit 1.
 */
export function exitOnStartProblem(e: unknown): never {
  if (
    e instanceof DependencyFetchError || e instanceof FunctionStartError ||
    e instanceof PortInUseError
  ) {
    console.error(`\nthe local stack cannot start:\n${e.message}`);
    Deno.exit(1);
  }
  throw e;
}

/**
 * Waits until every function answers. One that cannot start stops `up` with its name and first
 * error, and the gateway is stopped with it (it would only restart the function in a loop).
 */
export async function functionsUp(config: StackConfig) {
  try {
    await waitForFunctions({ apiUrl: config.apiUrl, logDir: `${config.stateDir}/logs` });
  } catch (e) {
    await stopService(config, "gateway");
    throw e;
  }
}

/** The gateway's wall clock (default 150 s): from the shell, else what the stack last used. */
function wallClockSetting(saved: Record<string, string>): Record<string, string> {
  const value = Deno.env.get("FUNCTIONS_WALL_CLOCK_LIMIT_MS") ??
    saved.FUNCTIONS_WALL_CLOCK_LIMIT_MS;
  if (value === undefined || value === "") return {};
  wallClockLimitFrom(value); // refuse a bad value before starting anything
  return { FUNCTIONS_WALL_CLOCK_LIMIT_MS: value };
}

/** Which key the database keeps in Vault (`service_role_key`) to call the functions with. */
export type VaultKeyKind = "secret" | "service_role";

/**
 * The database finds the functions through Vault, as the Supabase docs recommend. By default it
 * holds the stack's secret key (sb_secret_…), as docs/operations.md says to store on a project;
 * `service_role` puts the legacy JWT there instead (tests run the path with both).
 */
export async function configureVault(config: StackConfig, key: VaultKeyKind = "secret") {
  const secrets: Record<string, string> = {
    project_url: config.apiUrl,
    service_role_key: await vaultKey(config, key),
  };
  for (const [name, value] of Object.entries(secrets)) {
    const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;
    await psql(
      config,
      `do $$ begin
         if exists (select 1 from vault.secrets where name = ${literal(name)}) then
           perform vault.update_secret((select id from vault.secrets where name = ${
        literal(name)
      }), ${literal(value)});
         else
           perform vault.create_secret(${literal(value)}, ${
        literal(name)
      }, 'set by the local stack');
         end if;
       end $$`,
    );
  }
}

/** The value `configureVault` stores for a kind of key. */
export async function vaultKey(config: StackConfig, key: VaultKeyKind): Promise<string> {
  return key === "secret"
    ? (await stackApiKeys(config.stateDir)).secretKey
    : (await localKeys()).serviceRoleKey;
}

export async function stackDown(log: (line: string) => void = console.log) {
  const config = loadStackConfig();
  for (const name of [...SERVICES].reverse()) await stopService(config, name);
  await stopPostgres(config);
  log("local stack stopped");
}

export async function stackStatus() {
  const config = loadStackConfig();
  const status: Record<string, string> = {
    postgres: (await isPostgresUp(config)) ? `up on ${config.dbPort}` : "down",
  };
  for (const name of SERVICES) {
    const pid = await servicePid(config, name);
    status[name] = pid ? `up (pid ${pid})` : "down";
  }
  return { config, status };
}

export async function describeStack(config: StackConfig): Promise<string> {
  const keys = await localKeys();
  const apiKeys = await stackApiKeys(config.stateDir);
  return [
    `API (functions)     ${config.functionsUrl}/<name>`,
    `  stripe-webhook    ${config.functionsUrl}/stripe-webhook`,
    `  guestly-sync      ${config.functionsUrl}/guestly-sync`,
    `  guestly-webhook   ${webhookFunctionUrl(config)}   (the sandbox's webhooks)`,
    `  guestly-reconcile ${config.functionsUrl}/guestly-reconcile   (daily; npm run sync:reconcile)`,
    `Database            ${config.dbUrl}`,
    `Guestly sandbox     ${config.sandboxUrl}/__sandbox/   (API ${config.sandboxUrl}/v1)`,
    `Mail inbox          ${config.mailUrl}/`,
    `publishable key     ${apiKeys.publishableKey}`,
    `secret key          ${apiKeys.secretKey}   (in Vault: the database calls functions with it)`,
    `anon key (legacy)   ${keys.anonKey}`,
    `service_role key (legacy) ${keys.serviceRoleKey}`,
    `Stripe webhook secret (local) ${config.stripeWebhookSecret}`,
  ].join("\n");
}
