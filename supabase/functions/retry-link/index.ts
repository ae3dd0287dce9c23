// retry-link: the retry link in an admin alert email. verify_jwt = false (a browser sends no
// key); the signed, expiring, one-use token is the authentication. GET shows a confirmation
// page and changes nothing (mail scanners open links); only its button's POST starts the retry.
import { database } from "../_shared/db.ts";
import { jsonLogger } from "../_shared/log.ts";
import { createRetryLinkHandler } from "../_shared/notifications/handlers.ts";
import { postgresPreviewRetryLink, postgresRedeemRetryLink } from "../_shared/notifications/db.ts";
import { parseRetryLinkBase } from "../_shared/notifications/retry-token.ts";

const dbUrl = Deno.env.get("SUPABASE_DB_URL");
if (!dbUrl) throw new Error("invalid configuration: SUPABASE_DB_URL is required");
const log = jsonLogger(undefined, { fn: "retry-link" });
const supabaseUrl = (Deno.env.get("SUPABASE_URL") ?? "").replace(/\/$/, "");
// A bad RETRY_LINK_BASE_URL only means no website page may call this function from a browser.
const linkBase = parseRetryLinkBase(Deno.env.get("RETRY_LINK_BASE_URL"));
if (!linkBase.ok) log.error("retry_link.misconfigured", { error: linkBase.error });
const sql = database(dbUrl);

Deno.serve(createRetryLinkHandler({
  secret: Deno.env.get("RETRY_LINK_SECRET") ?? "",
  now: Date.now,
  redeem: postgresRedeemRetryLink(sql),
  preview: postgresPreviewRetryLink(sql),
  functionUrl: `${supabaseUrl}/functions/v1/retry-link`,
  allowedOrigins: linkBase.ok && linkBase.base ? [linkBase.base.origin] : [],
  log,
}));
