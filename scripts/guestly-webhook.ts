// `npm run guestly:webhook -- register <function-url> | secret | status [--json]`: Guestly's
// webhook subscription for guestly-webhook. `register` subscribes the URL to the v2 reservation
// events (or adds them to its subscription), `secret` prints the `supabase secrets set` line for
// the signing secret, `status` shows the subscription and what the ledger received.
//
// Guestly settings come from the same variables as guestly-sync (GUESTLY_BASE_URL,
// GUESTLY_TOKEN_URL, GUESTLY_CLIENT_ID, GUESTLY_CLIENT_SECRET); without GUESTLY_BASE_URL, the
// local stack's sandbox. The token comes from the database's shared cache (SUPABASE_DB_URL,
// default the local stack's): Guestly mints 5 a day, a script must not burn one per run.
import postgres from "postgres";
import { GuestlyClient } from "../supabase/functions/_shared/guestly/client.ts";
import {
  postgresRateLimiter,
  postgresTokenStore,
} from "../supabase/functions/_shared/guestly/db.ts";
import { GuestlyEnv, tokenUrlFor } from "../supabase/functions/_shared/guestly/config.ts";
import {
  planRegistration,
  type WebhookSubscription,
} from "../supabase/functions/_shared/guestly-webhook/subscriptions.ts";
import { APPLIED_EVENT_TYPES } from "../supabase/functions/_shared/guestly-webhook/event.ts";

const USAGE =
  "usage: npm run guestly:webhook -- register <function-url> | secret [<function-url>] | status [--json]";

interface Settings {
  env: GuestlyEnv;
  description: string;
}

/** The Guestly account and database to use; the local stack when nothing is set. */
export async function resolveSettings(
  env: Record<string, string | undefined>,
): Promise<Settings> {
  if (env.GUESTLY_BASE_URL) {
    if (!env.SUPABASE_DB_URL) {
      throw new Error(
        "GUESTLY_BASE_URL is set but SUPABASE_DB_URL is not: the token comes from the " +
          "project's shared cache (Guestly mints 5 tokens a day)",
      );
    }
    return {
      env: GuestlyEnv.parse(env),
      description: `${env.GUESTLY_BASE_URL} (from GUESTLY_BASE_URL)`,
    };
  }
  const { loadStackConfig } = await import("../local/stack/config.ts");
  const stack = loadStackConfig();
  return {
    env: GuestlyEnv.parse({
      ...env,
      GUESTLY_BASE_URL: `${stack.sandboxUrl}/v1`,
      GUESTLY_TOKEN_URL: `${stack.sandboxUrl}/oauth2/token`,
      GUESTLY_CLIENT_ID: env.GUESTLY_CLIENT_ID ?? stack.guestlyClientId,
      GUESTLY_CLIENT_SECRET: env.GUESTLY_CLIENT_SECRET ?? stack.guestlyClientSecret,
      SUPABASE_DB_URL: env.SUPABASE_DB_URL ?? stack.dbUrl,
    }),
    description: `the local stack's sandbox ${stack.sandboxUrl} (GUESTLY_BASE_URL not set)`,
  };
}

function client(env: GuestlyEnv, sql: postgres.Sql): GuestlyClient {
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  const unpooled = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  return new GuestlyClient({
    baseUrl: env.GUESTLY_BASE_URL.replace(/\/$/, ""),
    tokenUrl: tokenUrlFor(env),
    clientId: env.GUESTLY_CLIENT_ID,
    clientSecret: env.GUESTLY_CLIENT_SECRET,
  }, {
    fetch,
    fetchOnce: (input, init) => fetch(input, { ...init, client: unpooled }),
    tokens: postgresTokenStore(sql),
    limiter: postgresRateLimiter(sql, env.GUESTLY_RATE_LIMITS),
    maxSlotWaitMs: 30_000,
    now: Date.now,
    sleep,
    timeoutMs: env.GUESTLY_REQUEST_TIMEOUT_MS,
  });
}

function must<T>(what: string, a: { outcome: string; data?: T; error?: string }): T {
  if (a.outcome !== "success" || a.data === undefined) {
    throw new Error(`${what} failed: ${a.error ?? a.outcome}`);
  }
  return a.data;
}

