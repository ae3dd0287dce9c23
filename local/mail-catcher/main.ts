/** Entry point: `deno run -A local/mail-catcher/main.ts` (env MAIL_CATCHER_PORT, default 54324). */
import { startMailCatcher } from "./server.ts";

const port = Number(Deno.env.get("MAIL_CATCHER_PORT") ?? "54324");
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(
    `MAIL_CATCHER_PORT must be a port number, got ${Deno.env.get("MAIL_CATCHER_PORT")}`,
  );
  Deno.exit(2);
}
const hostname = Deno.env.get("MAIL_CATCHER_HOSTNAME") ?? "127.0.0.1";
const catcher = await startMailCatcher({ port, hostname });

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    catcher.close().finally(() => Deno.exit(0));
  });
}
