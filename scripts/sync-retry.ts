// `npm run sync:retry -- <booking-id> [<booking-id> …] [--ignore-calendar]` and
// `npm run sync:retry -- --all-failed`:
// starts a new sync round for failed bookings through the guestly-sync Edge Function (the same
// path as the retry link and `select guestly_retry_sync(…)`), and prints each booking's result.
//
// Target: SUPABASE_URL + a key from the environment — SUPABASE_SECRET_KEY (sb_secret_…) or
// SUPABASE_SERVICE_ROLE_KEY (either kind: the legacy service_role JWT or a secret key); when
// the URL and both keys are absent, the local stack (with its secret key). `--all-failed` reads the list of failed bookings from Postgres
// (public.guestly_sync_failures) at SUPABASE_DB_URL (default: local stack, only when the other
// two are absent too).
//
// Exit codes: 0 every booking is synced (or had nothing to do); 1 usage error, malformed or
// unknown booking id, or the function could not be reached; 2 a retry ran but the booking is
// still not synced (failed again, deferred, or busy).
import { createClient } from "@supabase/supabase-js";
import postgres from "postgres";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const USAGE = `usage: npm run sync:retry -- <booking-id> [<booking-id> …] [--ignore-calendar]
       npm run sync:retry -- --all-failed

Starts a new Guestly sync round for each booking (even after the automatic retries gave up)
and waits for its result. Target: SUPABASE_URL with SUPABASE_SECRET_KEY (sb_secret_…) or
SUPABASE_SERVICE_ROLE_KEY (the legacy service_role JWT or a secret key), or the local stack
when none is set. --all-failed lists failed bookings from SUPABASE_DB_URL.
--ignore-calendar forces the reservation into Guestly although its dates are taken (a double
booking, on purpose): Guestly skips its availability check for this retry's create.`;

export type Args =
  | { kind: "ids"; bookingIds: string[]; ignoreCalendar: boolean }
  | { kind: "all_failed" }
  | { kind: "help" }
  | { kind: "error"; message: string };

export function parseArgs(argv: string[]): Args {
  if (argv.length === 0) return { kind: "error", message: "no booking id given" };
  if (argv.includes("--help") || argv.includes("-h")) return { kind: "help" };
  if (argv.includes("--all-failed")) {
    if (argv.includes("--ignore-calendar")) {
      return {
        kind: "error",
        message:
          "--ignore-calendar forces a double booking: name each booking id, never --all-failed",
      };
    }
    return argv.length === 1
      ? { kind: "all_failed" }
      : { kind: "error", message: "--all-failed takes no booking ids" };
  }
  const ignoreCalendar = argv.includes("--ignore-calendar");
  argv = argv.filter((a) => a !== "--ignore-calendar");
  if (argv.length === 0) return { kind: "error", message: "no booking id given" };
  const unknownFlag = argv.find((a) => a.startsWith("-"));
  if (unknownFlag) return { kind: "error", message: `unknown option ${unknownFlag}` };
  const bad = argv.find((a) => !UUID.test(a.trim()));
  if (bad !== undefined) {
    return {
      kind: "error",
      message:
        `"${bad}" is not a booking id (expected a UUID like 5eed0000-0000-4000-8000-000000000001)`,
    };
  }
  return {
    kind: "ids",
    bookingIds: [...new Set(argv.map((a) => a.trim().toLowerCase()))],
    ignoreCalendar,
  };
}

export interface Target {
  url: string;
  /** A secret key (sb_secret_…) or the legacy service_role JWT: guestly-sync takes either. */
  serviceRoleKey: string;
  /** Null when it cannot be known safely (a remote target without SUPABASE_DB_URL). */
  dbUrl: string | null;
  description: string;
}

/** Local defaults ONLY when the variables are absent: never a local key for a remote URL. */
export async function resolveTarget(env: Record<string, string | undefined>): Promise<Target> {
  const url = env.SUPABASE_URL;
  // SUPABASE_SECRET_KEY wins: a shell can keep the old service_role key while moving to it.
  const keyName = env.SUPABASE_SECRET_KEY
    ? "SUPABASE_SECRET_KEY"
    : env.SUPABASE_SERVICE_ROLE_KEY
    ? "SUPABASE_SERVICE_ROLE_KEY"
    : null;
  const key = keyName ? env[keyName]!.trim() : "";
  if (key.startsWith("sb_publishable_")) {
    throw new Error(
      `${keyName} holds a publishable key (sb_publishable_…): guestly-sync needs a secret key ` +
        "(sb_secret_…) or the service_role key",
    );
  }
  if (url && key) {
    return {
      url,
      serviceRoleKey: key,
      dbUrl: env.SUPABASE_DB_URL || null,
      description: `${url} (from SUPABASE_URL, key from ${keyName})`,
    };
  }
  if (url || key) {
    throw new Error(
      url
        ? "SUPABASE_URL is set but SUPABASE_SECRET_KEY / SUPABASE_SERVICE_ROLE_KEY is not: " +
          "set a key too, or neither to use the local stack"
        : `${keyName} is set but SUPABASE_URL is not: set both, or neither to use the local stack`,
    );
  }
  const { loadStackConfig } = await import("../local/stack/config.ts");
  const { stackApiKeys } = await import("../local/keys.ts");
  const stack = loadStackConfig();
  return {
    url: stack.apiUrl,
    serviceRoleKey: (await stackApiKeys(stack.stateDir)).secretKey,
    dbUrl: env.SUPABASE_DB_URL || stack.dbUrl,
    description: `${stack.apiUrl} (local stack: SUPABASE_URL and no key set)`,
  };
}

export interface RetryReport {
  line: string;
  /** 0 synced / nothing to do, 1 error, 2 still not synced. */
  code: 0 | 1 | 2;
}

