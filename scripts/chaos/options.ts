// Arguments and environment of the chaos run. Nothing here reads the stack config: the
// environment must be set before anything does (scripts/chaos.ts imports the stack afterwards).

export interface Options {
  bookings: number;
  json: boolean;
  doc: boolean;
  /** Webhook deliveries started per second. */
  rate: number;
  concurrency: number;
  settleMs: number;
  maxRunMs: number;
  /** Share (0..1) of creates that should meet a lying gateway (commit then 5xx/504, slow commit). */
  commitFaults: number;
  /** Creates arriving on a reused connection that are performed and then dropped
   * (default: one per 50 bookings). */
  dropReused: number;
  /** Seed for the sandbox's random source (a run's fault plan can be replayed); none = random. */
  seed: number | null;
}

const USAGE =
  "use --bookings N, --json, --no-doc, --rate N, --concurrency N, --settle-minutes N, " +
  "--commit-faults 0..1, --drop-reused N, --seed N";

export function parseArgs(args: string[]): Options {
  const options: Options = {
    bookings: 500,
    json: false,
    doc: true,
    rate: 5,
    concurrency: 8,
    settleMs: 8 * 60_000,
    maxRunMs: 15 * 60_000,
    commitFaults: 0.45,
    dropReused: -1,
    seed: null,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [name, inline] = arg.includes("=") ? arg.split("=", 2) : [arg, undefined];
    const number = (min: number, max = Infinity, minInclusive = false) => {
      const v = inline ?? args[++i];
      const n = Number(v);
      if (!Number.isFinite(n) || (minInclusive ? n < min : n <= min) || n > max) {
        throw new Error(
          `${name} needs a number ${minInclusive ? ">=" : ">"} ${min}${
            max < Infinity ? ` and <= ${max}` : ""
          }, got ${JSON.stringify(v)}`,
        );
      }
      return n;
    };
    switch (name) {
      case "--bookings":
        options.bookings = Math.floor(number(0));
        break;
      case "--rate":
        options.rate = number(0);
        break;
      case "--concurrency":
        options.concurrency = Math.floor(number(0));
        break;
      case "--settle-minutes":
        options.settleMs = number(0) * 60_000;
        break;
      case "--commit-faults":
        options.commitFaults = number(0, 0.6, true);
        break;
      case "--drop-reused":
        options.dropReused = Math.floor(number(0, Infinity, true));
        break;
      case "--seed":
        options.seed = Math.floor(number(0, 2 ** 32, true));
        break;
      case "--json":
        options.json = true;
        break;
      case "--no-doc":
        options.doc = false;
        break;
      default:
        throw new Error(`unknown argument ${arg}; ${USAGE}`);
    }
  }
  if (options.dropReused < 0) options.dropReused = Math.ceil(options.bookings / 50);
  return options;
}

const PORT_DEFAULTS: Record<string, string> = {
  SUPABASE_API_PORT: "26321",
  SUPABASE_DB_PORT: "26322",
  MAIL_CATCHER_PORT: "26324",
  GUESTLY_SANDBOX_PORT: "26330",
};

/**
 * Points the stack at the chaos stack's own state directory and ports and sets the env the
 * functions read. Returns the state directory (always `<repo>/.local/chaos-stack`: it is deleted
 * at the start, so it must never be a directory another stack lives in).
 */
export function prepareEnv(repo: string): string {
  const stateDir = `${repo}/.local/chaos-stack`;
  Deno.env.set("LOCAL_STACK_DIR", stateDir);
  for (const [key, value] of Object.entries(PORT_DEFAULTS)) {
    if (!Deno.env.get(key)) Deno.env.set(key, value);
  }
  Deno.env.set("GUESTLY_SYNC_ENABLED", "true");
  Deno.env.set("GUESTLY_TEST_MODE", "false");
  Deno.env.set("GUESTLY_REQUEST_TIMEOUT_MS", "2000");
  // Longer than the slowest commit the fault plan injects after our timeout (slowCommitMs is
  // 2.5 × the timeout), scaled down from production's 60 s so 500 bookings fit in minutes.
  if (!Deno.env.get("GUESTLY_UNKNOWN_SETTLE_MS")) Deno.env.set("GUESTLY_UNKNOWN_SETTLE_MS", "8000");
  // The sandbox at 4× Guesty's limits (60/s, 480/min, 20,000/h), our limiter with the same
  // headroom below them as in production (14/s, 115/min, 4,900/h against 15, 120, 5,000).
  if (!Deno.env.get("GUESTLY_SANDBOX_RATE_SCALE")) Deno.env.set("GUESTLY_SANDBOX_RATE_SCALE", "4");
  if (!Deno.env.get("GUESTLY_RATE_LIMITS")) Deno.env.set("GUESTLY_RATE_LIMITS", "56,460,19600");
  // Holds on (GUESTLY_HOLD_MINUTES=0 turns them off): every booking's hold is placed under the
  // same faults while the payments arrive, and the payment must confirm it exactly once.
  if (!Deno.env.get("GUESTLY_HOLD_MINUTES")) Deno.env.set("GUESTLY_HOLD_MINUTES", "10");
  return stateDir;
}
