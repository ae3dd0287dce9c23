-- Nothing stalls silently: a paid booking that has owed Guestly a sync for longer than
-- GUESTLY_STALL_ALERT_MINUTES (default 15) with no attempt getting anywhere writes one
-- `sync_stalled` alert per episode, naming the likely cause from what the database can see
-- (the function's own state report, the pg_net answers to the calls made for the booking, the
-- last attempt). Runs every minute from pg_cron, next to the sweep; tests call it with `as_of`.

insert into guestly.alert_kinds (kind, description) values
  ('sync_stalled', 'A paid booking has owed Guestly a sync for longer than ' ||
   'GUESTLY_STALL_ALERT_MINUTES with no attempt getting anywhere (function disabled, ' ||
   'unreachable, rejecting the database''s key, or failing).');

-- When the current sync episode began: a status change (or a booking born paid) or a manual
-- retry. Exactly one sync_stalled alert per episode is keyed on it.
alter table public.bookings
  add column guestly_sync_episode_started_at timestamptz;

update public.bookings
   set guestly_sync_episode_started_at = coalesce(guestly_sync_pending_since, now())
 where guestly_sync_status in ('pending', 'failed');

create function public.tg_bookings__guestly_sync_episode() returns trigger
  language plpgsql
  set search_path = ''
  as $$
begin
  -- 'retry': the UPDATE names guestly_sync_episode_base, which only a manual retry
  -- (guestly.begin_manual_retry) sets; a status change sets it inside its trigger instead.
  if tg_op = 'INSERT' then
    -- A row that arrives with its sync state set (an import, a restore) keeps it.
    new.guestly_sync_episode_started_at := coalesce(new.guestly_sync_episode_started_at, now());
  elsif tg_argv[0] = 'retry' or old.status is distinct from new.status then
    new.guestly_sync_episode_started_at := now();
  end if;
  return new;
end;
$$;

create trigger tg_bookings__guestly_sync_episode_on_status
  before insert or update of status on public.bookings
  for each row execute function public.tg_bookings__guestly_sync_episode('status');

create trigger tg_bookings__guestly_sync_episode_on_retry
  before update of guestly_sync_episode_base on public.bookings
  for each row execute function public.tg_bookings__guestly_sync_episode('retry');

-- One alert per booking and episode, whoever runs the detector and however often.
create unique index admin_alerts_sync_stalled_episode_idx
  on guestly.admin_alerts (booking_id, (details ->> 'episode'))
  where kind = 'sync_stalled';

