// retry-link: the retry link in an admin alert email. verify_jwt = false (a browser sends no
// key); the signed, expiring, one-use token is the authentication. GET shows a confirmation
// page and changes nothing (mail scanners open links); only its button's POST starts the retry.
import { database } from "../_shared/db.ts";
import { jsonLogger } from "../_shared/log.ts";
import { createRetryLinkHandler } from "../_shared/notifications/handlers.ts";
import { postgresPreviewRetryLink, postgresRedeemRetryLink } from "../_shared/notifications/db.ts";
import { parseRetryLinkBase } from "../_shared/notifications/retry-token.ts";
import { handlerOrConfigurationError } from "../_shared/http.ts";
import { retryLinkConfig } from "../_shared/notifications/config.ts";

const log = jsonLogger(undefined, { fn: "retry-link" });

Deno.serve(handlerOrConfigurationError(() => {
  const env = Deno.env.toObject();
  const { dbUrl, secret, supabaseUrl } = retryLinkConfig(env);
  // A bad RETRY_LINK_BASE_URL only means no website page may call this function from a browser.
  const linkBase = parseRetryLinkBase(env.RETRY_LINK_BASE_URL);
  if (!linkBase.ok) log.error("retry_link.misconfigured", { error: linkBase.error });
  const sql = database(dbUrl);
  return createRetryLinkHandler({
    secret,
    now: Date.now,
    redeem: postgresRedeemRetryLink(sql),
    preview: postgresPreviewRetryLink(sql),
    functionUrl: `${supabaseUrl}/functions/v1/retry-link`,
    allowedOrigins: linkBase.ok && linkBase.base ? [linkBase.base.origin] : [],
    log,
  });
}, (error) => log.error("retry_link.misconfigured", { error })));
