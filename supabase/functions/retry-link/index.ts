// retry-link: the one-click retry in an admin alert email. verify_jwt = false (a browser sends
// no key); the signed, expiring, one-use token is the authentication.
import { database } from "../_shared/db.ts";
import { jsonLogger } from "../_shared/log.ts";
import { createRetryLinkHandler } from "../_shared/notifications/handlers.ts";
import { postgresRedeemRetryLink } from "../_shared/notifications/db.ts";

const dbUrl = Deno.env.get("SUPABASE_DB_URL");
if (!dbUrl) throw new Error("invalid configuration: SUPABASE_DB_URL is required");

Deno.serve(createRetryLinkHandler({
  secret: Deno.env.get("RETRY_LINK_SECRET") ?? "",
  now: Date.now,
  redeem: postgresRedeemRetryLink(database(dbUrl)),
  log: jsonLogger(undefined, { fn: "retry-link" }),
}));