export function formatSubscriptions(subs: WebhookSubscription[], url?: string): string[] {
  if (subs.length === 0) return ["no webhook subscriptions in Guestly"];
  return subs.map((s) => {
    const missing = APPLIED_EVENT_TYPES.filter((e) => !s.events.includes(e));
    const mark = url && s.url === url ? " (this function)" : "";
    return `${s._id}  ${s.url}${mark}\n    events: ${s.events.join(", ")}${
      missing.length ? `\n    missing for guestly-webhook: ${missing.join(", ")}` : ""
    }`;
  });
}

export interface LedgerSummary {
  outcome: string | null;
  count: number;
  last_received_at: Date | null;
}

export function formatLedger(rows: LedgerSummary[]): string[] {
  if (rows.length === 0) return ["ledger: no Guestly event received in the last 24 h"];
  return [
    "ledger (last 24 h):",
    ...rows.map((r) =>
      `  ${(r.outcome ?? "waiting to be applied").padEnd(22)} ${String(r.count).padStart(6)}  ` +
      `last ${r.last_received_at?.toISOString() ?? "-"}`
    ),
  ];
}

/** The URL of the account's one subscription to a guestly-webhook function, if there is one. */
export function subscribedFunctionUrl(subs: { url: string }[]): string | null {
  const ours = subs.filter((s) => /\/guestly-webhook\/?$/.test(s.url));
  return ours.length === 1 ? ours[0].url : null;
}

export async function main(args: string[], env: Record<string, string | undefined>) {
  const [command, arg] = args.filter((a) => a !== "--json");
  const asJson = args.includes("--json");
  if (!["register", "secret", "status"].includes(command ?? "")) {
    console.error(USAGE);
    return 2;
  }
  if (command === "register" && !arg) {
    console.error(
      "register needs the function's URL: https://<project>.supabase.co/functions/v1/guestly-webhook",
    );
    return 2;
  }
  if (command === "register" && !/^https?:\/\//.test(arg)) {
    console.error(`not a URL: ${arg}`);
    return 2;
  }
  const settings = await resolveSettings(env);
  const sql = postgres(settings.env.SUPABASE_DB_URL, { max: 2, onnotice: () => {} });
  try {
    const guestly = client(settings.env, sql);
    if (command === "secret") {
      // Guesty's secret is per subscription URL (the definition requires `url`): the one given,
      // or the account's only subscription to our function.
      const url = arg ??
        subscribedFunctionUrl(must("listing webhooks", await guestly.listWebhooks()));
      if (!url) {
        console.error(
          "no single guestly-webhook subscription: pass its URL: secret <function-url>",
        );
        return 2;
      }
      const { secret } = must("reading the signing secret", await guestly.webhookSecret(url));
      // The point of this command is to print it: it goes straight into the function's secrets.
      console.log(`supabase secrets set GUESTLY_WEBHOOK_SECRET=${secret}`);
      return 0;
    }
    const subs = must("listing webhooks", await guestly.listWebhooks());
    if (command === "register") {
      const plan = planRegistration(subs, arg);
      if (plan.action === "none") {
        console.log(`already subscribed (${plan.id}): ${arg}`);
      } else if (plan.action === "create") {
        const created = must("subscribing", await guestly.createWebhook(plan));
        console.log(`subscribed ${created._id}: ${arg} → ${created.events.join(", ")}`);
      } else {
        const updated = must(
          "updating the subscription",
          await guestly.updateWebhook(plan.id, plan),
        );
        console.log(`subscription ${updated._id} now has ${updated.events.join(", ")}`);
      }
      console.log("next: npm run guestly:webhook -- secret (and set what it prints)");
      return 0;
    }
    const ledger = await sql<LedgerSummary[]>`
      select outcome, count(*)::int as count, max(received_at) as last_received_at
        from guestly_events.events where received_at > now() - interval '24 hours'
       group by outcome order by outcome nulls first`;
    if (asJson) {
      console.log(JSON.stringify({ guestly: settings.description, subscriptions: subs, ledger }));
    } else {
      console.log(`Guestly: ${settings.description}`);
      for (const line of formatSubscriptions(subs)) console.log(line);
      for (const line of formatLedger(ledger)) console.log(line);
    }
    return 0;
  } finally {
    await sql.end();
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args, Deno.env.toObject()));
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(1);
  }
}
