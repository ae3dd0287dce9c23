-- Admin alerts: the alert kinds, the guestly.admin_alerts outbox and its delivery (claim, sent,
-- failed, the notify-admin wake-up), one-use retry links and their preview, the undelivered-alert
-- and stalled-sync detectors, and the operator views behind `npm run sync:status`
-- (guestly_sync_failures, guestly_sync_overview, guestly_undelivered_alerts, guestly_sync_stalled).
-- Concern: telling a human. Depends on 20261126000001, 20261126000002 (sync state, manual
-- retry) and 20261126000004 (money rows shown in the overview).

-- ---- Alert kinds and the outbox

-- The kinds of admin alert, as rows instead of a check constraint: a new kind is one insert, so
-- no migration has to restate (and risk dropping) the list. Every kind is inserted in this file.
create table guestly.alert_kinds (
  kind text primary key,
  description text not null
);

alter table guestly.alert_kinds enable row level security;

insert into guestly.alert_kinds (kind, description) values
  ('sync_failed', 'A paid booking''s Guestly sync failed for good (permanent error or attempts used up).'),
  ('payment_mismatch', 'Stripe reported a payment whose amount or currency differs from the booking.');

-- The outbox: one row per alert, written in the transaction that found the problem and
-- delivered by notify-admin.
create table guestly.admin_alerts (
  id uuid primary key default gen_random_uuid(),
  booking_id uuid references public.bookings (id) on delete set null,
  kind text not null
    constraint admin_alerts_kind_fkey references guestly.alert_kinds (kind),
  details jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  sent_at timestamptz,
  send_attempts int not null default 0,
  last_error text,
  next_attempt_at timestamptz default now(),
  -- The email a given alert produces must be byte-for-byte the same on every delivery attempt:
  -- Resend answers a repeated idempotency key with a *different* payload by 409. So an alert
  -- remembers which attempts belong to its episode (the attempt log only grows afterwards).
  provider_message_id text
);

create index admin_alerts_unsent_idx on guestly.admin_alerts (next_attempt_at) where sent_at is null;

alter table guestly.admin_alerts enable row level security;

-- ---- Delivery, retry links and the sync:status views

-- Admin alerts: delivery of the `guestly.admin_alerts` outbox (claim / sent / failed), the pg_cron
-- wake-up of the notify-admin function, one-use retry links, and the read-only views behind
-- `npm run sync:status`. The outbox rows themselves are written by guestly.record_failure and
-- the Stripe webhook; this migration only delivers them.

-- A retry link works once. The row is written in the same transaction that starts the retry,
-- so a link whose retry could not start (unknown booking) stays usable.
create table guestly.used_retry_links (
  link_id uuid primary key,
  booking_id uuid,
  used_at timestamptz not null default now()
);

create index used_retry_links_booking_id_idx on guestly.used_retry_links (booking_id, used_at);

alter table guestly.used_retry_links enable row level security;

-- Named to sort after tg_bookings__enqueue_guestly_sync (BEFORE triggers fire in name order),
-- so it sees the sync status that trigger sets.
create function public.tg_bookings__track_guestly_pending() returns trigger
  language plpgsql
  set search_path = ''
  as $$
begin
  if new.guestly_sync_status = 'pending' and new.status <> 'pending_payment' then
    if tg_op = 'UPDATE' and old.guestly_sync_status = 'pending'
       and old.status <> 'pending_payment' then
      new.guestly_sync_pending_since := coalesce(old.guestly_sync_pending_since, now());
    else
      new.guestly_sync_pending_since := now();
    end if;
  else
    new.guestly_sync_pending_since := null;
  end if;
  return new;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Outbox state changes, called by notify-admin (service_role). Claiming is one statement: a row
-- another sender holds is skipped, and the claim pushes next_attempt_at ahead as a lease, so a
-- sender that dies mid-send gives the alert back when the lease runs out. A second send after
-- such a crash is harmless: the Resend idempotency key is the alert id.
create function guestly.claim_due_alerts(
  batch_size int default 20,
  lease_seconds int default 300,
  as_of timestamptz default now()
) returns setof guestly.admin_alerts
  language sql
  security definer
  set search_path = ''
  as $$
  with due as (
    select a.id from guestly.admin_alerts a
     where a.sent_at is null
       and (a.next_attempt_at is null or a.next_attempt_at <= claim_due_alerts.as_of)
     order by a.next_attempt_at nulls first, a.created_at
     limit claim_due_alerts.batch_size
     for update skip locked)
  update guestly.admin_alerts a
     set send_attempts = a.send_attempts + 1,
         next_attempt_at = claim_due_alerts.as_of
                           + make_interval(secs => claim_due_alerts.lease_seconds)
    from due
   where a.id = due.id
  returning a.*;
