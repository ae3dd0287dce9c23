// Measurement 4: what the two sync triggers (tg_bookings__enqueue_guestly_sync on status,
// tg_bookings__enqueue_guestly_change on the columns Guestly holds) cost the writers of `bookings`.
// Each repetition is one transaction on a dedicated connection (as the superuser, who may
// disable the trigger): ALTER TABLE … ENABLE or DISABLE TRIGGER (both variants pay the same
// lock and cache invalidation, untimed), the timed UPDATE, ROLLBACK; VACUUM before each so every
// repetition starts from the same table. Enabled and disabled alternate (ABBA), medians compared.
import { median, progress, type Sql } from "./lib.ts";

export interface TriggerCase {
  name: string;
  rows: number;
  enabledMs: number[];
  disabledMs: number[];
  medianEnabledMs: number;
  medianDisabledMs: number;
  ratio: number;
  perRowUs: number;
}

export interface TriggerResult {
  tableRows: number;
  cases: TriggerCase[];
}

const TRIGGERS = ["tg_bookings__enqueue_guestly_sync", "tg_bookings__enqueue_guestly_change"];

export async function measureTriggerCost(
  admin: Sql,
  options: { rows: number; statusChangeRows: number; reps: number; statusReps: number },
): Promise<TriggerResult> {
  const [property] = await admin<{ id: string }[]>`
    insert into public.properties (name, guestly_listing_id)
    values ('bench trigger-cost property', '64f1a2b3c4d5e6f7a8b9c0d4') returning id`;
  progress(`trigger cost: inserting ${options.rows} bookings`);
  await admin`
    insert into public.bookings (property_id, guest_first_name, guest_last_name, guest_email,
      guest_phone, check_in, check_out, guests_count, amount_total, currency)
    select ${property.id}::uuid, 'Trigger', 'Cost ' || i, 'tc' || i || '@bench.example',
           '+15555550100', date '2027-01-01' + (i % 700), date '2027-01-01' + (i % 700) + 2,
           2, 30000, 'usd'
      from generate_series(1, ${options.rows}::int) as i`;
  const changeIds = (await admin<{ id: string }[]>`
    select id from public.bookings where property_id = ${property.id}::uuid
     order by id limit ${options.statusChangeRows}`).map((r) => r.id);
  await admin`vacuum analyze public.bookings`;
  const [{ total }] = await admin<{ total: number }[]>`
    select count(*)::int as total from public.bookings`;

  const conn = await admin.reserve();
  const once = async (enabled: boolean, statement: () => Promise<unknown>) => {
    await admin`vacuum public.bookings`;
    await conn`begin`;
    try {
      for (const trigger of TRIGGERS) {
        await conn.unsafe(
          `alter table public.bookings ${enabled ? "enable" : "disable"} trigger ${trigger}`,
        );
      }
      const started = performance.now();
      await statement();
      return performance.now() - started;
    } finally {
      await conn`rollback`;
    }
  };
  const compare = async (
    name: string,
    rows: number,
    reps: number,
    statement: () => Promise<unknown>,
  ): Promise<TriggerCase> => {
    progress(`trigger cost: ${name} (${reps}× enabled, ${reps}× disabled, interleaved)`);
    const enabledMs: number[] = [];
    const disabledMs: number[] = [];
    await once(true, statement); // warm-up, not counted
    for (let rep = 0; rep < reps; rep++) {
      const order = rep % 2 === 0 ? [true, false] : [false, true];
      for (const enabled of order) {
        (enabled ? enabledMs : disabledMs).push(await once(enabled, statement));
      }
    }
    const on = median(enabledMs);
    const off = median(disabledMs);
    return {
      name,
      rows,
      enabledMs,
      disabledMs,
      medianEnabledMs: on,
      medianDisabledMs: off,
      ratio: on / off,
      perRowUs: ((on - off) * 1000) / rows,
    };
  };

  try {
    const cases = [
      await compare(
        `UPDATE of ${
          options.rows.toLocaleString("en-US")
        } rows, SET of a column no sync trigger watches`,
        options.rows,
        options.reps,
        () =>
          conn`update public.bookings set stripe_payment_intent_id = stripe_payment_intent_id
                where property_id = ${property.id}::uuid`,
      ),
      await compare(
        `UPDATE of ${
          options.rows.toLocaleString("en-US")
        } rows, SET of columns Guestly holds, values unchanged`,
        options.rows,
        options.reps,
        () =>
          conn`update public.bookings set guests_count = guests_count, check_in = check_in,
                  guest_email = guest_email
                where property_id = ${property.id}::uuid`,
      ),
      await compare(
        `UPDATE of ${options.rows.toLocaleString("en-US")} rows, SET status = status (unchanged)`,
        options.rows,
        options.reps,
        () =>
          conn`update public.bookings set status = status, guests_count = guests_count
                where property_id = ${property.id}::uuid`,
      ),
      await compare(
        `${
          options.statusChangeRows.toLocaleString("en-US")
        } rows pending_payment → confirmed (each enqueues a pg_net request)`,
        options.statusChangeRows,
        options.statusReps,
        () =>
          conn`update public.bookings set status = 'confirmed'
                where id = any(${changeIds}::uuid[])`,
      ),
    ];
    return { tableRows: total, cases };
  } finally {
    conn.release();
  }
}
