// Settings of the guestly-sync function, read from the environment once and validated.
import { z } from "zod";
import { parseEnv } from "../env.ts";
import { DEFAULT_PAYMENT_DELAY_MS, DEFAULT_SETTLE_MS } from "./retry-policy.ts";

/** claim_sync's and confirm_lease's default lease_seconds (180), in ms. */
export const LEASE_MS = 180_000;
import { assertStrongSecrets } from "../secrets.ts";
import { HoldMinutes } from "./hold.ts";

const flag = z.enum(["true", "false", ""]).optional().transform((v) => v === "true");
const positiveInt = (fallback: number) =>
  z.string().optional().transform((v, ctx) => {
    if (v === undefined || v === "") return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) {
      ctx.addIssue({ code: "custom", message: "must be a positive integer" });
      return z.NEVER;
    }
    return n;
  });

export const GuestlyEnv = z.object({
  GUESTLY_SYNC_ENABLED: flag,
  GUESTLY_TEST_MODE: flag,
  GUESTLY_BASE_URL: z.string().url().default("https://open-api.guesty.com/v1"),
  GUESTLY_TOKEN_URL: z.string().url().optional(),
  GUESTLY_CLIENT_ID: z.string().default(""),
  GUESTLY_CLIENT_SECRET: z.string().default(""),
  GUESTLY_BOOKING_REF_FIELD_ID: z.string().min(1).default("website_booking_id"),
  GUESTLY_MAX_ATTEMPTS: positiveInt(12),
  GUESTLY_REQUEST_TIMEOUT_MS: positiveInt(10_000),
  GUESTLY_UNKNOWN_SETTLE_MS: positiveInt(DEFAULT_SETTLE_MS),
  GUESTLY_FUNCTION_BUDGET_MS: positiveInt(120_000),
  GUESTLY_PAYMENT_DELAY_MS: positiveInt(DEFAULT_PAYMENT_DELAY_MS),
  GUESTLY_RATE_LIMITS: z.string().default("14,115,4900").transform((v, ctx) => {
    const [perSecond, perMinute, perHour] = v.split(",").map((part) => Number(part.trim()));
    if (![perSecond, perMinute, perHour].every((n) => Number.isInteger(n) && n > 0)) {
      ctx.addIssue({ code: "custom", message: "must be three positive integers: per s,min,h" });
      return z.NEVER;
    }
    return { perSecond, perMinute, perHour };
  }),
  /** Minutes a Guestly hold blocks the nights while the guest pays; 0 = no holds. */
  GUESTLY_HOLD_MINUTES: HoldMinutes,
  SUPABASE_DB_URL: z.string().min(1, "SUPABASE_DB_URL is required"),
});
export type GuestlyEnv = z.infer<typeof GuestlyEnv>;

export function parseGuestlyEnv(env: Record<string, string | undefined>): GuestlyEnv {
  const config = parseEnv(GuestlyEnv, env);
  const fromGuestly = "use the client id and secret of your Guestly Open API application";
  assertStrongSecrets(env, [
    { name: "GUESTLY_CLIENT_ID", howToFix: fromGuestly },
    { name: "GUESTLY_CLIENT_SECRET", howToFix: fromGuestly },
  ]);
  const timeout = config.GUESTLY_REQUEST_TIMEOUT_MS;
  // A lookup sooner than the request timeout after an unknown create could miss a create that
  // is still running; a budget shorter than one request could never send anything.
  if (config.GUESTLY_UNKNOWN_SETTLE_MS <= timeout) {
    throw new Error(
      `invalid configuration: GUESTLY_UNKNOWN_SETTLE_MS (${config.GUESTLY_UNKNOWN_SETTLE_MS}) ` +
        `must be longer than GUESTLY_REQUEST_TIMEOUT_MS (${timeout})`,
    );
  }
  // The lease (180 s, renewed right before each change) must outlast the longest stretch an
  // invocation can go without renewing it, or a slow request could race the next claimant.
  if (config.GUESTLY_FUNCTION_BUDGET_MS + timeout >= LEASE_MS) {
    throw new Error(
      `invalid configuration: GUESTLY_FUNCTION_BUDGET_MS + GUESTLY_REQUEST_TIMEOUT_MS ` +
        `(${config.GUESTLY_FUNCTION_BUDGET_MS} + ${timeout}) must stay under the ${LEASE_MS} ms lease`,
    );
  }
  if (config.GUESTLY_FUNCTION_BUDGET_MS <= timeout) {
    throw new Error(
      `invalid configuration: GUESTLY_FUNCTION_BUDGET_MS (${config.GUESTLY_FUNCTION_BUDGET_MS}) ` +
        `must be longer than GUESTLY_REQUEST_TIMEOUT_MS (${timeout})`,
    );
  }
  if (config.GUESTLY_SYNC_ENABLED && !config.GUESTLY_TEST_MODE) {
    if (!config.GUESTLY_CLIENT_ID || !config.GUESTLY_CLIENT_SECRET) {
      throw new Error(
        "invalid configuration: GUESTLY_CLIENT_ID and GUESTLY_CLIENT_SECRET are required when sync is enabled",
      );
    }
  }
  return config;
}

/** Guesty serves the token endpoint beside /v1, not under it. */
export function tokenUrlFor(config: GuestlyEnv): string {
  return config.GUESTLY_TOKEN_URL ?? `${new URL(config.GUESTLY_BASE_URL).origin}/oauth2/token`;
}