$$;

-- Everything the email shows, read in one call: the booking, its property, and the attempts of
-- this alert's episode (after the previous sync_failed alert's last attempt, up to this one's).
create function guestly.alert_email_context(alert_id uuid, max_attempts_shown int default 20)
  returns jsonb
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  with a as (
    select * from guestly.admin_alerts where id = alert_email_context.alert_id
  ), bounds as (
    select (a.details ->> 'last_attempt_id')::bigint as upto,
           coalesce((select (p.details ->> 'last_attempt_id')::bigint
                       from guestly.admin_alerts p
                      where p.booking_id = a.booking_id and p.kind = 'sync_failed'
                        and (p.created_at, p.id) < (a.created_at, a.id)
                      order by p.created_at desc, p.id desc
                      limit 1), 0) as after
      from a
  ), episode as (
    select s.* from guestly.sync_attempts s, a, bounds
     where a.kind = 'sync_failed'
       and s.booking_id = a.booking_id
       and s.id > bounds.after
       and (bounds.upto is null or s.id <= bounds.upto)
  )
  select jsonb_build_object(
    'alert', (select jsonb_build_object('id', a.id, 'kind', a.kind, 'booking_id', a.booking_id,
                                        'details', a.details, 'created_at', a.created_at)
                from a),
    'booking', (select jsonb_build_object(
                  'id', b.id, 'status', b.status,
                  'guest_first_name', b.guest_first_name, 'guest_last_name', b.guest_last_name,
                  'guest_email', b.guest_email, 'check_in', b.check_in, 'check_out', b.check_out,
                  'guests_count', b.guests_count, 'amount_total', b.amount_total,
                  'currency', b.currency, 'stripe_payment_intent_id', b.stripe_payment_intent_id,
                  'property_name', p.name)
                  from a join public.bookings b on b.id = a.booking_id
                  left join public.properties p on p.id = b.property_id),
    'attempts_total', (select count(*) from episode),
    'attempts', coalesce((select jsonb_agg(jsonb_build_object(
                            'attempt', e.attempt, 'operation', e.operation,
                            'started_at', e.started_at, 'duration_ms', e.duration_ms,
                            'http_status', e.http_status, 'outcome', e.outcome,
                            'error', e.error) order by e.id)
                            from (select * from episode order by id desc
                                   limit alert_email_context.max_attempts_shown) e),
                         '[]'::jsonb))
  where exists (select 1 from a);
$$;

create function guestly.mark_alert_sent(alert_id uuid, provider_message_id text default null)
  returns boolean
  language sql
  security definer
  set search_path = ''
  as $$
  update guestly.admin_alerts
     set sent_at = now(),
         next_attempt_at = null,
         provider_message_id = mark_alert_sent.provider_message_id
   where id = mark_alert_sent.alert_id and sent_at is null
  returning true;
$$;

-- Backoff after the claimed attempt: 1 min, 2, 4, … capped at 1 h; never gives up (an operator
-- must hear about a final failure eventually). Returns when the alert is due again.
create function guestly.mark_alert_failed(
  alert_id uuid,
  error text,
  as_of timestamptz default now()
) returns timestamptz
  language sql
  security definer
  set search_path = ''
  as $$
  update guestly.admin_alerts
     set last_error = left(mark_alert_failed.error, 2000),
         next_attempt_at = mark_alert_failed.as_of + make_interval(
           secs => least(60 * power(2, least(greatest(send_attempts, 1), 20) - 1), 3600))
   where id = mark_alert_failed.alert_id and sent_at is null
  returning next_attempt_at;
$$;

-- The cron body. Cheap when idle: one index probe; pg_net is only called when an alert is due
-- (new, lease expired, or its backoff is over). Returns the pg_net request id, or null.
create function guestly.wake_notify_admin(as_of timestamptz default now()) returns bigint
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  if exists (select 1 from guestly.admin_alerts
              where sent_at is null
                and (next_attempt_at is null or next_attempt_at <= wake_notify_admin.as_of)) then
    return guestly.invoke_function('notify-admin', '{}'::jsonb);
  end if;
  return null;
end;
$$;

