-- Date conflicts as their own outcome. A create Guestly refuses because the nights are taken
-- (an OTA reservation landed between the guest choosing dates and paying) is a `conflict`: the
-- booking stays confirmed (the guest paid), its sync is failed and final, never retried
-- automatically, and the admin gets the urgent `double_booking` alert. The operator may force
-- the reservation into Guestly anyway: a manual retry with ignore_calendar, stored on the booking
-- for that episode, makes the create send `ignoreCalendar: true`.

-- What kind of failure the last one was: conflict (dates taken), permanent (any other definite
-- refusal), transient (retried by the sweep). Null while nothing failed.
alter table public.bookings
  add column guestly_sync_error_kind text
    constraint bookings_guestly_sync_error_kind_check
    check (guestly_sync_error_kind in ('conflict', 'permanent', 'transient')),
  -- Set by a manual retry with ignore_calendar for its episode; cleared by the next manual retry
  -- without it and by a successful sync.
  add column guestly_ignore_calendar boolean not null default false;

-- A conflict attempt is logged as such (a definite answer, like `permanent`).
alter table guestly.sync_attempts
  drop constraint sync_attempts_outcome_check,
  add constraint sync_attempts_outcome_check
    check (outcome in ('success', 'retryable', 'permanent', 'unknown', 'conflict'));

insert into guestly.alert_kinds (kind, description) values
  ('double_booking', 'A paid booking''s dates are taken in Guestly (calendar conflict): refund, '
                     'move the guest, or force it with ignore_calendar.');

