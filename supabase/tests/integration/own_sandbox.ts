// A private Guestly sandbox per test with the sync core wired to it and to the real database
// (claim/record SQL functions), so fault injection never disturbs anything else on the stack.
// Bookings are written with the trigger's pg_net call dropped in the same transaction, so only
// the code under test talks to Guestly.
import { connect, nextStay, PROPERTY } from "./harness.ts";
import { startGuestlySandbox } from "../../../local/guestly-sandbox/server.ts";
import { postgresSyncStore, postgresTokenStore } from "../../functions/_shared/guestly/db.ts";
import { GuestlyClient } from "../../functions/_shared/guestly/client.ts";
import type { SyncDeps } from "../../functions/_shared/guestly/sync.ts";
import { memoryLogger } from "../../functions/_shared/log.ts";

export type Sandbox = Awaited<ReturnType<typeof startGuestlySandbox>>;

/** Client timeout 1.5 s; an unknown create is looked up 4 s later (production: 10 s and 60 s). */
export const TIMEOUT_MS = 1500;
export const SETTLE_MS = 4000;
// Creates on connections of their own, as the guestly-sync entry point sends them.
const unpooled = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
const fetchOnce: typeof fetch = (input, init) => fetch(input, { ...init, client: unpooled });
export const waitForSettle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS + 100));

export async function withSandbox(
  test: (ctx: {
    sandbox: Sandbox;
    sql: ReturnType<typeof connect>;
    deps: SyncDeps;
    sleeps: number[];
    faults: (f: Record<string, unknown>) => Promise<void>;
    reservations: () => Promise<Array<Record<string, unknown>>>;
  }) => Promise<void>,
) {
  const sql = connect();
  // Each test gets its own client id so the shared token table cannot hand it another sandbox's token.
  const clientId = `it-${crypto.randomUUID()}`;
  const own = await startGuestlySandbox({
    port: 0,
    quiet: true,
    clients: { [clientId]: "secret" },
  });
  const sleeps: number[] = [];
  const deps: SyncDeps = {
    store: postgresSyncStore(sql),
    guestly: new GuestlyClient(
      {
        baseUrl: `${own.url}/v1`,
        tokenUrl: `${own.url}/oauth2/token`,
        clientId,
        clientSecret: "secret",
      },
      {
        fetch,
        fetchOnce,
        tokens: postgresTokenStore(sql),
        limiter: { reserve: () => Promise.resolve(new Date()) },
        maxSlotWaitMs: 100_000,
        now: Date.now,
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        timeoutMs: TIMEOUT_MS,
      },
    ),
    settings: {
      enabled: true,
      testMode: false,
      maxAttempts: 12,
      bookingRefFieldId: "website_booking_id",
      settleMs: SETTLE_MS,
      budgetMs: 120_000,
    },
    log: memoryLogger(),
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    random: () => 0,
  };
  const faults = async (f: Record<string, unknown>) => {
    const response = await fetch(`${own.url}/__sandbox/faults`, {
      method: "POST",
      body: JSON.stringify(f),
    });
    await response.body?.cancel();
  };
  const reservations = async () => await (await fetch(`${own.url}/__sandbox/reservations`)).json();
  try {
    await test({ sandbox: own, sql, deps, sleeps, faults, reservations });
  } finally {
    await sql`delete from guestly.api_tokens where client_id = ${clientId}`;
    await sql.end();
    await own.close();
  }
}

export async function insertConfirmed(
  sql: ReturnType<typeof connect>,
  extra: Record<string, unknown> = {},
) {
  const stay = nextStay(2);
  return await sql.begin(async (tx) => {
    const [row] = await tx`
      insert into public.bookings (property_id, guest_first_name, guest_last_name, guest_email,
        guest_phone, check_in, check_out, guests_count, amount_total, currency, status)
      values (${(extra.propertyId as string) ?? PROPERTY.oceanView},
        ${(extra.firstName as string) ?? "Core"},
        ${(extra.lastName as string) ?? "Test"},
        ${(extra.email as string) ?? `core-${crypto.randomUUID().slice(0, 8)}@example.com`},
        ${(extra.phone as string) ?? null},
        ${stay.checkIn}, ${stay.checkOut}, 2, 30000, 'usd', 'confirmed')
      returning id`;
    const dropped = await tx`delete from net.http_request_queue
                              where convert_from(body, 'UTF8') like ${"%" + row.id + "%"}`;
    if (dropped.count !== 1) throw new Error("the insert trigger should have queued one call");
    return row.id as string;
  });
}

/** An UPDATE of a booking whose pg_net call (to the stack's guestly-sync) is dropped at once. */
export async function updateQuietly(
  sql: ReturnType<typeof connect>,
  id: string,
  change: (tx: ReturnType<typeof connect>) => Promise<unknown>,
) {
  await sql.begin(async (tx) => {
    await change(tx as unknown as ReturnType<typeof connect>);
    await tx`delete from net.http_request_queue where convert_from(body, 'UTF8') like ${
      "%" + id + "%"
    }`;
  });
}
