-- Unknown outcomes and the lease check before every change sent to Guestly.
--
-- A create answered by a 5xx, 408, timeout or dropped connection may have been committed by
-- Guestly (gateways answer 502/503/504 after the backend committed; a slow backend finishes
-- after we gave up). Such a booking remembers when it happened, so that no lookup runs before
-- the first request's effect could be visible (the settle delay), and so that a later cancel
-- looks for a phantom reservation even after the booking was bound to one.
alter table public.bookings
  add column guestly_sync_unknown_at timestamptz;

-- Same signature as before: now also stamps guestly_sync_unknown_at for an unknown create.
create or replace function guestly.record_attempt(
  booking_id uuid,
  lease_id uuid,
  operation text,
  started_at timestamptz,
  duration_ms int,
  http_status int,
  outcome text,
  error text,
  lease_seconds int default 180
) returns int
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  attempt_number int;
begin
  update public.bookings b
     set guestly_sync_attempts = coalesce(b.guestly_sync_attempts, 0) + 1,
         guestly_sync_lookup_needed = b.guestly_sync_lookup_needed or record_attempt.outcome = 'unknown',
         guestly_sync_unknown_at = case when record_attempt.outcome = 'unknown'
                                             and record_attempt.operation = 'create'
                                        then now() else b.guestly_sync_unknown_at end,
         guestly_sync_lease_until = case when b.guestly_sync_lease_id = record_attempt.lease_id
                                         then now() + make_interval(secs => lease_seconds)
                                         else b.guestly_sync_lease_until end
   where b.id = record_attempt.booking_id
  returning b.guestly_sync_attempts into attempt_number;
  insert into guestly.sync_attempts
    (booking_id, attempt, operation, started_at, duration_ms, http_status, outcome, error)
  values (record_attempt.booking_id, attempt_number, record_attempt.operation,
          record_attempt.started_at, record_attempt.duration_ms, record_attempt.http_status,
          record_attempt.outcome, left(record_attempt.error, 2000));
  return attempt_number;
end;
$$;

-- Two new parameters: the earliest time to come back (the settle delay after an unknown
-- create, or the end of a wait that did not fit the invocation's budget), and facts the alert
-- must name (e.g. every live reservation carrying our reference). A new signature, so the old
-- one goes: two overloads would make every call ambiguous.
drop function guestly.record_failure(uuid, uuid, text, boolean, int, int);
create function guestly.record_failure(
  booking_id uuid,
  lease_id uuid,
  error text,
  permanent boolean,
  max_attempts int default 12,
  attempts_per_round int default 4,
  retry_not_before timestamptz default null,
  alert_details jsonb default '{}'::jsonb
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
begin
  select * into b from public.bookings where id = record_failure.booking_id for update;
  if not found or b.guestly_sync_lease_id is distinct from record_failure.lease_id then
    return jsonb_build_object('recorded', false, 'reason', 'lease_lost');
  end if;
  episode_attempts := coalesce(b.guestly_sync_attempts, 0) - b.guestly_sync_episode_base;
  -- A round that ended on an unknown create is never the last: a phantom reservation may exist,
  -- so the next round looks it up (and the sync core creates nothing more past the limit).
  last_unknown_create := coalesce((
    select s.operation = 'create' and s.outcome = 'unknown'
      from guestly.sync_attempts s
     where s.booking_id = record_failure.booking_id
     order by s.id desc limit 1), false);
  final := record_failure.permanent
           or (episode_attempts >= max_attempts and not last_unknown_create);
  round_number := greatest(1, ceil(episode_attempts::numeric / attempts_per_round)::int);
  -- 1 min after the first round, 5 min after the second, … capped at 1 h; never before
  -- retry_not_before.
  retry_at := case when final then null
                   else greatest(now() + make_interval(secs => least(60 * power(5, round_number - 1), 3600)),
                                 record_failure.retry_not_before) end;
  update public.bookings
     set guestly_sync_status = 'failed',
         guestly_sync_error = left(record_failure.error, 2000),
         guestly_sync_next_attempt_at = retry_at,
         guestly_sync_gave_up_at = case when final then coalesce(b.guestly_sync_gave_up_at, now()) end,
         guestly_sync_lease_id = null,
         guestly_sync_lease_until = null
   where id = record_failure.booking_id;
  if final and b.guestly_sync_gave_up_at is null then
    insert into guestly.admin_alerts (booking_id, kind, details)
    values (record_failure.booking_id, 'sync_failed',
            jsonb_build_object('error', record_failure.error, 'permanent', record_failure.permanent,
                               'attempts', b.guestly_sync_attempts,
                               'outcome_unknown', b.guestly_sync_lookup_needed)
            || coalesce(record_failure.alert_details, '{}'::jsonb));
    perform guestly.invoke_function('notify-admin', '{}'::jsonb);
  end if;
  return jsonb_build_object('recorded', true, 'final', final, 'next_attempt_at', retry_at);
end;
$$;

-- Called right before every request that changes Guestly: is the lease still ours (renewed in
-- the same statement, so an invocation that stalled past its lease and was taken over can never
-- race the next claimant), and what is the booking's status now (a booking cancelled during a round is never
-- created).
create function guestly.confirm_lease(booking_id uuid, lease_id uuid, lease_seconds int default 180)
  returns jsonb
  language sql
  security definer
  set search_path = ''
  as $$
  with renewed as (
    update public.bookings b
       set guestly_sync_lease_until = now() + make_interval(secs => confirm_lease.lease_seconds)
     where b.id = confirm_lease.booking_id
       -- Still our lease id, even if its time ran out: nobody claimed the booking since (a claim
       -- replaces the id under the same row lock), so no one else can be talking to Guestly.
       and b.guestly_sync_lease_id = confirm_lease.lease_id
    returning b.status
  )
  select coalesce(
    (select jsonb_build_object('held', true, 'status', status) from renewed),
    jsonb_build_object('held', false, 'status', null));
$$;

revoke all on function guestly.record_failure(uuid, uuid, text, boolean, int, int, timestamptz, jsonb)
  from public, anon, authenticated;
revoke all on function guestly.confirm_lease(uuid, uuid, int) from public, anon, authenticated;
grant execute on function guestly.record_failure(uuid, uuid, text, boolean, int, int, timestamptz, jsonb)
  to service_role;
grant execute on function guestly.confirm_lease(uuid, uuid, int) to service_role;