-- One more parameter: the failure's kind. A new signature, so the old one goes (two overloads
-- would make every call ambiguous).
drop function guestly.record_failure(uuid, uuid, text, boolean, int, int, timestamptz, jsonb);
create function guestly.record_failure(
  booking_id uuid,
  lease_id uuid,
  error text,
  permanent boolean,
  max_attempts int default 12,
  attempts_per_round int default 4,
  retry_not_before timestamptz default null,
  alert_details jsonb default '{}'::jsonb,
  error_kind text default null
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  b public.bookings;
  episode_attempts int;
  final boolean;
  round_number int;
  retry_at timestamptz;
  last_unknown_create boolean;
  kind text;
  conflict boolean;
  live boolean;
begin
  if record_failure.error_kind is not null
     and record_failure.error_kind not in ('conflict', 'permanent', 'transient') then
    raise exception 'error_kind must be conflict, permanent or transient, not %',
      record_failure.error_kind using errcode = 'invalid_parameter_value';
  end if;
  select * into b from public.bookings where id = record_failure.booking_id for update;
  if not found or b.guestly_sync_lease_id is distinct from record_failure.lease_id then
    return jsonb_build_object('recorded', false, 'reason', 'lease_lost');
  end if;
  -- A conflict is definite and never retried automatically, whatever the caller says.
  conflict := coalesce(record_failure.error_kind = 'conflict', false);
  episode_attempts := coalesce(b.guestly_sync_attempts, 0) - b.guestly_sync_episode_base;
  -- A round that ended on an unknown create is never the last: a phantom reservation may exist,
  -- so the next round looks it up (and the sync core creates nothing more past the limit).
  last_unknown_create := coalesce((
    select s.operation = 'create' and s.outcome = 'unknown'
      from guestly.sync_attempts s
     where s.booking_id = record_failure.booking_id
     order by s.id desc limit 1), false);
  final := conflict or record_failure.permanent
           or (episode_attempts >= max_attempts and not last_unknown_create);
  kind := case when conflict then 'conflict'
               when final then 'permanent' else 'transient' end;
  round_number := greatest(1, ceil(episode_attempts::numeric / attempts_per_round)::int);
  -- 1 min after the first round, 5 min after the second, … capped at 1 h; never before
  -- retry_not_before.
  retry_at := case when final then null
                   else greatest(now() + make_interval(secs => least(60 * power(5, round_number - 1), 3600)),
                                 record_failure.retry_not_before) end;
  update public.bookings
     set guestly_sync_status = 'failed',
         guestly_sync_error = left(record_failure.error, 2000),
         guestly_sync_error_kind = kind,
         guestly_sync_next_attempt_at = retry_at,
         guestly_sync_gave_up_at = case when final then coalesce(b.guestly_sync_gave_up_at, now()) end,
         guestly_sync_lease_id = null,
         guestly_sync_lease_until = null
   where id = record_failure.booking_id;
  if final and b.guestly_sync_gave_up_at is null then
    -- The Stripe Dashboard link of a double booking needs the payment's mode.
    select e.livemode into live from payments.stripe_events e
     where b.stripe_payment_intent_id is not null
       and e.payment_intent_id = b.stripe_payment_intent_id
     order by e.received_at desc limit 1;
    insert into guestly.admin_alerts (booking_id, kind, details)
    values (record_failure.booking_id,
            case when conflict then 'double_booking' else 'sync_failed' end,
            jsonb_build_object('error', record_failure.error,
                               'permanent', record_failure.permanent or conflict,
                               'error_kind', kind,
                               'attempts', b.guestly_sync_attempts,
                               'outcome_unknown', b.guestly_sync_lookup_needed)
            || case when conflict then jsonb_build_object('livemode', live) else '{}'::jsonb end
            || coalesce(record_failure.alert_details, '{}'::jsonb));
    perform guestly.invoke_function('notify-admin', '{}'::jsonb);
  end if;
  return jsonb_build_object('recorded', true, 'final', final, 'next_attempt_at', retry_at,
                            'error_kind', kind);
end;
$$;

-- A new episode on an operator's request; with ignore_calendar the episode's create sends
-- `ignoreCalendar: true` (forcing a double booking into Guestly, on purpose). A new signature.
drop function guestly.begin_manual_retry(uuid);
create function guestly.begin_manual_retry(booking_id uuid, ignore_calendar boolean default false)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  b public.bookings;
begin
  select * into b from public.bookings where id = begin_manual_retry.booking_id for update;
  if not found then
    return jsonb_build_object('ok', false, 'reason', 'not_found');
  end if;
  if b.status = 'pending_payment' then
    return jsonb_build_object('ok', false, 'reason', 'not_paid');
  end if;
  if b.guestly_sync_status = 'synced' and b.guestly_synced_status is not distinct from b.status then
    return jsonb_build_object('ok', false, 'reason', 'already_synced',
                              'reservation_id', b.guestly_reservation_id);
  end if;
  update public.bookings
     set guestly_sync_status = 'pending',
         guestly_sync_gave_up_at = null,
         guestly_sync_episode_base = coalesce(guestly_sync_attempts, 0),
         guestly_sync_next_attempt_at = now() + interval '2 minutes',
         guestly_ignore_calendar = coalesce(begin_manual_retry.ignore_calendar, false)
   where id = begin_manual_retry.booking_id;
  return jsonb_build_object('ok', true, 'ignore_calendar',
                            coalesce(begin_manual_retry.ignore_calendar, false));
end;
$$;

-- A forced create is for one episode only: a successful sync clears the flag.
create function guestly.tg_bookings__clear_ignore_calendar() returns trigger
  language plpgsql
  set search_path = ''
  as $$
begin
  if new.guestly_sync_status = 'synced' then
    new.guestly_ignore_calendar := false;
  end if;
  return new;
end;
$$;

create trigger bookings_clear_ignore_calendar
  before update of guestly_sync_status on public.bookings
  for each row when (new.guestly_ignore_calendar)
  execute function guestly.tg_bookings__clear_ignore_calendar();

-- For people in Studio: `select guestly_retry_sync('<id>', ignore_calendar => true)` forces a
-- double booking into Guestly (same path as `npm run sync:retry -- <id> --ignore-calendar`).
drop function public.guestly_retry_sync(uuid);
create function public.guestly_retry_sync(booking_id uuid, ignore_calendar boolean default false)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  result jsonb;
begin
  result := guestly.begin_manual_retry(booking_id, ignore_calendar);
  if result ->> 'reason' = 'not_found' then
    raise exception 'booking % not found', booking_id using errcode = 'no_data_found';
  end if;
  if (result ->> 'ok')::boolean then
    result := result || jsonb_build_object('request_id',
      guestly.invoke_function('guestly-sync', jsonb_build_object('bookingId', booking_id)));
  end if;
  return result;
end;
$$;

-- Conflicts apart from other failures (new columns at the end: create or replace keeps the rest).
create or replace view public.guestly_sync_overview
  with (security_invoker = true)
  as
select
  count(*) filter (where b.status <> 'pending_payment' and b.guestly_sync_status = 'pending')
    as pending,
  count(*) filter (where b.status <> 'pending_payment' and b.guestly_sync_status = 'synced')
    as synced,
  count(*) filter (where b.status <> 'pending_payment' and b.guestly_sync_status = 'failed')
    as failed,
  count(*) filter (where b.status <> 'pending_payment' and b.guestly_sync_status = 'failed'
                     and b.guestly_sync_gave_up_at is not null) as failed_final,
  count(*) filter (where b.status = 'pending_payment') as awaiting_payment,
  min(coalesce(b.guestly_sync_pending_since, b.updated_at))
    filter (where b.status <> 'pending_payment' and b.guestly_sync_status = 'pending')
    as oldest_pending_since,
  (select count(*) from guestly.admin_alerts a where a.sent_at is not null) as alerts_sent,
  (select count(*) from guestly.admin_alerts a where a.sent_at is null and a.last_error is null)
    as alerts_waiting,
  (select count(*) from guestly.admin_alerts a where a.sent_at is null and a.last_error is not null)
    as alerts_failing,
  (select min(a.created_at) from guestly.admin_alerts a where a.sent_at is null)
    as oldest_unsent_alert_at,
  (select a.last_error from guestly.admin_alerts a
    where a.sent_at is null and a.last_error is not null
    order by a.next_attempt_at desc nulls last limit 1) as last_alert_error,
  now() as as_of,
  count(*) filter (where b.status <> 'pending_payment' and b.guestly_sync_status = 'failed'
                     and b.guestly_sync_error_kind = 'conflict') as failed_conflict
from public.bookings b;

create or replace view public.guestly_sync_failures
  with (security_invoker = true)
  as
select
  b.id as booking_id,
  b.status as booking_status,
  b.guest_first_name || ' ' || b.guest_last_name as guest_name,
  p.name as property_name,
  b.check_in,
  b.check_out,
  coalesce(b.guestly_sync_attempts, 0) as attempts,
  b.guestly_sync_error as last_error,
  last_attempt.http_status as last_http_status,
  last_attempt.started_at as last_attempt_at,
  -- null: no automatic retry left (given up) -- only a manual retry moves it.
  b.guestly_sync_next_attempt_at as next_attempt_at,
  b.guestly_sync_gave_up_at as gave_up_at,
  alert.created_at as alerted_at,
  alert.sent_at as alert_sent_at,
  -- conflict (dates taken in Guestly: a double booking), permanent or transient.
  b.guestly_sync_error_kind as error_kind
from public.bookings b
left join public.properties p on p.id = b.property_id
left join lateral (
  select s.http_status, s.started_at from guestly.sync_attempts s
   where s.booking_id = b.id order by s.id desc limit 1) last_attempt on true
left join lateral (
  select a.created_at, a.sent_at from guestly.admin_alerts a
   where a.booking_id = b.id and a.kind in ('sync_failed', 'double_booking')
   order by a.created_at desc limit 1) alert on true
where b.guestly_sync_status = 'failed' and b.status <> 'pending_payment';

revoke all on function guestly.record_failure(uuid, uuid, text, boolean, int, int, timestamptz, jsonb, text)
  from public, anon, authenticated;
grant execute on function guestly.record_failure(uuid, uuid, text, boolean, int, int, timestamptz, jsonb, text)
  to service_role;
revoke all on function guestly.begin_manual_retry(uuid, boolean) from public, anon, authenticated;
grant execute on function guestly.begin_manual_retry(uuid, boolean) to service_role;
revoke all on function guestly.tg_bookings__clear_ignore_calendar()
  from public, anon, authenticated, service_role;
revoke all on function public.guestly_retry_sync(uuid, boolean) from public, anon, authenticated;
grant execute on function public.guestly_retry_sync(uuid, boolean) to service_role;
