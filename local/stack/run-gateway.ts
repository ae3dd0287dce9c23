// Entry point of the gateway service started by the local stack.
import { startGateway } from "../gateway/server.ts";
import { wallClockLimitFrom } from "../gateway/platform.ts";
import { REPO_ROOT } from "./config.ts";
import { serviceEnv } from "./services.ts";
import { LOCAL_JWT_SECRET } from "../keys.ts";

const env = serviceEnv();
// The gateway's own settings; everything else is the functions' environment.
const { SUPABASE_API_PORT, LOCAL_STACK_DIR, FUNCTIONS_WALL_CLOCK_LIMIT_MS, ...functionEnv } = env;
const gateway = await startGateway({
  port: Number(SUPABASE_API_PORT ?? 54321),
  functionsDir: `${REPO_ROOT}/supabase/functions`,
  configTomlPath: `${REPO_ROOT}/supabase/config.toml`,
  env: functionEnv,
  jwtSecret: Deno.env.get("SUPABASE_JWT_SECRET") ?? LOCAL_JWT_SECRET,
  logDir: `${LOCAL_STACK_DIR ?? `${REPO_ROOT}/.local`}/logs`,
  wallClockLimitMs: wallClockLimitFrom(FUNCTIONS_WALL_CLOCK_LIMIT_MS),
});
console.log(JSON.stringify({ event: "gateway.started", url: gateway.url }));
const shutdown = async () => {
  await gateway.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", shutdown);
Deno.addSignalListener("SIGINT", shutdown);
