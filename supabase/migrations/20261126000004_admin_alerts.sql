-- Admin alerts: delivery of the `guestly.admin_alerts` outbox (claim / sent / failed), the pg_cron
-- wake-up of the notify-admin function, one-use retry links, and the read-only views behind
-- `npm run sync:status`. The outbox rows themselves are written by guestly.record_failure and
-- the Stripe webhook; this migration only delivers them.

-- The email a given alert produces must be byte-for-byte the same on every delivery attempt:
-- Resend answers a repeated idempotency key with a *different* payload by 409. So an alert
-- remembers which attempts belong to its episode (the attempt log only grows afterwards).
alter table guestly.admin_alerts
  add column provider_message_id text;

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
  -- Mail scanners open links in emails. If this failure follows a retry started by a link, a
  -- new link would be opened by the scanner too: retry, fail, new email, new link, … forever.
  -- So such an alert carries no one-click link (the CLI and SQL retry are still in the email).
  if new.kind = 'sync_failed' and new.booking_id is not null
     and not (new.details ? 'retry_link') then
    new.details := new.details || jsonb_build_object('retry_link', not exists (
      select 1 from guestly.used_retry_links u
       where u.booking_id = new.booking_id and u.used_at > now() - interval '24 hours'));
  end if;
  return new;
end;
$$;

create trigger tg_admin_alerts__stamp_last_attempt
  before insert on guestly.admin_alerts
  for each row execute function guestly.tg_admin_alerts__stamp_last_attempt();

-- A retry link works once. The row is written in the same transaction that starts the retry,
-- so a link whose retry could not start (unknown booking) stays usable.
create table guestly.used_retry_links (
  link_id uuid primary key,
  booking_id uuid,
  used_at timestamptz not null default now()
);
create index used_retry_links_booking_id_idx on guestly.used_retry_links (booking_id, used_at);
alter table guestly.used_retry_links enable row level security;
revoke all on guestly.used_retry_links from public, anon, authenticated, service_role;

-- Since when a booking has been waiting for its sync. `updated_at` cannot tell: every sweep
-- and claim touches the row. Null whenever nothing is owed to Guestly.
alter table public.bookings
  add column guestly_sync_pending_since timestamptz;

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

-- Only writes that set a status column can change it: other UPDATEs of bookings (and the
-- sweep's and claim's own) do not pay for this trigger.
create trigger tg_bookings__track_guestly_pending
  before insert or update of status, guestly_sync_status on public.bookings
  for each row execute function public.tg_bookings__track_guestly_pending();

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

revoke all on function guestly.tg_admin_alerts__stamp_last_attempt()
  from public, anon, authenticated, service_role;
revoke all on function public.tg_bookings__track_guestly_pending()
  from public, anon, authenticated, service_role;
revoke all on function guestly.claim_due_alerts(int, int, timestamptz),
  guestly.alert_email_context(uuid, int),
  guestly.mark_alert_sent(uuid, text),
  guestly.mark_alert_failed(uuid, text, timestamptz),
  guestly.wake_notify_admin(timestamptz),
  guestly.redeem_retry_link(uuid, uuid)
  from public, anon, authenticated;
grant execute on function guestly.claim_due_alerts(int, int, timestamptz),
  guestly.alert_email_context(uuid, int),
  guestly.mark_alert_sent(uuid, text),
  guestly.mark_alert_failed(uuid, text, timestamptz),
  guestly.wake_notify_admin(timestamptz),
  guestly.redeem_retry_link(uuid, uuid)
  to service_role;

-- ---------------------------------------------------------------------------------------------
-- What `npm run sync:status` reads. security_invoker: the reader's own grants apply, so only
-- roles that may read bookings and the guestly schema see anything. Supabase grants every new
-- relation in public to anon/authenticated: revoked explicitly below.
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
  now() as as_of
from public.bookings b;

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
  alert.sent_at as alert_sent_at
from public.bookings b
left join public.properties p on p.id = b.property_id
left join lateral (
  select s.http_status, s.started_at from guestly.sync_attempts s
   where s.booking_id = b.id order by s.id desc limit 1) last_attempt on true
left join lateral (
  select a.created_at, a.sent_at from guestly.admin_alerts a
   where a.booking_id = b.id and a.kind = 'sync_failed'
   order by a.created_at desc limit 1) alert on true
where b.guestly_sync_status = 'failed' and b.status <> 'pending_payment';

revoke all on public.guestly_sync_overview, public.guestly_sync_failures
  from public, anon, authenticated;
grant select on public.guestly_sync_overview, public.guestly_sync_failures to service_role;

-- Idempotent by job name: cron.schedule replaces an existing job of the same name.
select cron.schedule('guestly-notify-admin-sweep', '* * * * *', 'select guestly.wake_notify_admin()');
