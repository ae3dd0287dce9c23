// Measurement 5: the cron sweep's selection at 1,000,000 bookings. The rows are bulk-inserted
// with a realistic mix (mostly synced or never paid, so no next attempt time; a few thousand
// due), ANALYZEd, then the SELECT inside guestly.sweep_due_syncs — copied from the migration,
// FOR UPDATE SKIP LOCKED included, its variables as parameters like PL/pgSQL passes them — is
// timed in rolled-back transactions and EXPLAIN ANALYZEd (custom and generic plan).
import { median, percentile, progress, type Sql } from "./lib.ts";
import { reserveSlots } from "../local/stays.ts";

/** The selection of guestly.sweep_due_syncs (20261126000002_guestly_sync.sql), verbatim. */
export const SWEEP_SELECT = `select id from public.bookings
        where guestly_sync_next_attempt_at <= $1
          -- Only pending and retryable failed rows carry a next attempt time; a pending row
          -- (a new status to sync) is swept whatever its attempt count.
          and (guestly_sync_status = 'pending' or guestly_sync_attempts < $2)
        order by guestly_sync_next_attempt_at
        limit $3
        for update skip locked`;

export interface SweepResult {
  inserted: number;
  insertSeconds: number;
  tableRows: number;
  withNextAttempt: number;
  due: number;
  selected: number;
  reps: number;
  medianMs: number;
  p95Ms: number;
  maxMs: number;
  explainCustom: string;
  explainGeneric: string;
  usesDueIndex: boolean;
  fullSweepMedianMs: number;
}

const MIX_SQL = `
insert into public.bookings (property_id, guest_first_name, guest_last_name, guest_email,
  guest_phone, check_in, check_out, guests_count, amount_total, currency, status,
  stripe_payment_intent_id, created_at, updated_at, guestly_reservation_id, guestly_sync_status,
  guestly_sync_error, guestly_synced_at, guestly_sync_attempts, guestly_sync_next_attempt_at,
  guestly_synced_status, guestly_sync_gave_up_at, guestly_sync_pending_since)
select (array['0b0e7f3a-0000-4000-8000-000000000001', '0b0e7f3a-0000-4000-8000-000000000002',
              '0b0e7f3a-0000-4000-8000-000000000003']::uuid[])[1 + i % 3],
       'Bulk', 'Guest ' || i, 'bulk' || i || '@bench.example', '+15555550100',
       $3::date + i * 10, $3::date + i * 10 + 1 + (i % 7),
       1 + i % 4, 20000 + (i % 500) * 100, (array['usd', 'eur'])[1 + i % 2],
       case k.kind when 'unpaid' then 'pending_payment' when 'cancelled' then 'cancelled'
                   else 'confirmed' end,
       case when k.kind <> 'unpaid' then 'pi_bulk_' || i end,
       now() - make_interval(mins => i % 500000), now(),
       case when k.kind in ('synced', 'cancelled') then 'bulk' || i end,
       case when k.kind in ('synced', 'cancelled') then 'synced'
            when k.kind in ('due_failed', 'later_failed', 'final') then 'failed'
            else 'pending' end,
       case when k.kind in ('due_failed', 'later_failed', 'final')
            then 'Guestly HTTP 503: Service Unavailable' end,
       case when k.kind in ('synced', 'cancelled') then now() - interval '1 day' end,
       case k.kind when 'synced' then 1 when 'cancelled' then 2 when 'due_failed' then 4 + 4 * (i % 2)
                   when 'later_failed' then 4 when 'final' then 12 else 0 end,
       case k.kind when 'due_failed' then now() - make_interval(secs => 1 + i % 600)
                   when 'due_pending' then now() - make_interval(secs => 1 + i % 300)
                   when 'later_pending' then now() + make_interval(secs => 1 + i % 120)
                   when 'later_failed' then now() + make_interval(secs => 1 + i % 3600) end,
       case k.kind when 'synced' then 'confirmed' when 'cancelled' then 'cancelled' end,
       case when k.kind = 'final' then now() - interval '1 day' end,
       case when k.kind in ('due_pending', 'later_pending') then now() - interval '3 minutes' end
  from generate_series(1, $1::int) as i
  cross join lateral (select case when i <= $2::int * 2 / 3 then 'due_failed'
                                  when i <= $2::int then 'due_pending'
                                  when i <= $2::int + 1000 then 'later_pending'
                                  when i <= $2::int + 2000 then 'later_failed'
                                  when i <= $2::int + 7000 then 'final'
                                  when i <= $1::int * 25 / 100 then 'unpaid'
                                  when i <= $1::int * 85 / 100 then 'synced'
                                  else 'cancelled' end as kind) as k`;

