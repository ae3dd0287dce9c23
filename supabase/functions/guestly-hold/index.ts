// guestly-hold: the website asks, before sending the guest to Stripe, whether Guestly holds the
// nights of a booking it just inserted (docs/holds.md). Reads the hold's state; changes nothing.
import { database } from "../_shared/db.ts";
import { jsonLogger } from "../_shared/log.ts";
import { handlerOrConfigurationError } from "../_shared/http.ts";
import { serviceKeysFrom } from "../_shared/service-keys.ts";
import { createGuestlyHoldHandler, type HoldState } from "../_shared/guestly/hold-handler.ts";
import { parseEnv } from "../_shared/env.ts";
import { z } from "zod";

const HoldEnv = z.object({ SUPABASE_DB_URL: z.string().min(1, "SUPABASE_DB_URL is required") });
const log = jsonLogger(undefined, { fn: "guestly-hold" });

Deno.serve(handlerOrConfigurationError(() => {
  const env = Deno.env.toObject();
  const { SUPABASE_DB_URL: dbUrl } = parseEnv(HoldEnv, env);
  const serviceKeys = serviceKeysFrom(env);
  for (const problem of serviceKeys.problems) log.error("guestly.hold.misconfigured", { problem });
  const sql = database(dbUrl);
  return createGuestlyHoldHandler({
    serviceKeys,
    readState: async (bookingId) => {
      const [row] = await sql`select guestly.hold_state(${bookingId}::uuid) as state`;
      return row.state as HoldState;
    },
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: Date.now,
    log,
  });
}, (error) => log.error("guestly.hold.misconfigured", { error })));
