// Entry point of the baseline's own functions gateway (started by bench/webhook.ts as a detached
// service, like the stack's gateway): serves bench/baseline-webhook at
// /functions/v1/baseline-webhook with the same gateway code, so both webhooks pay the same hop.
import { startGateway } from "../local/gateway/server.ts";
import { serviceEnv } from "../local/stack/services.ts";
import { LOCAL_JWT_SECRET } from "../local/keys.ts";

const { BENCH_GATEWAY_PORT, BENCH_GATEWAY_TOML, BENCH_GATEWAY_LOG_DIR, ...functionEnv } =
  serviceEnv();
const gateway = await startGateway({
  port: Number(BENCH_GATEWAY_PORT),
  functionsDir: new URL(".", import.meta.url).pathname,
  configTomlPath: BENCH_GATEWAY_TOML,
  env: functionEnv,
  jwtSecret: LOCAL_JWT_SECRET,
  logDir: BENCH_GATEWAY_LOG_DIR,
});
console.log(JSON.stringify({ event: "baseline-gateway.started", url: gateway.url }));
const shutdown = async () => {
  await gateway.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", shutdown);
Deno.addSignalListener("SIGINT", shutdown);