export async function measureSweepQuery(
  admin: Sql,
  options: { rows: number; due: number; reps: number },
): Promise<SweepResult> {
  progress(`sweep query: bulk-inserting ${options.rows.toLocaleString("en-US")} bookings`);
  const started = performance.now();
  const loader = await admin.reserve();
  try {
    // A bulk load: triggers and FK checks off for this session (every column is set explicitly).
    await loader`set session_replication_role = replica`;
    // Nights of its own per row (local/stays.ts): the sweep may send some of them to the sandbox.
    await loader.unsafe(MIX_SQL, [options.rows, options.due, reserveSlots(options.rows + 1).first]);
    await loader`set session_replication_role = default`;
  } finally {
    loader.release();
  }
  const insertSeconds = (performance.now() - started) / 1000;
  progress(`sweep query: inserted in ${insertSeconds.toFixed(1)} s; ANALYZE`);
  await admin`analyze public.bookings`;
  const [counts] = await admin<{ total: number; with_next: number; due: number }[]>`
    select count(*)::int as total,
           count(guestly_sync_next_attempt_at)::int as with_next,
           count(*) filter (where guestly_sync_next_attempt_at <= now()
             and (guestly_sync_status = 'pending' or guestly_sync_attempts < 12))::int as due
      from public.bookings`;

  const conn = await admin.reserve();
  try {
    const times: number[] = [];
    let selected = 0;
    for (let rep = -3; rep < options.reps; rep++) {
      await conn`begin`;
      try {
        const t0 = performance.now();
        const rows = await conn.unsafe(SWEEP_SELECT, [new Date(), 12, 200], { prepare: true });
        const ms = performance.now() - t0;
        if (rep >= 0) times.push(ms);
        selected = rows.length;
      } finally {
        await conn`rollback`;
      }
    }
    const explain = async (generic: boolean) => {
      await conn`begin`;
      try {
        await conn.unsafe(`set local plan_cache_mode = ${generic ? "force_generic_plan" : "auto"}`);
        await conn.unsafe(`prepare bench_sweep(timestamptz, int, int) as ${SWEEP_SELECT}`);
        const rows = await conn.unsafe<{ "QUERY PLAN": string }[]>(
          "explain (analyze, buffers, costs off) execute bench_sweep(now(), 12, 200)",
        );
        return rows.map((r) => r["QUERY PLAN"]).join("\n");
      } finally {
        await conn`rollback`;
        await conn.unsafe("deallocate bench_sweep").catch(() => {});
      }
    };
    const explainCustom = await explain(false);
    const explainGeneric = await explain(true);

    // The whole cron tick for comparison: the same selection plus 200 pg_net enqueues.
    const full: number[] = [];
    for (let rep = 0; rep < 5; rep++) {
      await conn`begin`;
      try {
        const t0 = performance.now();
        await conn`select guestly.sweep_due_syncs()`;
        full.push(performance.now() - t0);
      } finally {
        await conn`rollback`;
      }
    }
    return {
      inserted: options.rows,
      insertSeconds,
      tableRows: counts.total,
      withNextAttempt: counts.with_next,
      due: counts.due,
      selected,
      reps: times.length,
      medianMs: median(times),
      p95Ms: percentile(times, 0.95),
      maxMs: Math.max(...times),
      explainCustom,
      explainGeneric,
      usesDueIndex: /bookings_guestly_sync_due_idx/.test(explainCustom) &&
        /bookings_guestly_sync_due_idx/.test(explainGeneric),
      fullSweepMedianMs: median(full),
    };
  } finally {
    conn.release();
  }
}