-- The one-click link: marks the link used and starts the retry through the same entry point as
-- Studio and the CLI, in one transaction. A link already used answers without side effects.
create function guestly.redeem_retry_link(link_id uuid, booking_id uuid) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  used timestamptz;
begin
  insert into guestly.used_retry_links (link_id, booking_id)
  values (redeem_retry_link.link_id, redeem_retry_link.booking_id)
  on conflict do nothing;
  if not found then
    select u.used_at into used from guestly.used_retry_links u
     where u.link_id = redeem_retry_link.link_id;
    return jsonb_build_object('ok', false, 'reason', 'link_used', 'used_at', used);
  end if;
  -- Raises no_data_found for an unknown booking, which also undoes the insert above.
  return public.guestly_retry_sync(redeem_retry_link.booking_id);
end;
$$;

-- ---- Alert kinds: money

-- Money nobody applied reaches an admin: the alert kinds the Stripe webhook writes, and the ledger
-- outcomes that name each money case (instead of `stale` / `ignored` / `confirmed` with a note).
insert into guestly.alert_kinds (kind, description) values
  ('payment_unmatched',
   'Stripe reported money received (or a free Checkout) that names no booking we have, after the grace window.'),
  ('payment_for_cancelled_booking',
   'Stripe reported a payment for a booking that is cancelled or refunded: the money was not applied.'),
  ('duplicate_payment',
   'Stripe reported a second, different payment for a booking that was already paid.'),
  ('payment_disputed',
   'A guest disputed a charge (charge.dispute.created): evidence is due before the deadline.'),
  ('partial_refund',
   'A charge was partly refunded; the booking stays confirmed and Guestly '
   'records the refund on the payment (the reservation stays).'),
  ('refund_unmatched',
   'Stripe reported a refund of a payment no booking has: recorded unmatched, applied if a '
   'booking later gets its payment intent.'),
  ('money_matched_late',
   'Money Stripe reported before any booking had its payment intent (a payment, a refund) was '
   'applied when a booking got it; a full refund leaves the booking refunded.');

-- ---- Undelivered alerts

-- The alert path must not depend on the thing that is broken. When notify-admin cannot be
-- reached (its pg_net calls answer 401/5xx or nothing) or cannot send (Resend refuses), the
-- alerts stay in the outbox; this view and `npm run sync:status` show them with the reason, read
-- straight from the database (nothing here needs a function to run).

-- Why the latest calls to notify-admin did not deliver, from what the database can see: the
-- newest call that has an outcome (an HTTP answer, a pg_net error, or a call that could not be
-- made). Null problem: notify-admin was reached and answered 2xx.
create function guestly.alert_delivery_problem()
  returns table (problem text, http_status int, body text, answered_at timestamptz,
                 last_called_at timestamptz)
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  with last_outcome as (
    select i.request_id, i.error as call_error, i.invoked_at, r.status_code, r.timed_out,
           r.error_msg, left(r.content, 300) as body, r.created
      from guestly.function_invocations i
      left join net._http_response r on r.id = i.request_id
     where i.function_name = 'notify-admin'
       and (i.request_id is null or r.id is not null)
     order by i.id desc
     limit 1
  ), last_call as (
    select max(i.invoked_at) as at from guestly.function_invocations i
     where i.function_name = 'notify-admin'
  )
  select
    case
      when o.invoked_at is null and c.at is null then
        'notify-admin has never been called by this database (is the pg_cron job ' ||
        'guestly-notify-admin-sweep active?)'
      when o.invoked_at is null then
        'notify-admin was called but has not answered yet (pg_net worker running?)'
      when o.request_id is null then
        'the database could not call notify-admin: ' || coalesce(o.call_error, 'unknown error')
      when o.status_code in (401, 403) then
        'notify-admin answered HTTP ' || o.status_code || ': the key the database sends (Vault ' ||
        'secret service_role_key) is not accepted — set it to the project''s service_role key'
      when o.status_code = 404 then
        'notify-admin answered HTTP 404: it is not deployed at the Vault secret project_url'
      when o.status_code >= 500 then
        'notify-admin answered HTTP ' || o.status_code || ' (its start-up or configuration ' ||
        'failed, see its logs): ' || coalesce(o.body, '')
      when o.status_code is null then
        'the call to notify-admin got no HTTP answer: ' ||
        coalesce(o.error_msg, case when o.timed_out then 'timed out' end, 'unknown error') ||
        ' — check the Vault secret project_url'
      when o.status_code >= 300 then
        'notify-admin answered HTTP ' || o.status_code || ': ' || coalesce(o.body, '')
    end,
    o.status_code,
    o.body,
    coalesce(o.created, o.invoked_at),
    c.at
  from last_call c
  left join last_outcome o on true;
$$;

create view public.guestly_undelivered_alerts
  with (security_invoker = true)
  as
