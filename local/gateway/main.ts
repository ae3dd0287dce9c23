/**
 * Entry point: `deno run -A local/gateway/main.ts` serves this repo's supabase/functions at
 * http://127.0.0.1:$SUPABASE_API_PORT/functions/v1/<name> (default port 54321).
 * Env read: SUPABASE_API_PORT, SUPABASE_URL, SUPABASE_DB_URL, SUPABASE_ANON_KEY,
 * SUPABASE_SERVICE_ROLE_KEY, SUPABASE_JWT_SECRET, GATEWAY_LOG_DIR.
 */
import { fileURLToPath } from "node:url";
import { localJwtSecret, localKeys } from "../keys.ts";
import { startGateway } from "./server.ts";

const repo = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
const port = Number(Deno.env.get("SUPABASE_API_PORT") ?? "54321");
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(
    `SUPABASE_API_PORT must be a port number, got ${Deno.env.get("SUPABASE_API_PORT")}`,
  );
  Deno.exit(2);
}

const jwtSecret = localJwtSecret();
const keys = await localKeys(jwtSecret);
const env: Record<string, string> = {
  SUPABASE_URL: Deno.env.get("SUPABASE_URL") ?? `http://127.0.0.1:${port}`,
  SUPABASE_DB_URL: Deno.env.get("SUPABASE_DB_URL") ??
    "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
  SUPABASE_ANON_KEY: Deno.env.get("SUPABASE_ANON_KEY") ?? keys.anonKey,
  SUPABASE_SERVICE_ROLE_KEY: Deno.env.get("SUPABASE_SERVICE_ROLE_KEY") ?? keys.serviceRoleKey,
};

const gateway = await startGateway({
  port,
  functionsDir: `${repo}/supabase/functions`,
  configTomlPath: `${repo}/supabase/config.toml`,
  envFile: `${repo}/supabase/functions/.env`,
  env,
  jwtSecret,
  logDir: Deno.env.get("GATEWAY_LOG_DIR") || undefined,
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    gateway.close().finally(() => Deno.exit(0));
  });
}
