// Shared helpers for integration tests against the running local stack (`npm run stack -- up`,
// or the private test stack `npm test` starts). Everything goes through real parts: Postgres,
// the trigger, pg_net, the functions gateway, the Guestly sandbox and the mail catcher.
import postgres from "postgres";
import { loadStackConfig } from "../../../local/stack/config.ts";
import { localKeys, stackApiKeys } from "../../../local/keys.ts";
import { nextStay } from "../../../local/stays.ts";

export { nextStay };

export const stack = loadStackConfig();
/** The legacy anon / service_role JWTs. */
export const keys = await localKeys();
/** This stack's random sb_publishable_ / sb_secret_ keys (the secret one is in Vault). */
export const apiKeys = await stackApiKeys(stack.stateDir);

export function connect(admin = false) {
  return postgres(admin ? stack.adminDbUrl : stack.dbUrl, { max: 4, onnotice: () => {} });
}

export const PROPERTY = {
  oceanView: "0b0e7f3a-0000-4000-8000-000000000001",
  pineCabin: "0b0e7f3a-0000-4000-8000-000000000002",
};

export interface NewBooking {
  firstName?: string;
  lastName?: string;
  email?: string;
  phone?: string | null;
  propertyId?: string;
  amount?: number;
  currency?: string;
  checkIn?: string;
  checkOut?: string;
}

/**
 * Inserts a booking waiting for payment; returns its id. Without dates it gets nights no other
 * booking of this process has (local/stays.ts): the Guestly sandbox refuses overlapping stays.
 */
export async function insertBooking(sql: postgres.Sql, b: NewBooking = {}): Promise<string> {
  const stay = b.checkIn && b.checkOut ? { checkIn: b.checkIn, checkOut: b.checkOut } : nextStay();
  const [row] = await sql`
    insert into public.bookings (property_id, guest_first_name, guest_last_name, guest_email,
      guest_phone, check_in, check_out, guests_count, amount_total, currency)
    values (${b.propertyId ?? PROPERTY.oceanView}, ${b.firstName ?? "Test"},
      ${b.lastName ?? "Guest"}, ${
    b.email ?? `guest-${crypto.randomUUID().slice(0, 8)}@example.com`
  },
      ${b.phone === undefined ? "+15555550100" : b.phone}, ${stay.checkIn},
      ${stay.checkOut}, 2, ${b.amount ?? 45000}, ${b.currency ?? "usd"})
    returning id`;
  return row.id as string;
}

export async function setStatus(sql: postgres.Sql, id: string, status: string) {
  await sql`update public.bookings set status = ${status} where id = ${id}`;
}

export async function booking(sql: postgres.Sql, id: string) {
  const [row] = await sql`select * from public.bookings where id = ${id}`;
  return row;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = 15_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

export const sandbox = {
  async reset() {
    await post(`${stack.sandboxUrl}/__sandbox/reset`, {});
  },
  async faults(faults: Record<string, unknown>) {
    await post(`${stack.sandboxUrl}/__sandbox/faults`, faults);
  },
  async reservations(): Promise<Array<Record<string, unknown>>> {
    return await getJson(`${stack.sandboxUrl}/__sandbox/reservations`);
  },
  /**
   * The booking's reservations: those carrying its reference, and those on its stay with our
   * source and its guest that carry none — the create cannot carry the reference (it is set
   * after it, and a hold gets it only once paid), so an unreferenced copy counts too.
   */
  async reservationsFor(bookingId: string) {
    const sql = connect();
    try {
      const [b] = await sql`
        select b.guest_email, p.guestly_listing_id, to_char(b.check_in, 'YYYY-MM-DD') as check_in,
               to_char(b.check_out, 'YYYY-MM-DD') as check_out
          from public.bookings b join public.properties p on p.id = b.property_id
         where b.id = ${bookingId}`;
      return (await this.reservations()).filter((r) => {
        const fields = (r.customFields as Array<{ value: string }> | undefined) ?? [];
        if (fields.some((f) => f.value === bookingId)) return true;
        return fields.length === 0 && b !== undefined && r.source === "website" &&
          r.listingId === b.guestly_listing_id && r.checkInDateLocalized === b.check_in &&
          r.checkOutDateLocalized === b.check_out &&
          (r.guest as { email?: string } | undefined)?.email === b.guest_email;
      });
    } finally {
      await sql.end();
    }
  },
  /** Makes Guestly reject (422) one guest email — only that one: other tests share the sandbox. */
  async rejectGuest(email: string, reject = true) {
    const current = await getJson<{ rejectGuestEmails?: string[] }>(
      `${stack.sandboxUrl}/__sandbox/faults`,
    );
    const list = new Set(current.rejectGuestEmails ?? []);
    if (reject) list.add(email);
    else list.delete(email);
    await this.faults({ rejectGuestEmails: [...list] });
  },
  async tokens(): Promise<{ minted: number; active: number }> {
    return await getJson(`${stack.sandboxUrl}/__sandbox/tokens`);
  },
};

export const mail = {
  async messages(): Promise<Array<Record<string, unknown>>> {
    return await getJson(`${stack.mailUrl}/__catcher/messages`);
  },
  async clear() {
    const response = await fetch(`${stack.mailUrl}/__catcher/messages`, { method: "DELETE" });
    await response.body?.cancel();
  },
  async down(down: boolean) {
    await post(`${stack.mailUrl}/__catcher/down`, { down });
  },
};

/** Calls a function through the gateway, as pg_net or an operator would. */
export async function invokeFunction(
  name: string,
  body: unknown,
  key: string | null = keys.serviceRoleKey,
  init: RequestInit = {},
): Promise<{ status: number; body: unknown; text: string }> {
  const response = await fetch(`${stack.functionsUrl}/${name}`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(key ? { Authorization: `Bearer ${key}` } : {}),
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch { /* keep text */ }
  return { status: response.status, body: parsed, text };
}

async function post(url: string, body: unknown) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${url} → ${response.status}: ${text}`);
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url} → ${response.status}`);
  return await response.json() as T;
}
