// The return path's part of `npm run sync:status`: what Guestly changed on our bookings (from
// public.guestly_changes_from_guestly), and events recorded but not applied yet (the sweep
// retries them; their last error says why). Formatting is a pure function.
import type postgres from "postgres";

export interface GuestlyChange {
  received_at: Date;
  event_type: string;
  reservation_id: string | null;
  outcome: string | null;
  reason: string | null;
  booking_id: string | null;
  changes: Record<string, [unknown, unknown]> | null;
  apply_attempts: number;
  last_error: string | null;
  /** `reconciliation`: found by the reconciliation, its webhook never arrived. */
  origin?: string;
}

export interface GuestlyChanges {
  /** Counts of the last 24 h by outcome ("waiting" for not applied yet). */
  counts: Record<string, number>;
  /** The latest applied changes. */
  applied: GuestlyChange[];
  /** Recorded, not applied yet. */
  waiting: GuestlyChange[];
}

export const CHANGES_SHOWN = 10;

export async function readGuestlyChanges(sql: postgres.Sql): Promise<GuestlyChanges> {
  const counts = await sql<{ outcome: string | null; n: number }[]>`
    select outcome, count(*)::int as n from public.guestly_changes_from_guestly
     where received_at > now() - interval '24 hours' group by outcome`;
  const applied = await sql<GuestlyChange[]>`
    select * from public.guestly_changes_from_guestly where outcome = 'applied'
     order by applied_at desc limit ${CHANGES_SHOWN}`;
  const waiting = await sql<GuestlyChange[]>`
    select * from public.guestly_changes_from_guestly where outcome is null
     order by received_at limit ${CHANGES_SHOWN}`;
  return {
    counts: Object.fromEntries(counts.map((c) => [c.outcome ?? "waiting", c.n])),
    applied: [...applied],
    waiting: [...waiting],
  };
}

function describe(changes: GuestlyChange["changes"]): string {
  return Object.entries(changes ?? {}).map(([k, [from, to]]) =>
    `${k} ${from instanceof Date ? from.toISOString().slice(0, 10) : from} → ${
      to instanceof Date ? to.toISOString().slice(0, 10) : to
    }`
  ).join(", ") || "(nothing)";
}

export function formatGuestlyChanges(c: GuestlyChanges): string {
  const order = ["applied", "no_change", "stale", "ignored", "waiting"];
  const counts = order.map((k) => `${k} ${c.counts[k] ?? 0}`).join(" · ");
  const out = ["Changes from Guestly (webhooks, last 24 h)", `  ${counts}`];
  if (c.waiting.length) {
    out.push(`  not applied yet (${c.waiting.length}; the sweep retries every minute):`);
    for (const w of c.waiting) {
      out.push(
        `    ${w.received_at.toISOString()}  ${w.event_type} reservation ${
          w.reservation_id ?? "-"
        }` +
          ` · ${w.apply_attempts} attempt(s) · ${w.last_error ?? "not tried yet"}`,
      );
    }
  }
  if (c.applied.length) out.push("  latest applied:");
  for (const a of c.applied) {
    const found = a.origin === "reconciliation"
      ? " (webhook lost: found by the reconciliation)"
      : "";
    out.push(`    booking ${a.booking_id ?? "-"}: ${describe(a.changes)}${found}`);
  }
  return out.join("\n");
}
