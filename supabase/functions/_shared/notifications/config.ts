// Settings of notify-admin and retry-link, checked once at start. notify-admin keeps sending
// alerts whatever else is wrong with links (a weak link secret only drops the link); retry-link
// refuses to run at all with a secret someone could guess.
import { parseRecipients } from "./outbox.ts";
import { assertStrongSecrets, RETRY_LINK_SECRET_RULE, weakSecretProblems } from "../secrets.ts";

type Env = Record<string, string | undefined>;

export interface NotifyAdminConfig {
  /** Why no alert can be sent (answered 500 to every call), or null. */
  configError: string | null;
  to: string[];
  /** The secret to sign retry links with; "" when links must stay off. */
  retryLinkSecret: string;
  /** Why links are off although a secret is set, for the logs. */
  retryLinkProblem: string | null;
}

export function notifyAdminConfig(env: Env): NotifyAdminConfig {
  const to = parseRecipients(env.ADMIN_ALERT_EMAILS);
  const missing = [
    ["SUPABASE_DB_URL", env.SUPABASE_DB_URL],
    ["SUPABASE_URL", env.SUPABASE_URL],
    ["RESEND_API_KEY", env.RESEND_API_KEY],
    ["ALERT_FROM_EMAIL", env.ALERT_FROM_EMAIL],
    ["ADMIN_ALERT_EMAILS", to.length ? "set" : ""],
  ].filter(([, value]) => !value).map(([name]) => name);
  const weak = weakSecretProblems(env, [{
    name: "RESEND_API_KEY",
    howToFix: "create an API key in Resend (API Keys) and set it with `supabase secrets set`",
  }]);
  const linkProblems = weakSecretProblems(env, [RETRY_LINK_SECRET_RULE]);
  return {
    configError: missing.length
      ? `missing configuration: ${missing.join(", ")}`
      : weak.length
      ? `unsafe configuration: ${weak.join("; ")}`
      : null,
    to,
    retryLinkSecret: linkProblems.length ? "" : env.RETRY_LINK_SECRET ?? "",
    retryLinkProblem: linkProblems.length ? linkProblems.join("; ") : null,
  };
}

/** retry-link's settings; throws (and the function answers 500 with why) when unsafe. */
export function retryLinkConfig(env: Env): { dbUrl: string; secret: string; supabaseUrl: string } {
  if (!env.SUPABASE_DB_URL) throw new Error("invalid configuration: SUPABASE_DB_URL is required");
  // A guessable secret would let anyone forge retry links (each resets a retry episode and
  // spends Guestly's hourly quota).
  if (!env.RETRY_LINK_SECRET) {
    throw new Error(
      `invalid configuration: RETRY_LINK_SECRET is required: ${RETRY_LINK_SECRET_RULE.howToFix}`,
    );
  }
  assertStrongSecrets(env, [RETRY_LINK_SECRET_RULE]);
  return {
    dbUrl: env.SUPABASE_DB_URL,
    secret: env.RETRY_LINK_SECRET,
    supabaseUrl: (env.SUPABASE_URL ?? "").replace(/\/$/, ""),
  };
}
