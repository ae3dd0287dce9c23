// `npm start`: brings the local stack up (reusing what runs), turns the sync on against the
// Guestly sandbox, runs the demo, prints the URLs, and keeps serving until Ctrl-C.
import { describeStack, exitOnStartProblem, stackDown, stackUp } from "../stack/stack.ts";
import { runDemo } from "../../scripts/demo.ts";

if (Deno.env.get("GUESTLY_SYNC_ENABLED") === undefined) {
  Deno.env.set("GUESTLY_SYNC_ENABLED", "true");
}
// The demo shows a checkout protected by a hold (production's default stays 0 = off).
if (Deno.env.get("GUESTLY_HOLD_MINUTES") === undefined) {
  Deno.env.set("GUESTLY_HOLD_MINUTES", "10");
}
console.log(
  "starting the local stack (PostgreSQL 15, pg_net, pg_cron, functions, Guestly sandbox, mail) …",
);
const config = await stackUp().catch(exitOnStartProblem);
console.log(`\n${await describeStack(config)}`);

const result = await runDemo(config);

console.log(`
Webhook            ${config.functionsUrl}/stripe-webhook
Guestly inspector  ${config.sandboxUrl}/__sandbox/
Mail inbox         ${config.mailUrl}/
Status             npm run sync:status      Retry   npm run sync:retry -- <booking-id>

The stack keeps serving; press Ctrl-C to stop it (or run \`npm stop\` from another terminal).`);
if (!result.ok) console.log("(the demo did not end as expected: see above)");

await new Promise<void>((resolve) => {
  Deno.addSignalListener("SIGINT", resolve);
  Deno.addSignalListener("SIGTERM", resolve);
});
console.log("\nstopping …");
await stackDown();
Deno.exit(0);
