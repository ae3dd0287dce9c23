// A second functions gateway with other function secrets, and the database pointed at it: how a
// test runs the functions as `supabase secrets set …` would (sync disabled, a start-up error,
// holds on) without touching the stack's own gateway. Vault's project_url is put back after.
import type postgres from "postgres";
import { stack } from "./harness.ts";
import { type Gateway, startGateway } from "../../../local/gateway/server.ts";
import { functionsEnv } from "../../../local/stack/env.ts";
import { LOCAL_JWT_SECRET } from "../../../local/keys.ts";

export async function vaultSecret(sql: postgres.Sql, name: string): Promise<string> {
  const [row] =
    await sql`select decrypted_secret from vault.decrypted_secrets where name = ${name}`;
  return row.decrypted_secret as string;
}

export async function setVaultSecret(sql: postgres.Sql, name: string, value: string) {
  await sql`select vault.update_secret((select id from vault.secrets where name = ${name}),
                                       ${value})`;
}

/** Runs `fn` with a Vault secret changed, and always puts it back. */
export async function withVaultSecret<T>(
  sql: postgres.Sql,
  name: string,
  value: string,
  fn: () => Promise<T>,
): Promise<T> {
  const original = await vaultSecret(sql, name);
  await setVaultSecret(sql, name, value);
  try {
    return await fn();
  } finally {
    await setVaultSecret(sql, name, original);
  }
}

/** A second functions gateway, with this stack's function env plus `overrides`. */
export async function withGateway<T>(
  overrides: Record<string, string>,
  fn: (gateway: Gateway, logDir: string) => Promise<T>,
): Promise<T> {
  const logDir = await Deno.makeTempDir({ prefix: "second-gateway-" });
  const gateway = await startGateway({
    port: 0,
    functionsDir: `${stack.root}/supabase/functions`,
    configTomlPath: `${stack.root}/supabase/config.toml`,
    env: { ...(await functionsEnv(stack)), GUESTLY_SYNC_ENABLED: "true", ...overrides },
    jwtSecret: LOCAL_JWT_SECRET,
    quiet: true,
    logDir,
    requestWaitMs: 2_000,
  });
  try {
    return await fn(gateway, logDir);
  } finally {
    await gateway.close();
    await Deno.remove(logDir, { recursive: true }).catch(() => {});
  }
}
