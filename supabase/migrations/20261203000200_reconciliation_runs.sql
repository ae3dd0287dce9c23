-- The daily reconciliation (guestly-reconcile, `npm run sync:reconcile`) compares the bookings
-- that should be in Guestly with the reservations there. Each run and each drift it found is
-- recorded here, in a private schema written only through these functions, so `sync:status`,
-- the admin email and Studio all read the same result.

create schema guestly_reconcile;
revoke all on schema guestly_reconcile from public;
grant usage on schema guestly_reconcile to service_role;

create table guestly_reconcile.runs (
  id uuid primary key default gen_random_uuid(),
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  -- cron: the daily job (through guestly-reconcile); cli: `npm run sync:reconcile`.
  triggered_by text not null
    constraint runs_triggered_by_check check (triggered_by in ('cron', 'cli', 'function')),
  -- Whether safe drift was healed (--fix, the cron) or only reported.
  fix boolean not null,
  status text not null default 'running'
    constraint runs_status_check check (status in ('running', 'finished', 'failed')),
  reservations_seen int,
  bookings_checked int,
  -- Guestly requests the run used (pages and single reads), all at priority `background`.
  requests_used int,
  error text,
  -- The admin alert the run wrote (null: no drift, or not finished).
  alert_id uuid
);
create index runs_started_idx on guestly_reconcile.runs (started_at desc);

create table guestly_reconcile.drift_items (
  id bigserial primary key,
  run_id uuid not null references guestly_reconcile.runs (id) on delete cascade,
  kind text not null
    constraint drift_items_kind_check
    check (kind in ('missing_in_guestly', 'not_ours', 'status_differs', 'content_differs',
                    'duplicate', 'missed_webhook')),
  booking_id uuid references public.bookings (id) on delete set null,
  reservation_id text,
  -- What was compared (statuses, dates, the reason a reservation is not ours): never guest
  -- contact data.
  details jsonb not null default '{}'::jsonb
    constraint drift_items_details_check check (jsonb_typeof(details) = 'object'),
  -- healed: the fix was started (a sync episode, or the change applied); reported: left to an
  -- operator; heal_skipped: the booking changed since it was read (the next run looks again).
  action text not null
    constraint drift_items_action_check
    check (action in ('healed', 'reported', 'heal_skipped', 'heal_failed')),
  action_detail text,
  recorded_at timestamptz not null default now()
);
create index drift_items_run_idx on guestly_reconcile.drift_items (run_id);
create index drift_items_booking_idx on guestly_reconcile.drift_items (booking_id);

alter table guestly_reconcile.runs enable row level security;
alter table guestly_reconcile.drift_items enable row level security;
revoke all on guestly_reconcile.runs, guestly_reconcile.drift_items
  from public, anon, authenticated;
grant select on guestly_reconcile.runs, guestly_reconcile.drift_items to service_role;

-- Starts a run. Only one at a time: a second one (the cron while an operator runs it) would
-- double the requests and could heal the same booking twice. A run still `running` after an
-- hour died (the function was stopped) and no longer counts.
create function guestly_reconcile.begin_run(triggered_by text, fix boolean) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  running guestly_reconcile.runs;
  new_id uuid;
begin
  perform pg_advisory_xact_lock(hashtext('guestly_reconcile.begin_run'));
  update guestly_reconcile.runs r
     set status = 'failed', finished_at = now(), error = 'abandoned: no result within an hour'
   where r.status = 'running' and r.started_at < now() - interval '1 hour';
  select * into running from guestly_reconcile.runs r where r.status = 'running'
   order by r.started_at desc limit 1;
  if found then
    return jsonb_build_object('started', false, 'reason', 'already_running',
                              'run_id', running.id, 'started_at', running.started_at);
  end if;
  insert into guestly_reconcile.runs (triggered_by, fix)
  values (begin_run.triggered_by, begin_run.fix)
  returning id into new_id;
  return jsonb_build_object('started', true, 'run_id', new_id);
end;
$$;