/** Turns guestly-sync's answer into one line. `status` 0 = no HTTP answer at all. */
export function describeResult(bookingId: string, status: number, body: unknown): RetryReport {
  const b = (body ?? {}) as Record<string, unknown>;
  if (status === 404) {
    return { line: `✖ ${bookingId}: booking not found`, code: 1 };
  }
  if (status === 0) {
    return {
      line: `✖ ${bookingId}: could not reach guestly-sync: ${b.error ?? "no answer"}`,
      code: 1,
    };
  }
  if (status !== 200) {
    const why = typeof b.error === "string" ? b.error : typeof body === "string" ? body : "";
    return {
      line: `✖ ${bookingId}: guestly-sync answered HTTP ${status}${why ? `: ${why}` : ""}`,
      code: 1,
    };
  }
  switch (b.outcome) {
    case "synced":
      return {
        line: `✔ ${bookingId}: synced — Guestly reservation ${b.reservationId ?? "(none needed)"}` +
          ` (attempt ${b.attempts})`,
        code: 0,
      };
    case "failed":
      if (b.errorKind === "conflict") {
        return {
          line: `✖ ${bookingId}: double booking — ${b.error} (final: the double-booking alert ` +
            "was sent; refund, move the guest, or force it with --ignore-calendar)",
          code: 2,
        };
      }
      return {
        line: `✖ ${bookingId}: failed — ${b.error}${
          b.final ? " (final: a new admin alert was sent)" : " (will be retried automatically)"
        }`,
        code: 2,
      };
    case "deferred":
      return {
        line: `… ${bookingId}: deferred until ${b.until} (Guestly rate limit); the sweep continues`,
        code: 2,
      };
    case "skipped":
      if (b.reason === "already_synced") {
        return {
          line: `✔ ${bookingId}: already synced — nothing to do` +
            (b.reservationId ? ` (Guestly reservation ${b.reservationId})` : ""),
          code: 0,
        };
      }
      if (b.reason === "not_paid") {
        return { line: `• ${bookingId}: waiting for payment — nothing to sync`, code: 0 };
      }
      if (b.reason === "leased") {
        return {
          line: `… ${bookingId}: a sync is already running for it — see npm run sync:status`,
          code: 2,
        };
      }
      return { line: `… ${bookingId}: skipped — ${b.reason}`, code: 2 };
    default:
      return { line: `? ${bookingId}: unexpected answer ${JSON.stringify(body)}`, code: 1 };
  }
}

type Invoke = (bookingId: string) => Promise<{ status: number; body: unknown }>;

export function functionsInvoker(
  target: Target,
  options: { ignoreCalendar?: boolean } = {},
): Invoke {
  const supabase = createClient(target.url, target.serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false },
  });
  return async (bookingId) => {
    const { data, error } = await supabase.functions.invoke("guestly-sync", {
      body: {
        bookingId,
        manual: true,
        ...(options.ignoreCalendar ? { ignoreCalendar: true } : {}),
      },
    });
    if (!error) return { status: 200, body: data };
    const response = (error as { context?: unknown }).context;
    if (response instanceof Response) {
      const text = await response.text();
      try {
        return { status: response.status, body: JSON.parse(text) };
      } catch {
        return { status: response.status, body: text };
      }
    }
    return { status: 0, body: { error: error.message } };
  };
}

export async function listFailedBookings(dbUrl: string): Promise<string[]> {
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {}, prepare: false });
  try {
    const rows = await sql`
      select booking_id from public.guestly_sync_failures
       order by gave_up_at nulls last, booking_id`;
    return rows.map((r) => r.booking_id as string);
  } finally {
    await sql.end();
  }
}

export async function main(
  argv: string[],
  env: Record<string, string | undefined>,
  print: (line: string) => void = console.log,
  printError: (line: string) => void = console.error,
): Promise<number> {
  const args = parseArgs(argv);
  if (args.kind === "help") {
    print(USAGE);
    return 0;
  }
  if (args.kind === "error") {
    printError(`error: ${args.message}\n\n${USAGE}`);
    return 1;
  }
  let target: Target;
  try {
    target = await resolveTarget(env);
  } catch (error) {
    printError(`error: ${(error as Error).message}`);
    return 1;
  }
  print(`target: ${target.description}`);
  let ids: string[];
  if (args.kind === "all_failed") {
    if (!target.dbUrl) {
      printError(
        "error: --all-failed reads the failed bookings from Postgres: set SUPABASE_DB_URL",
      );
      return 1;
    }
    try {
      ids = await listFailedBookings(target.dbUrl);
    } catch (error) {
      printError(`error: could not list failed bookings: ${(error as Error).message}`);
      return 1;
    }
    print(`${ids.length} failed booking${ids.length === 1 ? "" : "s"}`);
    if (ids.length === 0) {
      print("nothing to do");
      return 0;
    }
  } else {
    ids = args.bookingIds;
  }
  const ignoreCalendar = args.kind === "ids" && args.ignoreCalendar;
  if (ignoreCalendar) {
    print("--ignore-calendar: Guestly will not check the dates (this forces a double booking)");
  }
  const invoke = functionsInvoker(target, { ignoreCalendar });
  let code = 0;
  for (const id of ids) {
    let report: RetryReport;
    try {
      const answer = await invoke(id);
      report = describeResult(id, answer.status, answer.body);
    } catch (error) {
      report = {
        line: `✖ ${id}: could not call guestly-sync: ${(error as Error).message}`,
        code: 1,
      };
    }
    print(report.line);
    code = report.code === 1 || code === 1 ? 1 : Math.max(code, report.code);
  }
  return code;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args, Deno.env.toObject()));
}
