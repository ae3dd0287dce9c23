// Helpers for the tests of what comes back from Guestly (webhooks, reconciliation): the sandbox's
// admin API and a paid booking whose reservation Guestly holds, its own create's echo handled.
import assert from "node:assert/strict";
import type postgres from "postgres";
import { booking, insertBooking, stack, waitFor } from "./harness.ts";
import { deliver, newBooking, paid } from "./stripe_helpers.ts";

export async function sandboxJson<T>(path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(`${stack.sandboxUrl}${path}`, init);
  const text = await response.text();
  if (!response.ok) throw new Error(`${path} → ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

export function sandboxPost(path: string, body: unknown) {
  return sandboxJson<Record<string, unknown>>(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** A paid booking whose reservation (and payment) Guestly holds; returns its ids. */
export async function syncedBooking(
  sql: postgres.Sql,
): Promise<{ id: string; reservationId: string }> {
  const id = await insertBooking(sql, newBooking());
  assert.equal((await deliver(paid(id))).body.outcome, "confirmed");
  const row = await waitFor("the booking synced", async () => {
    const b = await booking(sql, id);
    return b.guestly_sync_status === "synced" && b.guestly_reservation_id ? b : null;
  }, 30_000);
  // The created.v2 echo of our own create has been dealt with (no change).
  await waitFor("the create's echo handled", async () => {
    const rows = await sql`
      select outcome from guestly_events.events where reservation_id = ${row.guestly_reservation_id}`;
    return rows.length > 0 && rows.every((r) => r.outcome !== null);
  });
  return { id, reservationId: row.guestly_reservation_id };
}