-- What the run compares against Guestly: every booking that has (or should have) a
-- reservation. Only what the comparison needs: no guest contact data leaves the database.
create function guestly_reconcile.bookings_to_check() returns jsonb
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  select coalesce(jsonb_agg(jsonb_build_object(
    'id', b.id,
    'status', b.status,
    'reservation_id', b.guestly_reservation_id,
    'desired', guestly.desired_state(b) - 'guest',
    'synced', b.guestly_synced_state - 'guest',
    'synced_status', b.guestly_synced_status,
    'sync_status', b.guestly_sync_status,
    -- The sync is working on it (or will, soon): not drift, work in progress.
    'in_flight', coalesce(b.guestly_sync_lease_until > now(), false)
                 or b.guestly_sync_status = 'pending' or b.guestly_sync_lookup_needed,
    'updated_at', b.updated_at) order by b.created_at), '[]'::jsonb)
    from public.bookings b
   where b.guestly_reservation_id is not null or b.status = 'confirmed'
$$;

-- One drift item. Healing functions (next migration) record their own.
create function guestly_reconcile.record_item(
  run_id uuid,
  kind text,
  booking_id uuid,
  reservation_id text,
  details jsonb,
  action text,
  action_detail text default null
) returns bigint
  language sql
  security definer
  set search_path = ''
  as $$
  insert into guestly_reconcile.drift_items
    (run_id, kind, booking_id, reservation_id, details, action, action_detail)
  values (record_item.run_id, record_item.kind,
          -- A booking deleted meanwhile: the item stays, without the link.
          (select b.id from public.bookings b where b.id = record_item.booking_id),
          record_item.reservation_id, coalesce(record_item.details, '{}'::jsonb),
          record_item.action, record_item.action_detail)
  returning id
$$;

-- Ends a run. Returns {run_id, status, drift, alert_id}; the alert is written by the next
-- migration's version of this function (one concern per migration).
create function guestly_reconcile.finish_run(
  run_id uuid,
  reservations_seen int,
  bookings_checked int,
  requests_used int,
  error text default null
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  drift int;
begin
  update guestly_reconcile.runs r
     set finished_at = now(),
         status = case when finish_run.error is null then 'finished' else 'failed' end,
         reservations_seen = finish_run.reservations_seen,
         bookings_checked = finish_run.bookings_checked,
         requests_used = finish_run.requests_used,
         error = left(finish_run.error, 2000)
   where r.id = finish_run.run_id and r.status = 'running';
  if not found then
    raise exception 'no running reconciliation run %', finish_run.run_id
      using errcode = 'no_data_found';
  end if;
  select count(*) into drift from guestly_reconcile.drift_items d where d.run_id = finish_run.run_id;
  return jsonb_build_object('run_id', finish_run.run_id,
                            'status', case when finish_run.error is null then 'finished'
                                           else 'failed' end,
                            'drift', drift, 'alert_id', null);
end;
$$;

-- The latest run and its items, for sync:status and the CLI.
create function guestly_reconcile.run_result(run_id uuid default null) returns jsonb
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  select jsonb_build_object(
    'run', to_jsonb(r),
    'counts', (select coalesce(jsonb_object_agg(k.kind, k.n), '{}'::jsonb) from (
                 select d.kind, count(*) as n from guestly_reconcile.drift_items d
                  where d.run_id = r.id group by d.kind) k),
    'actions', (select coalesce(jsonb_object_agg(a.action, a.n), '{}'::jsonb) from (
                  select d.action, count(*) as n from guestly_reconcile.drift_items d
                   where d.run_id = r.id group by d.action) a),
    'items', (select coalesce(jsonb_agg(to_jsonb(d) - 'run_id' order by d.id), '[]'::jsonb)
                from (select * from guestly_reconcile.drift_items d
                       where d.run_id = r.id order by d.id limit 200) d))
    from guestly_reconcile.runs r
   where r.id = coalesce(run_result.run_id,
                         (select x.id from guestly_reconcile.runs x
                           order by x.started_at desc limit 1))
$$;

revoke all on all functions in schema guestly_reconcile from public, anon, authenticated;
grant execute on all functions in schema guestly_reconcile to service_role;
