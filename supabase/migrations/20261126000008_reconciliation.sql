-- Reconciliation: the private `guestly_reconcile` schema with its runs and drift items, the
-- bookings each run checks, healing (a missing reservation recreated, a stale one resent, a
-- change whose webhook never came applied, a lapsed hold forgotten) and finish_run with its
-- alert. Concern: noticing what every other path missed. Depends on 20261126000002,
-- 20261126000005, 20261126000006 and 20261126000007 (apply_guestly_change).

-- ---- Runs and drift items

-- The daily reconciliation (guestly-reconcile, `npm run sync:reconcile`) compares the bookings
-- that should be in Guestly with the reservations there. Each run and each drift it found is
-- recorded here, in a private schema written only through these functions, so `sync:status`,
-- the admin email and Studio all read the same result.

create schema guestly_reconcile;

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
  alert_id uuid,
  -- The run's own time limit inside guestly-reconcile (GUESTLY_RECONCILE_TIME_BUDGET_SECONDS);
  -- null: a run without one (`npm run sync:reconcile` in a process of its own). A run with one
  -- lives inside an Edge Function invocation, which the platform ends at its wall clock: see
  -- abandon_dead_runs.
  time_budget_seconds int
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

-- ---- A run that never finished

-- A run that died without recording its result (the platform's wall clock ended the function,
-- it ran out of memory, a deploy replaced it) stays `running` and would look like a day without
-- drift: it is marked failed and the admin gets one `reconciliation_abandoned` email. pg_cron
-- checks every 5 minutes, and begin_run before it starts a run (so a run noticed there alerts
-- too).
--
-- When is a run dead for sure? A run with a time budget runs inside a guestly-reconcile
-- invocation and begins after that invocation started; the platform ends every invocation at its
-- wall clock, 150 s on the free plan and 400 s on paid plans, whatever the budget says (the
-- budget is at most 390 s, and the run records itself before it). So 400 s after started_at
-- nobody can still be working for it; finish_run is one short transaction. 10 minutes is 400 s
-- with 200 s to spare (a slow last transaction, a cron tick): with the 5-minute check the admin
-- hears of it at most 15 minutes after the run began. A run without a budget (the CLI in a
-- process of its own) has no wall clock: it counts as dead after an hour, as before (at
-- Guesty's 5,000 requests an hour a run that long is far past any account we hold).
create function guestly_reconcile.abandon_dead_runs(as_of timestamptz default now())
  returns int
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  r guestly_reconcile.runs;
  new_alert uuid;
  alerted int := 0;
begin
  for r in
    update guestly_reconcile.runs x
       set status = 'failed',
           finished_at = abandon_dead_runs.as_of,
           error = case when x.time_budget_seconds is null
                        then 'abandoned: no result within an hour'
                        else 'abandoned: no result 10 minutes after it began (the platform ends '
                             || 'a function at its wall clock, 400 s at most): the function was '
                             || 'ended before it recorded one' end
     where x.status = 'running'
       and x.started_at < abandon_dead_runs.as_of
                          - case when x.time_budget_seconds is null then interval '1 hour'
                                 else interval '10 minutes' end
    returning x.*
  loop
    insert into guestly.admin_alerts (booking_id, kind, details)
    values (null, 'reconciliation_abandoned', jsonb_build_object(
      'run_id', r.id,
      'started_at', r.started_at,
      'abandoned_at', r.finished_at,
      'triggered_by', r.triggered_by,
      'fix', r.fix,
      'time_budget_seconds', r.time_budget_seconds,
      'error', r.error,
      -- Heals it made before it died were started (sync:status shows them); nothing after.
      'drift_recorded', (select count(*) from guestly_reconcile.drift_items d
                          where d.run_id = r.id),
      'healed', (select count(*) from guestly_reconcile.drift_items d
                  where d.run_id = r.id and d.action = 'healed')))
    on conflict ((details ->> 'run_id')) where kind = 'reconciliation_abandoned' do nothing
    returning id into new_alert;
    if new_alert is not null then
      update guestly_reconcile.runs x set alert_id = new_alert where x.id = r.id;
      alerted := alerted + 1;
    end if;
  end loop;
  if alerted > 0 then
    perform guestly.invoke_function('notify-admin', '{}'::jsonb);
  end if;
  return alerted;
end;
$$;

-- Starts a run. Only one at a time: a second one (the cron while an operator runs it) would
-- double the requests and could heal the same booking twice. A run that died no longer counts
-- (abandon_dead_runs, which also tells the admin). time_budget_seconds: the run's own limit
-- inside the function (null: none, the CLI's own process).
create function guestly_reconcile.begin_run(
  triggered_by text,
  fix boolean,
  time_budget_seconds int default null
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  running guestly_reconcile.runs;
  new_id uuid;
begin
  perform pg_advisory_xact_lock(hashtext('guestly_reconcile.begin_run'));
  perform guestly_reconcile.abandon_dead_runs(now());
  select * into running from guestly_reconcile.runs r where r.status = 'running'
   order by r.started_at desc limit 1;
  if found then
    return jsonb_build_object('started', false, 'reason', 'already_running',
                              'run_id', running.id, 'started_at', running.started_at);
  end if;
  insert into guestly_reconcile.runs (triggered_by, fix, time_budget_seconds)
  values (begin_run.triggered_by, begin_run.fix, begin_run.time_budget_seconds)
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
    -- The stays unanswered creates sent (the booking's stay may have moved since); no email.
    'create_keys', (select coalesce(jsonb_agg(k - 'guest_email'), '[]'::jsonb)
                      from jsonb_array_elements(b.guestly_create_keys) k),
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

-- ---- Healing

-- Healing what the reconciliation found, each in one transaction with its drift item. Nothing
-- here talks to Guestly: a booking is put back into a sync episode and the usual path (trigger →
-- pg_net → guestly-sync, the sweep as safety net) does the work, or a change Guestly made is
-- applied as its webhook would have been. Each function first checks that the booking is still
-- as the run saw it (same reservation, no sync in flight): otherwise nothing is done and the
-- item says so (the next run looks again).

-- The booking's live reservation is gone from Guestly (deleted; GET answered 404). The sync
-- must create it again — but exactly once: the reservation id is cleared and a lookup by our
-- booking reference is required first, so if any reservation of ours exists after all (one the
-- reconciliation could not see, a create still settling), the sync binds it instead of creating.
create function guestly_reconcile.heal_missing(
  run_id uuid,
  booking_id uuid,
  missing_reservation_id text,
  details jsonb default '{}'::jsonb
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  b public.bookings;
  skipped text;
  money jsonb;
begin
  select * into b from public.bookings x where x.id = heal_missing.booking_id for update;
  if not found then
    skipped := 'booking_not_found';
  elsif b.status <> 'confirmed' then
    skipped := 'booking_not_confirmed';
  elsif b.guestly_reservation_id is distinct from heal_missing.missing_reservation_id then
    skipped := 'reservation_changed';
  elsif coalesce(b.guestly_sync_lease_until > now(), false) then
    skipped := 'sync_in_flight';
  end if;
  if skipped is not null then
    perform guestly_reconcile.record_item(run_id, 'missing_in_guestly', booking_id,
                                          missing_reservation_id, details, 'heal_skipped', skipped);
    return jsonb_build_object('healed', false, 'reason', skipped);
  end if;
  b.guestly_reservation_id := null;
  b.guestly_sync_lookup_needed := true;
  -- Guestly holds nothing for it now: the create carries all of the booking.
  b.guestly_synced_state := null;
  b.guestly_synced_status := null;
  b := guestly.save_sync_episode(b);
  -- Clearing the id made the money recorded on the deleted reservation due again (the trigger
  -- tg_bookings__payments_follow_reservation, in this transaction): the item says so, so the
  -- email never calls a reservation healed whose payments Guestly does not show yet.
  money := guestly.money_to_record(b.id);
  perform guestly_reconcile.record_item(run_id, 'missing_in_guestly', booking_id,
    missing_reservation_id, details, 'healed',
    'sync episode started: lookup, then create' ||
    case when (money ->> 'payments')::int + (money ->> 'refunds')::int > 0
         then format('; its %s payment(s) and %s refund(s) are being recorded on the new '
                     'reservation (until then Guestly shows the stay unpaid)',
                     money ->> 'payments', money ->> 'refunds')
         else '' end);
  return jsonb_build_object('healed', true, 'money_to_record', money);
end;
$$;

-- Guestly holds an old status or old content while the sync believes it is done (a status
-- change or content change that Guestly missed): forget that Guestly has the status (when it
-- differs) and start an episode; the sync sends what the booking says. Setting a status or the
-- content is idempotent in Guestly, so this can never double anything.
create function guestly_reconcile.heal_resend(
  run_id uuid,
  kind text,
  booking_id uuid,
  reservation_id text,
  resend_status boolean,
  details jsonb default '{}'::jsonb
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  b public.bookings;
  skipped text;
begin
  select * into b from public.bookings x where x.id = heal_resend.booking_id for update;
  if not found then
    skipped := 'booking_not_found';
  elsif b.status = 'pending_payment' then
    skipped := 'booking_not_paid';
  elsif b.guestly_reservation_id is distinct from heal_resend.reservation_id then
    skipped := 'reservation_changed';
  elsif coalesce(b.guestly_sync_lease_until > now(), false) or b.guestly_sync_status = 'pending' then
    skipped := 'sync_in_flight';
  elsif not resend_status and not guestly.content_change_due(b) then
    -- What the run saw as ours to send was changed meanwhile (applied from Guestly).
    skipped := 'nothing_to_send';
  end if;
  if skipped is not null then
    perform guestly_reconcile.record_item(run_id, kind, booking_id, reservation_id, details,
                                          'heal_skipped', skipped);
    return jsonb_build_object('healed', false, 'reason', skipped);
  end if;
  if resend_status then
    b.guestly_synced_status := null;
  end if;
  perform guestly.save_sync_episode(b);
  perform guestly_reconcile.record_item(run_id, kind, booking_id, reservation_id, details,
                                        'healed', case when resend_status
                                                       then 'sync episode started: status re-sent'
                                                       else 'sync episode started: content re-sent' end);
  return jsonb_build_object('healed', true);
end;
$$;

-- ---- A missed change, applied only to the booking the run saw

-- A lost Guestly change is applied only to a booking still as the run saw it: same reservation,
-- no sync in flight, not changed since the run began (the run reads the bookings before paging
-- through Guestly, which takes minutes; a guest's change meanwhile is newer than Guestly's state
-- the run compared). The same checks heal_missing and heal_resend make.
create function guestly_reconcile.apply_missed_change(
  run_id uuid,
  reservation_id text,
  booking_ref uuid,
  guestly_updated_at timestamptz,
  stay jsonb,
  details jsonb default '{}'::jsonb
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  mid text := 'reconcile:' || apply_missed_change.run_id || ':' || apply_missed_change.reservation_id;
  result jsonb;
  action text;
  b public.bookings;
  run_started timestamptz;
  skipped text;
begin
  -- Still as the run saw it? The run read the bookings before paging through Guestly, minutes
  -- ago: a change made here since (the guest moved the stay, a sync in flight) is newer than what
  -- the run compared, and Guestly's older state must not overwrite it. The next run looks again.
  select r.started_at into run_started from guestly_reconcile.runs r
   where r.id = apply_missed_change.run_id;
  select * into b from public.bookings x where x.id = apply_missed_change.booking_ref for update;
  if found then
    if b.guestly_reservation_id is distinct from apply_missed_change.reservation_id then
      skipped := 'reservation_changed';
    elsif coalesce(b.guestly_sync_lease_until > now(), false) then
      skipped := 'sync_in_flight';
    elsif b.updated_at > run_started then
      skipped := 'booking_changed_since_the_run_read_it';
    end if;
  end if;
  if skipped is not null then
    perform guestly_reconcile.record_item(run_id, 'missed_webhook', booking_ref,
                                          apply_missed_change.reservation_id, details,
                                          'heal_skipped', skipped);
    return jsonb_build_object('healed', false, 'reason', skipped);
  end if;
  insert into guestly_events.events
    (message_id, event_type, event_id, reservation_id, published_at, sub_types, payload, origin)
  values (mid, 'reservation.updated.v2', null, apply_missed_change.reservation_id,
          coalesce(guestly_updated_at, now()), '{}',
          -- The shape of a v2 payload, so the sweep's re-apply (guestly-webhook) reads it the same.
          jsonb_build_object(
            'event', 'reservation.updated.v2',
            'reservationId', apply_missed_change.reservation_id,
            'origin', 'reconciliation',
            'runId', apply_missed_change.run_id,
            'reservation', jsonb_strip_nulls(jsonb_build_object(
              '_id', apply_missed_change.reservation_id,
              'status', stay ->> 'status',
              'checkInDateLocalized', stay ->> 'check_in',
              'checkOutDateLocalized', stay ->> 'check_out',
              'guestsCount', (stay ->> 'guests_count')::int,
              'canceledBy', stay ->> 'canceled_by'))),
          'reconciliation')
  on conflict on constraint events_pkey do nothing;
  result := guestly_events.apply_guestly_change(mid, booking_ref, stay);
  action := case when result ->> 'outcome' = 'applied' then 'healed'
                 when coalesce((result ->> 'deferred')::boolean, false) then 'heal_skipped'
                 else 'heal_skipped' end;
  perform guestly_reconcile.record_item(
    run_id, 'missed_webhook', booking_ref, apply_missed_change.reservation_id,
    details || jsonb_build_object('event', mid, 'outcome', result ->> 'outcome',
                                  'changes', result -> 'changes'),
    action,
    case when result ->> 'outcome' = 'applied' then 'applied as its webhook would have been'
         when coalesce((result ->> 'deferred')::boolean, false)
           then 'deferred: the sync has not recorded the reservation yet (the sweep applies it)'
         else coalesce(result ->> 'outcome', '?') || coalesce(': ' || (result ->> 'reason'), '') end);
  return result;
end;
$$;

-- ---- finish_run and its email

-- The reconciliation's admin email also goes out when a run failed, with or without drift: a
-- search Guestly refused, a run that found no send slot, or one stopped early would otherwise
-- look like a day without drift, and the daily check could be dead for weeks unnoticed.
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
  r guestly_reconcile.runs;
  drift int;
  new_alert uuid;
  summary jsonb;
begin
  update guestly_reconcile.runs x
     set finished_at = now(),
         status = case when finish_run.error is null then 'finished' else 'failed' end,
         reservations_seen = finish_run.reservations_seen,
         bookings_checked = finish_run.bookings_checked,
         requests_used = finish_run.requests_used,
         error = left(finish_run.error, 2000)
   where x.id = finish_run.run_id and x.status = 'running'
  returning * into r;
  if not found then
    raise exception 'no running reconciliation run %', finish_run.run_id
      using errcode = 'no_data_found';
  end if;
  select count(*) into drift from guestly_reconcile.drift_items d where d.run_id = r.id;
  -- A run that failed (Guestly refused the search, no send slot for its patience, stopped
  -- early) alerts too, drift or not: else a dead daily check looks like a quiet one.
  if drift > 0 or r.error is not null then
    summary := guestly_reconcile.run_result(r.id);
    insert into guestly.admin_alerts (booking_id, kind, details)
    values (null, 'reconciliation_drift', jsonb_build_object(
      'run_id', r.id,
      'started_at', r.started_at,
      'finished_at', r.finished_at,
      'fix', r.fix,
      'triggered_by', r.triggered_by,
      'run_status', r.status,
      'error', r.error,
      'reservations_seen', r.reservations_seen,
      'bookings_checked', r.bookings_checked,
      'requests_used', r.requests_used,
      'drift', drift,
      'counts', summary -> 'counts',
      'actions', summary -> 'actions',
      -- The email lists at most 50; sync:status and the table have them all.
      'items', (select coalesce(jsonb_agg(i.item), '[]'::jsonb) from (
                  select jsonb_build_object('kind', d.kind, 'booking_id', d.booking_id,
                                            'reservation_id', d.reservation_id,
                                            'action', d.action, 'action_detail', d.action_detail,
                                            'details', d.details) as item
                    from guestly_reconcile.drift_items d where d.run_id = r.id
                   order by d.action = 'healed', d.id limit 50) i)))
    returning id into new_alert;
    update guestly_reconcile.runs x set alert_id = new_alert where x.id = r.id;
    perform guestly.invoke_function('notify-admin', '{}'::jsonb);
  end if;
  return jsonb_build_object('run_id', r.id, 'status', r.status, 'drift', drift,
                            'alert_id', new_alert);
end;
$$;

-- ---- The daily run, requested by pg_cron

-- The daily reconciliation: pg_cron asks guestly-reconcile (through pg_net, like every other
-- function call from the database) to run and heal. The function answers at once and works in
-- the background, at Guestly priority `background`, so live syncs keep their share of the limits.
-- 03:17 UTC: a quiet hour for the website, and off the full hour other jobs like.
create function guestly_reconcile.request_run(fix boolean default true) returns bigint
  language sql
  security definer
  set search_path = ''
  as $$
  select guestly.invoke_function('guestly-reconcile',
                                 jsonb_build_object('fix', fix, 'triggeredBy', 'cron'))
$$;