select
  a.id as alert_id,
  a.kind,
  a.booking_id,
  a.created_at,
  date_trunc('second', now() - a.created_at) as waiting_for,
  a.send_attempts,
  a.next_attempt_at,
  a.last_error,
  coalesce(
    d.problem,
    case when a.last_error is not null then 'sending failed (Resend): ' || a.last_error end,
    case when a.send_attempts = 0
         then 'written, not picked up by notify-admin yet'
         else 'notify-admin claimed it but has not marked it sent (due again ' ||
              coalesce(to_char(a.next_attempt_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '-') ||
              ' UTC)' end) as why,
  d.http_status as notify_admin_http_status,
  d.answered_at as notify_admin_answered_at,
  d.last_called_at as notify_admin_last_called_at
from guestly.admin_alerts a
cross join guestly.alert_delivery_problem() d
where a.sent_at is null;

-- ---- The stall detector

-- Nothing stalls silently: a paid booking that has owed Guestly a sync for longer than
-- GUESTLY_STALL_ALERT_MINUTES (default 15) with no attempt getting anywhere writes one
-- `sync_stalled` alert per episode, naming the likely cause from what the database can see
-- (the function's own state report, the pg_net answers to the calls made for the booking, the
-- last attempt). Runs every minute from pg_cron, next to the sweep; tests call it with `as_of`.

insert into guestly.alert_kinds (kind, description) values
  ('sync_stalled', 'A paid booking has owed Guestly a sync for longer than ' ||
   'GUESTLY_STALL_ALERT_MINUTES with no attempt getting anywhere (function disabled, ' ||
   'unreachable, rejecting the database''s key, or failing).');

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

-- ---- Retry link preview

-- The retry link's confirmation page (GET) shows what the retry would do, and must change
-- nothing: mail scanners open links. This read-only function answers what
-- guestly.redeem_retry_link would answer, without marking the link used or starting anything.
-- Only the POST of the page's button calls redeem_retry_link.
create function guestly.preview_retry_link(link_id uuid, booking_id uuid) returns jsonb
  language plpgsql
  stable
  security definer
  set search_path = ''
  as $$
declare
  used timestamptz;
  b public.bookings;
  refusal jsonb;
begin
  select u.used_at into used from guestly.used_retry_links u
   where u.link_id = preview_retry_link.link_id;
  if found then
    return jsonb_build_object('ok', false, 'reason', 'link_used', 'used_at', used);
  end if;
  select * into b from public.bookings where id = preview_retry_link.booking_id;
  if not found then
    return jsonb_build_object('ok', false, 'reason', 'not_found');
  end if;
  -- The same refusals as guestly.begin_manual_retry.
  refusal := guestly.manual_retry_refusal(b);
  if refusal is not null then
    return refusal;
  end if;
  return jsonb_build_object(
    'ok', true,
    'booking_status', b.status,
    'sync_status', b.guestly_sync_status,
    'last_error', b.guestly_sync_error,
    'attempts', coalesce(b.guestly_sync_attempts, 0),
    'next_attempt_at', b.guestly_sync_next_attempt_at,
    'gave_up_at', b.guestly_sync_gave_up_at);
end;
$$;

-- ---- Alerts after a link retry get a link again

-- An alert that follows a retry started from an email link gets a one-click link again.
--
-- Such alerts once had no link: opening the link (GET) started the retry, so a mail scanner
-- that opens every link would retry, fail, get a new email with a new link, open it, … forever.
-- Now a GET only shows a confirmation page and only its button (a POST
-- carrying the token in its body) starts a retry; scanners do not submit forms, so the loop cannot
-- start, and a person whose retry failed again deserves the same one-click link as the first time.
-- Alerts written before this migration keep `details.retry_link = false` and render as before
-- (an alert's email must stay byte-for-byte the same on every resend).
create function guestly.tg_admin_alerts__stamp_last_attempt() returns trigger
  language plpgsql
  set search_path = ''
  as $$
begin
  if new.kind = 'sync_failed' and new.booking_id is not null
     and not (new.details ? 'last_attempt_id') then
    new.details := new.details || jsonb_build_object('last_attempt_id',
      (select max(s.id) from guestly.sync_attempts s where s.booking_id = new.booking_id));
  end if;
  return new;
end;
$$;

-- ---- Alert kinds and failures view: calendar conflicts

insert into guestly.alert_kinds (kind, description) values
  ('double_booking', 'A paid booking''s dates are taken in Guestly (calendar conflict): refund, '
                     'move the guest, or force it with ignore_calendar.');

create view public.guestly_sync_failures
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

-- ---- Alert kinds: changes made in Guestly

-- Applying what Guestly changed to the booking it belongs to, in one transaction with the
-- ledger row's outcome and any admin alert. Only reservations we created are applied (found by
-- the reservation id the sync recorded, or by our booking id in the custom field, which the
-- function read from Guestly); a cancellation makes the booking `cancelled`, new dates and guest
-- counts are copied; money is never changed here. Nothing is sent back to Guestly: the booking
-- is written together with the state Guestly now holds (guestly_synced_state,
-- guestly_synced_status), which is what the enqueue triggers compare (20261126000002).

insert into guestly.alert_kinds (kind, description) values
  ('cancelled_in_guestly', 'A paid booking was cancelled in Guestly (host, guest or channel): '
                           'decide on the refund in Stripe.'),
  ('guestly_change_price_differs', 'Guestly changed a booking''s dates or guests and the price '
                                   'would differ from what the guest paid: money was not changed.'),
  ('guestly_change_overridden', 'The host changed a booking''s dates or guests in Guestly while '
                                'the website''s own change of them was on its way: the website''s '
                                'value is sent to Guestly.');

-- A paid booking whose hold the host cancelled in Guestly (20261126000006): one per booking.
insert into guestly.alert_kinds (kind, description) values
  ('hold_cancelled_in_guestly', 'The host cancelled a booking''s hold in Guestly and the guest '
                                'paid: a new reservation is created, never the cancelled one '
                                'confirmed.');

create unique index admin_alerts_hold_cancelled_in_guestly_idx
  on guestly.admin_alerts (booking_id)
  where kind = 'hold_cancelled_in_guestly';

-- ---- The operator overview

-- The operator's overview counts holds too (GUESTLY_HOLD_MINUTES): bookings waiting for payment
-- whose hold is being placed, is held, or was refused because the nights are taken.
create view public.guestly_sync_overview
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
                     and b.guestly_sync_error_kind = 'conflict') as failed_conflict,
  -- Money Stripe took or gave back that Guestly does not show yet, for bookings in Guestly (a
  -- booking not created there yet records its money after the create).
  (select count(*) from guestly.payments m join public.bookings r on r.id = m.booking_id
    where m.status = 'pending' and r.guestly_reservation_id is not null) as payments_pending,
  (select count(*) from guestly.payments m where m.status = 'recorded') as payments_recorded,
  count(*) filter (where b.status = 'pending_payment' and b.guestly_hold_status = 'placing')
    as holds_placing,
  count(*) filter (where b.status = 'pending_payment' and b.guestly_hold_status = 'held')
    as holds_held,
  count(*) filter (where b.status = 'pending_payment' and b.guestly_hold_status = 'unavailable')
    as holds_unavailable