-- The bookings stalled at `as_of`, with the likely cause. A booking is owed a sync while it is
-- paid (or cancelled/refunded), pending or failed, and not given up (final failures alert as
-- sync_failed). It is stalled when the demand has gone unanswered for `stall_minutes`:
--   * no attempt at all in this episode, and it has been pending since the episode began; or
--   * attempts were made, and guestly-sync has been called again since the last one ended
--     (its retry time came) without a new attempt.
-- A failed booking waiting for its retry time has not been called since its last attempt, and
-- a booking whose round is running holds a live lease: neither is stalled.
-- stall_minutes null: what guestly-sync reported as GUESTLY_STALL_ALERT_MINUTES, else 15.
-- only_unalerted: skip (before any diagnosis) the episodes already alerted — the cron path.
create function guestly.stalled_syncs(
  as_of timestamptz default now(),
  stall_minutes int default null,
  only_unalerted boolean default false
) returns table (
  booking_id uuid,
  episode text,
  episode_started_at timestamptz,
  due_since timestamptz,
  threshold_minutes int,
  cause text,
  reason text,
  evidence jsonb,
  alert_id uuid,
  alert_sent_at timestamptz
)
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  with fs as (
    select * from guestly.function_state where function_name = 'guestly-sync'
  ), threshold as (
    select coalesce(
             stalled_syncs.stall_minutes,
             (select case when fs.settings ->> 'stall_alert_minutes' ~ '^[1-9][0-9]{0,5}$'
                          then (fs.settings ->> 'stall_alert_minutes')::int end from fs),
             15) as minutes
  ), owed as (
    select b.id,
           b.guestly_sync_status as sync_status,
           coalesce(b.guestly_sync_episode_started_at, b.guestly_sync_pending_since,
                    '-infinity'::timestamptz) as episode_started_at,
           coalesce(b.guestly_sync_attempts, 0) - b.guestly_sync_episode_base as episode_attempts,
           la.attempt, la.operation, la.started_at, la.http_status, la.outcome, la.error,
           la.started_at + make_interval(secs => la.duration_ms / 1000.0) as ended_at
      from public.bookings b
      left join lateral (
        select s.attempt, s.operation, s.started_at, s.duration_ms, s.http_status, s.outcome, s.error
          from guestly.sync_attempts s
         where s.booking_id = b.id
         order by s.id desc
         limit 1) la on true
     where b.guestly_sync_status in ('pending', 'failed')
       and b.status <> 'pending_payment'
       and b.guestly_sync_gave_up_at is null
       and (b.guestly_sync_lease_until is null or b.guestly_sync_lease_until <= stalled_syncs.as_of)
  ), anchored as (
    select o.*,
           (o.ended_at is not null and o.ended_at >= o.episode_started_at) as attempted,
           case
             when o.sync_status = 'pending'
                  and (o.ended_at is null or o.ended_at < o.episode_started_at)
                  and o.episode_started_at > '-infinity'
               then o.episode_started_at
             else (select min(i.invoked_at) from guestly.function_invocations i
                    where i.booking_id = o.id and i.function_name = 'guestly-sync'
                      and i.invoked_at > greatest(o.episode_started_at, o.ended_at)
                      and i.invoked_at <= stalled_syncs.as_of)
           end as due_since
      from owed o
  ), stalled as (
    select a.*, t.minutes, extract(epoch from a.episode_started_at)::text as episode,
           al.id as alert_id, al.sent_at as alert_sent_at
      from anchored a
     cross join threshold t
      left join guestly.admin_alerts al
        on al.booking_id = a.id and al.kind = 'sync_stalled'
       and al.details ->> 'episode' = extract(epoch from a.episode_started_at)::text
     where a.due_since <= stalled_syncs.as_of - make_interval(mins => t.minutes)
       and not (stalled_syncs.only_unalerted and al.id is not null)
  ), diagnosed as (
    select s.*,
           calls.n as calls, calls.not_made, pending.unanswered, calls.call_error,
           calls.last_call_at,
           resp.status_code, resp.timed_out, resp.error_msg, resp.body, resp.answered_at,
           fs.enabled, fs.test_mode, fs.reported_at,
           case
             when report.current and not fs.enabled then 'sync_disabled'
             when report.current and fs.test_mode then 'test_mode'
             when resp.status_code in (401, 403) then 'unauthorized'
             when resp.status_code = 404 then 'function_not_found'
             when resp.status_code >= 500 then 'function_error'
             when resp.answered_at is not null and resp.status_code is null then 'unreachable'
             when resp.body like '%GUESTLY_SYNC_ENABLED is not true%' then 'sync_disabled'
             when resp.status_code is not null then 'no_progress'
             when calls.n > 0 and calls.n = calls.not_made then 'not_called'
             when calls.n > 0 then 'no_response'
             else 'not_invoked'
           end as cause
      from stalled s
      left join fs on true
      left join lateral (
        select count(*) as n,
               count(*) filter (where i.request_id is null) as not_made,
               (array_agg(i.error order by i.id desc) filter (where i.error is not null))[1]
                 as call_error,
               max(i.invoked_at) as last_call_at
          from guestly.function_invocations i
         where i.booking_id = s.id and i.function_name = 'guestly-sync'
           and i.invoked_at >= s.due_since and i.invoked_at <= stalled_syncs.as_of) calls on true
      -- Of the latest 20 calls only: net._http_response has no index on id.
      left join lateral (
        select count(*) as unanswered
          from (select i.request_id from guestly.function_invocations i
                 where i.booking_id = s.id and i.function_name = 'guestly-sync'
                   and i.request_id is not null
                   and i.invoked_at >= s.due_since and i.invoked_at <= stalled_syncs.as_of
                 order by i.id desc limit 20) recent
         where not exists (select 1 from net._http_response r where r.id = recent.request_id))
        pending on true
      left join lateral (
        select r.status_code, r.timed_out, r.error_msg, left(r.content, 300) as body,
               r.created as answered_at
          from guestly.function_invocations i
          join net._http_response r on r.id = i.request_id
         where i.booking_id = s.id and i.function_name = 'guestly-sync'
           and i.invoked_at >= s.due_since and i.invoked_at <= stalled_syncs.as_of
         order by i.id desc
         limit 1) resp on true
      -- What the function said about itself counts when said during this wait, and not long
      -- before a newer answer that contradicts it (re-enabled, but now refusing the key).
      cross join lateral (
        select coalesce(fs.reported_at >= s.due_since
                        and (resp.answered_at is null or resp.status_code between 200 and 299
                             or fs.reported_at >= resp.answered_at - interval '2 minutes'),
                        false) as current) report
  )
  select
    d.id,
    d.episode,
    d.episode_started_at,
    d.due_since,
    d.minutes,
    d.cause,
    case d.cause
      when 'sync_disabled' then
        'guestly-sync runs with GUESTLY_SYNC_ENABLED not true' ||
        coalesce(' (it said so at ' ||
                 to_char(d.reported_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC)', '') ||
        ': it skips every booking, so nothing is sent to Guestly.'
      when 'test_mode' then
        'guestly-sync runs with GUESTLY_TEST_MODE=true (it said so at ' ||
        to_char(d.reported_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') ||
        ' UTC): it logs what it would send and sends nothing to Guestly.'
      when 'unauthorized' then
        'guestly-sync answered HTTP ' || d.status_code || ' to the database''s calls: the key in ' ||
        'the Vault secret service_role_key is not accepted by the function.'
      when 'function_not_found' then
        'HTTP 404: no guestly-sync function at the Vault secret project_url (not deployed, or ' ||
        'the URL is wrong).'
      when 'function_error' then
        'guestly-sync answered HTTP ' || d.status_code || ': it fails at start-up (bad ' ||
        'configuration) or crashes (e.g. a database error); its logs say which. Answer: ' ||
        coalesce(d.body, '(empty)')
      when 'unreachable' then
        'the calls to guestly-sync got no HTTP answer (' ||
        coalesce(d.error_msg, case when d.timed_out then 'timed out' end, 'unknown error') ||
        '): check the Vault secret project_url and that the function is deployed.'
      when 'no_progress' then
        'guestly-sync answered HTTP ' || d.status_code || ' but made no attempt: ' ||
        coalesce(d.body, '(empty)')
      when 'not_called' then
        'the database could not call guestly-sync: ' || coalesce(d.call_error, 'unknown error')
      when 'no_response' then
        d.calls || ' call(s) to guestly-sync were queued in pg_net and none was answered: ' ||
        'is pg_net running (or are its requests being lost)?'
      else
        'guestly-sync has not been called for this booking since ' ||
        to_char(d.due_since at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') ||
        ' UTC: the function is not reached (check pg_net and the pg_cron job guestly-sync-sweep).'
    end ||
    case when d.attempted then
      ' The last attempt (#' || d.attempt || ', ' || d.operation || ', ' ||
      coalesce('HTTP ' || d.http_status, 'no HTTP answer') || ', ' ||
      to_char(d.started_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC) failed: ' ||
      left(coalesce(d.error, d.outcome), 300)
    else '' end,
    jsonb_build_object(
      'calls', d.calls,
      'calls_not_made', d.not_made,
      'calls_unanswered', d.unanswered,
      'last_call_at', d.last_call_at,
      'call_error', d.call_error,
      'episode_attempts', d.episode_attempts,
      'last_response', case when d.answered_at is null then null else jsonb_build_object(
        'http_status', d.status_code, 'body', d.body, 'timed_out', d.timed_out,
        'error', d.error_msg, 'at', d.answered_at) end,
      'last_attempt', case when not d.attempted then null else jsonb_build_object(
        'attempt', d.attempt, 'operation', d.operation, 'started_at', d.started_at,
        'http_status', d.http_status, 'outcome', d.outcome, 'error', left(d.error, 2000)) end,
      'function_state', case when d.reported_at is null then null else jsonb_build_object(
        'enabled', d.enabled, 'test_mode', d.test_mode, 'reported_at', d.reported_at) end),
    d.alert_id,
    d.alert_sent_at
  from diagnosed d;
$$;

-- The cron body: one alert per stalled booking and episode (the unique index makes a second
-- insert a no-op), then notify-admin is woken. Also says in the Postgres log when the alert
-- path itself is broken, and forgets function calls older than a day.
create function guestly.detect_stalled_syncs(
  as_of timestamptz default now(),
  stall_minutes int default null
) returns int
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  s record;
  inserted int;
  written int := 0;
  undelivered int;
  oldest timestamptz;
  problem text;
begin
  for s in select * from guestly.stalled_syncs(as_of, stall_minutes, only_unalerted => true)
  loop
    insert into guestly.admin_alerts (booking_id, kind, details)
    values (s.booking_id, 'sync_stalled',
            jsonb_build_object('episode', s.episode, 'cause', s.cause, 'reason', s.reason,
                               'episode_started_at', s.episode_started_at,
                               'due_since', s.due_since, 'stall_minutes', s.threshold_minutes,
                               'detected_at', as_of) || s.evidence)
    on conflict (booking_id, (details ->> 'episode')) where kind = 'sync_stalled' do nothing;
    get diagnostics inserted = row_count;
    written := written + inserted;
  end loop;
  if written > 0 then
    perform guestly.invoke_function('notify-admin', '{}'::jsonb);
  end if;

  select count(*), min(a.created_at) into undelivered, oldest
    from guestly.admin_alerts a
   where a.sent_at is null and a.created_at < as_of - interval '10 minutes';
  if undelivered > 0 then
    select p.problem into problem from guestly.alert_delivery_problem() p;
    raise warning 'guestly: % admin alert(s) not delivered, oldest written %: %', undelivered,
      oldest, coalesce(problem, 'see public.guestly_undelivered_alerts');
  end if;

  delete from guestly.function_invocations where invoked_at < now() - interval '1 day';
  return written;
end;
$$;

-- For people in Studio and sync:status: what is stalled right now, and why.
create view public.guestly_sync_stalled
  with (security_invoker = true)
  as
select
  s.booking_id,
  b.status as booking_status,
  b.guest_first_name || ' ' || b.guest_last_name as guest_name,
  p.name as property_name,
  s.due_since as waiting_since,
  date_trunc('second', now() - s.due_since) as waiting_for,
  s.cause,
  s.reason,
  (s.evidence -> 'last_response' ->> 'http_status')::int as last_http_status,
  s.alert_id is not null as alerted,
  s.alert_sent_at
from guestly.stalled_syncs() s
join public.bookings b on b.id = s.booking_id
left join public.properties p on p.id = b.property_id;

revoke all on function public.tg_bookings__guestly_sync_episode()
  from public, anon, authenticated, service_role;
revoke all on function guestly.stalled_syncs(timestamptz, int, boolean),
  guestly.detect_stalled_syncs(timestamptz, int)
  from public, anon, authenticated;
grant execute on function guestly.stalled_syncs(timestamptz, int, boolean),
  guestly.detect_stalled_syncs(timestamptz, int)
  to service_role;
revoke all on public.guestly_sync_stalled from public, anon, authenticated;
grant select on public.guestly_sync_stalled to service_role;

-- Next to guestly-sync-sweep rather than inside it: the sweep's body belongs to the retry logic.
select cron.schedule('guestly-sync-stall-check', '* * * * *', 'select guestly.detect_stalled_syncs()');
