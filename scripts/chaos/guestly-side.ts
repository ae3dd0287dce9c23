// The other side of the chaos run: what Guestly changes by itself. After the payments settled, a
// share of the synced stays is cancelled, moved or resized by the "host" in the sandbox while its
// webhooks are dropped, duplicated and reordered and its API fails again; then the
// reconciliation (`npm run sync:reconcile -- --fix`) must catch what no webhook brought, and
// every booking must end matching its Guestly reservation.
import type postgres from "postgres";
import type { StackConfig } from "../../local/stack/config.ts";
import { httpJson } from "./util.ts";

/** Webhook faults during the host changes (the sandbox's delivery model, local/guestly-sandbox). */
export const WEBHOOK_FAULTS = { dropRate: 0.2, duplicateRate: 0.2, reorderNext: 10 };

export type HostChange = "host-cancel" | "host-change-dates" | "host-change-guests";

export interface HostChanges {
  made: Record<HostChange, number>;
  refused: number;
  /** Bookings the host cancelled in Guestly: they end cancelled, not confirmed. */
  cancelled: string[];
}

/**
 * One host change on every `every`-th synced booking, in turn cancel / move / resize. Moves go
 * to far-off nights nobody else has (year 9000 on), keeping the stay's length.
 */
export async function hostChanges(
  config: StackConfig,
  sql: postgres.Sql,
  ids: string[],
  every = 7,
): Promise<HostChanges> {
  const rows = await sql<
    { id: string; reservation: string; nights: number; guests: number }[]
  >`
    select id, guestly_reservation_id as reservation, (check_out - check_in) as nights,
           guests_count as guests
      from public.bookings
     where id = any(${ids}::uuid[]) and status = 'confirmed' and guestly_sync_status = 'synced'
       and guestly_reservation_id is not null
     order by id`;
  const made: Record<HostChange, number> = {
    "host-cancel": 0,
    "host-change-dates": 0,
    "host-change-guests": 0,
  };
  let refused = 0;
  const cancelled: string[] = [];
  const kinds: HostChange[] = ["host-cancel", "host-change-dates", "host-change-guests"];
  for (const [i, row] of rows.entries()) {
    if (i % every !== 0) continue;
    const kind = kinds[(i / every) % 3];
    const checkIn = new Date(Date.UTC(9000, 0, 1) + i * 20 * 86_400_000);
    const body = kind === "host-change-dates"
      ? {
        checkIn: checkIn.toISOString().slice(0, 10),
        checkOut: new Date(checkIn.getTime() + row.nights * 86_400_000).toISOString().slice(0, 10),
      }
      : kind === "host-change-guests"
      ? { guestsCount: row.guests === 1 ? 2 : 1 }
      : { canceledBy: "host", cancellationReason: "chaos: the host cancelled" };
    const response = await fetch(
      `${config.sandboxUrl}/__sandbox/reservations/${row.reservation}/${kind}`,
      {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      },
    );
    await response.body?.cancel();
    if (!response.ok) {
      refused++;
      continue;
    }
    made[kind]++;
    if (kind === "host-cancel") cancelled.push(row.id);
  }
  return { made, refused, cancelled };
}

export async function webhookFaults(config: StackConfig, on: boolean) {
  await httpJson(`${config.sandboxUrl}/__sandbox/webhook-faults`, {
    method: on ? "POST" : "DELETE",
    ...(on ? { body: JSON.stringify(WEBHOOK_FAULTS) } : {}),
  });
}

export interface ReconcileOutcome {
  ok: boolean;
  summary: string;
}

/** `npm run sync:reconcile -- --fix` against the chaos stack (its env is this process's). */
export async function reconcileFix(repo: string): Promise<ReconcileOutcome> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${repo}/scripts/sync-reconcile.ts`,
      "--fix",
      "--settle-minutes",
      "0",
      "--json",
    ],
    cwd: repo,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const err = new TextDecoder().decode(out.stderr).trim();
  if (!out.success) {
    return { ok: false, summary: `exit ${out.code}: ${err.split("\n").slice(-3).join(" ")}` };
  }
  // The run's drift by kind and what was done about it, as sync:status shows them.
  const report = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    result: {
      run: { status: string; reservations_seen: number | null; requests_used: number | null };
      counts: Record<string, number>;
      actions: Record<string, number>;
    } | null;
  };
  const r = report.result;
  if (!r) return { ok: false, summary: "no reconciliation run recorded" };
  const list = (o: Record<string, number>) =>
    Object.entries(o).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  return {
    ok: r.run.status !== "failed",
    summary: `${r.run.status}: ${r.run.reservations_seen} reservations read with ` +
      `${r.run.requests_used} requests; drift: ${list(r.counts)}; done: ${list(r.actions)}`,
  };
}

/** Every booking against its Guestly reservation: status, dates, guests. */
export function mismatches(
  bookings: Array<{
    id: string;
    status: string;
    guestly_reservation_id: string | null;
    check_in: string;
    check_out: string;
    guests_count: number;
  }>,
  reservations: Array<{
    reservationId: string;
    status: string;
    checkInDateLocalized?: string;
    checkOutDateLocalized?: string;
    guestsCount?: number;
  }>,
): string[] {
  const byId = new Map(reservations.map((r) => [r.reservationId, r]));
  const wrong: string[] = [];
  for (const b of bookings) {
    if (!b.guestly_reservation_id) continue;
    const r = byId.get(b.guestly_reservation_id);
    const want = b.status === "confirmed" ? "confirmed" : "canceled";
    if (!r) {
      wrong.push(`${b.id}: reservation ${b.guestly_reservation_id} gone`);
    } else if (r.status !== want) {
      wrong.push(`${b.id}: ${b.status} but Guestly ${r.status}`);
    } else if (
      want === "confirmed" &&
      (r.checkInDateLocalized !== b.check_in || r.checkOutDateLocalized !== b.check_out ||
        r.guestsCount !== b.guests_count)
    ) {
      wrong.push(
        `${b.id}: ${b.check_in}…${b.check_out}/${b.guests_count} but Guestly ` +
          `${r.checkInDateLocalized}…${r.checkOutDateLocalized}/${r.guestsCount}`,
      );
    }
  }
  return wrong;
}