from public.bookings b;

-- ---- Alert kinds: reconciliation

-- One admin email per reconciliation run, and only when the run found drift: what was healed
-- and what an operator must look at (rendered by notifications/reconciliation.ts). Not tied to a
-- booking: one run covers many.

insert into guestly.alert_kinds (kind, description) values
  ('reconciliation_drift', 'The reconciliation found bookings and Guestly reservations that '
                           'disagree: what it healed, and what needs an operator.');

-- A run that never recorded its result (guestly_reconcile.abandon_dead_runs): one email per run,
-- whoever notices it first (the 5-minute check or the next begin_run).
insert into guestly.alert_kinds (kind, description) values
  ('reconciliation_abandoned', 'A reconciliation run never finished (the function was ended, '
                               'e.g. by the platform''s wall clock): nothing after its last step '
                               'was checked.');

create unique index admin_alerts_reconciliation_abandoned_run_idx
  on guestly.admin_alerts ((details ->> 'run_id'))
  where kind = 'reconciliation_abandoned';

-- ---- Triggers: outbox

create trigger tg_admin_alerts__stamp_last_attempt
  before insert on guestly.admin_alerts
  for each row execute function guestly.tg_admin_alerts__stamp_last_attempt();

-- Only writes that set a status column can change it: other UPDATEs of bookings (and the
-- sweep's and claim's own) do not pay for this trigger.
create trigger tg_bookings__track_guestly_pending
  before insert or update of status, guestly_sync_status on public.bookings
  for each row execute function public.tg_bookings__track_guestly_pending();

-- ---- Triggers: sync episodes for the stall detector

create trigger tg_bookings__guestly_sync_episode_on_status
  before insert or update of status on public.bookings
  for each row execute function public.tg_bookings__guestly_sync_episode('status');

create trigger tg_bookings__guestly_sync_episode_on_retry
  before update of guestly_sync_episode_base on public.bookings
  for each row execute function public.tg_bookings__guestly_sync_episode('retry');
