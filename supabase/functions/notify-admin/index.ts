// notify-admin: woken by the database (pg_net, from record_failure, the Stripe webhook and the
// pg_cron sweep) to deliver every due admin alert by email through Resend.
import { Resend } from "resend";
import { database } from "../_shared/db.ts";
import { jsonLogger } from "../_shared/log.ts";
import { createNotifyAdminHandler } from "../_shared/notifications/handlers.ts";
import { postgresAlertStore } from "../_shared/notifications/db.ts";
import { deliverDueAlerts, resendMailer } from "../_shared/notifications/outbox.ts";
import { parseRetryLinkBase } from "../_shared/notifications/retry-token.ts";
import { notifyAdminConfig } from "../_shared/notifications/config.ts";
import { serviceKeysFrom } from "../_shared/service-keys.ts";

const env = Deno.env.toObject();
const log = jsonLogger(undefined, { fn: "notify-admin" });
const { configError, to, retryLinkSecret, retryLinkProblem } = notifyAdminConfig(env);
// A weak retry-link secret must not stop the alerts either: they go out without the link.
if (retryLinkProblem) log.error("admin_alert.misconfigured", { error: retryLinkProblem });
const serviceKeys = serviceKeysFrom(env);
for (const problem of serviceKeys.problems) log.error("admin_alert.misconfigured", { problem });
// A bad RETRY_LINK_BASE_URL must not stop the alerts: links then open the function itself.
const linkBase = parseRetryLinkBase(env.RETRY_LINK_BASE_URL);
if (!linkBase.ok) log.error("admin_alert.misconfigured", { error: linkBase.error });

Deno.serve(createNotifyAdminHandler({
  serviceKeys,
  configError,
  log,
  deliver: () =>
    deliverDueAlerts({
      store: postgresAlertStore(database(env.SUPABASE_DB_URL)),
      mailer: resendMailer(
        new Resend(env.RESEND_API_KEY, env.RESEND_BASE_URL ? { baseUrl: env.RESEND_BASE_URL } : {}),
      ),
      from: env.ALERT_FROM_EMAIL,
      to,
      supabaseUrl: env.SUPABASE_URL,
      retryLinkSecret,
      retryLinkBaseUrl: linkBase.ok ? linkBase.base?.url : null,
      log,
      // 50 × 0.55 s stays well inside the 150 s wall clock; the rest waits for the next wake-up.
      maxAlerts: 50,
      spacingMs: 550,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    }),
}));
