-- Guestly sync: state on bookings, the private `guestly` schema (attempt log, token cache, rate
-- limiter, alert outbox), the state-transition functions every caller goes through, the trigger
-- that calls the guestly-sync Edge Function through pg_net, and the pg_cron sweep.
create extension if not exists pg_net with schema extensions;
create extension if not exists pg_cron;

alter table public.bookings
  add column guestly_reservation_id text null,
  add column guestly_sync_status text default 'pending',
  add column guestly_sync_error text,
  add column guestly_synced_at timestamptz,
  add column guestly_sync_attempts int default 0,
  -- Extra state (documented in docs/architecture.md):
  -- when the cron sweep should (re)invoke guestly-sync; null = nothing due (synced, given up, never paid)
  add column guestly_sync_next_attempt_at timestamptz,
  -- the lease of the invocation currently talking to Guestly for this booking
  add column guestly_sync_lease_id uuid,
  add column guestly_sync_lease_until timestamptz,
  -- an earlier attempt's outcome is unknown (timeout, dropped connection): look up before creating
  add column guestly_sync_lookup_needed boolean not null default false,
  -- the booking status Guestly last acknowledged, so a change updates instead of creating
  add column guestly_synced_status text,
  -- set when the current failure episode became final (alert sent once per episode)
  add column guestly_sync_gave_up_at timestamptz,
  -- guestly_sync_attempts when the current episode began (a status change or a manual retry):
  -- the attempt limit and the spacing between rounds count this episode's attempts only
  add column guestly_sync_episode_base int not null default 0,
  add constraint bookings_guestly_sync_status_check
    check (guestly_sync_status in ('pending', 'synced', 'failed'));

-- Unique: a second Guestly reservation for one booking can never be recorded.
create unique index bookings_guestly_reservation_id_idx on public.bookings (guestly_reservation_id);
create index bookings_guestly_sync_status_idx on public.bookings (guestly_sync_status);
-- The cron sweep reads only rows with due work, through this small partial index.
create index bookings_guestly_sync_due_idx on public.bookings (guestly_sync_next_attempt_at)
  where guestly_sync_next_attempt_at is not null;

-- Private schema: not exposed through the Data API; only service_role (and the owner) may use it.
create schema guestly;
revoke all on schema guestly from public;
grant usage on schema guestly to service_role;

create table guestly.sync_attempts (
  id bigint generated always as identity primary key,
  booking_id uuid not null references public.bookings (id) on delete cascade,
  attempt int not null,
  operation text not null check (operation in ('create', 'update_status', 'lookup')),
  started_at timestamptz not null,
  duration_ms int not null,
  http_status int,
  outcome text not null check (outcome in ('success', 'retryable', 'permanent', 'unknown')),
  error text
);
create index sync_attempts_booking_id_idx on guestly.sync_attempts (booking_id, attempt);

-- Guesty mints at most 5 tokens a day per key: one cached token shared by every invocation.
create table guestly.api_tokens (
  client_id text primary key,
  access_token text not null,
  expires_at timestamptz not null,
  minted_at timestamptz not null default now()
);

-- Send times reserved by every invocation: one shared limiter for the whole account.
create table guestly.request_slots (slot_at timestamptz not null);
create index request_slots_slot_at_idx on guestly.request_slots (slot_at);

create table guestly.admin_alerts (
  id uuid primary key default gen_random_uuid(),
  booking_id uuid references public.bookings (id) on delete set null,
  kind text not null check (kind in ('sync_failed', 'payment_mismatch')),
  details jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  sent_at timestamptz,
  send_attempts int not null default 0,
  last_error text,
  next_attempt_at timestamptz default now()
);
create index admin_alerts_unsent_idx on guestly.admin_alerts (next_attempt_at) where sent_at is null;

alter table guestly.sync_attempts enable row level security;
alter table guestly.api_tokens enable row level security;
alter table guestly.request_slots enable row level security;
alter table guestly.admin_alerts enable row level security;
revoke all on all tables in schema guestly from public, anon, authenticated;
grant select on guestly.sync_attempts, guestly.admin_alerts to service_role;

-- ---------------------------------------------------------------------------------------------
-- State transitions. Each locks the booking row; success/failure only apply for the lease holder,
-- so a late answer from an expired invocation can never overwrite newer state.

create function guestly.claim_sync(booking_id uuid, lease_seconds int default 180)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  b public.bookings;
  new_lease uuid := gen_random_uuid();
  listing_id text;
begin
  select * into b from public.bookings where id = claim_sync.booking_id for update;
  if not found then
    return jsonb_build_object('claimed', false, 'reason', 'not_found');
  end if;
  if b.guestly_sync_lease_until > now() then
    return jsonb_build_object('claimed', false, 'reason', 'leased');
  end if;
  if b.status = 'pending_payment' then
    return jsonb_build_object('claimed', false, 'reason', 'not_paid');
  end if;
  if b.guestly_sync_status = 'synced' and b.guestly_synced_status is not distinct from b.status then
    return jsonb_build_object('claimed', false, 'reason', 'already_synced',
                              'reservation_id', b.guestly_reservation_id);
  end if;
  -- A lease still recorded here was abandoned (success, failure and release all clear it): its
  -- holder may have created the reservation and died before recording it, so look up first.
  b.guestly_sync_lookup_needed := b.guestly_sync_lookup_needed or b.guestly_sync_lease_id is not null;
  update public.bookings
     set guestly_sync_lease_id = new_lease,
         guestly_sync_lease_until = now() + make_interval(secs => lease_seconds),
         guestly_sync_lookup_needed = b.guestly_sync_lookup_needed
   where id = claim_sync.booking_id;
  select p.guestly_listing_id into listing_id from public.properties p where p.id = b.property_id;
  return jsonb_build_object(
    'claimed', true,
    'lease_id', new_lease,
    'booking', to_jsonb(b) || jsonb_build_object('guestly_listing_id', listing_id));
end;
$$;

-- One row per HTTP attempt, and the counter, in one statement: they can never disagree.
create function guestly.record_attempt(
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

-- Returns whether more work is due: the booking's status changed while we were syncing.
create function guestly.record_success(
  booking_id uuid,
  lease_id uuid,
  reservation_id text,
  synced_status text
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  b public.bookings;
  more_work boolean;
begin
  select * into b from public.bookings where id = record_success.booking_id for update;
  if not found or b.guestly_sync_lease_id is distinct from record_success.lease_id then
    return jsonb_build_object('recorded', false, 'reason', 'lease_lost');
  end if;
  more_work := b.status is distinct from record_success.synced_status;
  update public.bookings
     set guestly_reservation_id = coalesce(record_success.reservation_id, b.guestly_reservation_id),
         guestly_synced_status = record_success.synced_status,
         guestly_sync_status = case when more_work then 'pending' else 'synced' end,
         guestly_sync_error = null,
         guestly_synced_at = now(),
         guestly_sync_lookup_needed = false,
         guestly_sync_gave_up_at = null,
         guestly_sync_next_attempt_at = case when more_work then now() + interval '2 minutes' end,
         guestly_sync_lease_id = null,
         guestly_sync_lease_until = null
   where id = record_success.booking_id;
  return jsonb_build_object('recorded', true, 'more_work', more_work);
end;
$$;

-- Failure: retried by the sweep with growing spacing between rounds, or final (permanent error
-- or attempt limit), which writes exactly one admin alert per episode in the same transaction.
create function guestly.record_failure(
  booking_id uuid,
  lease_id uuid,
  error text,
  permanent boolean,
  max_attempts int default 12,
  attempts_per_round int default 4
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
begin
  select * into b from public.bookings where id = record_failure.booking_id for update;
  if not found or b.guestly_sync_lease_id is distinct from record_failure.lease_id then
    return jsonb_build_object('recorded', false, 'reason', 'lease_lost');
  end if;
  episode_attempts := coalesce(b.guestly_sync_attempts, 0) - b.guestly_sync_episode_base;
  final := record_failure.permanent or episode_attempts >= max_attempts;
  round_number := greatest(1, ceil(episode_attempts::numeric / attempts_per_round)::int);
  -- 1 min after the first round, 5 min after the second, … capped at 1 h.
  retry_at := case when final then null
                   else now() + make_interval(secs => least(60 * power(5, round_number - 1), 3600)) end;
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
                               'attempts', b.guestly_sync_attempts));
    perform guestly.invoke_function('notify-admin', '{}'::jsonb);
  end if;
  return jsonb_build_object('recorded', true, 'final', final, 'next_attempt_at', retry_at);
end;
$$;

-- Gives the booking back without a state change (sync disabled, test mode, rate limiter busy);
-- retry_at, when given, tells the sweep when to come back.
create function guestly.release_sync(booking_id uuid, lease_id uuid, retry_at timestamptz default null)
  returns void
  language sql
  security definer
  set search_path = ''
  as $$
  update public.bookings
     set guestly_sync_lease_id = null,
         guestly_sync_lease_until = null,
         guestly_sync_next_attempt_at = coalesce(release_sync.retry_at, guestly_sync_next_attempt_at)
   where id = release_sync.booking_id and guestly_sync_lease_id = release_sync.lease_id;
$$;

-- A new episode on an operator's request: even past the attempt limit, even after a final failure.
create function guestly.begin_manual_retry(booking_id uuid) returns jsonb
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
         guestly_sync_next_attempt_at = now() + interval '2 minutes'
   where id = begin_manual_retry.booking_id;
  return jsonb_build_object('ok', true);
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Calling Edge Functions from the database, the way Supabase documents it: the project URL and a
-- key come from Vault. Never raises: a missing secret or a pg_net problem must not block or undo
-- the booking change that caused the call (the sweep will notice the work later).
create function guestly.invoke_function(function_name text, body jsonb) returns bigint
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  project_url text;
  service_key text;
begin
  select decrypted_secret into project_url from vault.decrypted_secrets where name = 'project_url';
  select decrypted_secret into service_key from vault.decrypted_secrets where name = 'service_role_key';
  if project_url is null or service_key is null then
    raise warning 'guestly: Vault secrets project_url/service_role_key missing; % not called', function_name;
    return null;
  end if;
  return net.http_post(
    url := rtrim(project_url, '/') || '/functions/v1/' || function_name,
    body := body,
    headers := jsonb_build_object('Content-Type', 'application/json',
                                  'Authorization', 'Bearer ' || service_key),
    timeout_milliseconds := 150000);
exception when others then
  raise warning 'guestly: could not call %: %', function_name, sqlerrm;
  return null;
end;
$$;

create function public.tg_bookings__enqueue_guestly_sync() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  if new.status in ('cancelled', 'refunded') and new.guestly_reservation_id is null
     and coalesce(new.guestly_sync_attempts, 0) = 0
     -- No lease, not even an abandoned one: its holder may have created the reservation.
     and new.guestly_sync_lease_id is null
     and not new.guestly_sync_lookup_needed then
    -- Never reached Guestly: nothing to cancel there, and nothing is created just to cancel it.
    new.guestly_sync_status := 'synced';
    new.guestly_synced_status := new.status;
    new.guestly_sync_next_attempt_at := null;
    return new;
  end if;
  new.guestly_sync_status := 'pending';
  new.guestly_sync_error := null;
  new.guestly_sync_gave_up_at := null;
  new.guestly_sync_episode_base := coalesce(new.guestly_sync_attempts, 0);
  -- Safety net: pg_net's queue is unlogged and never retried; the sweep comes back if needed.
  new.guestly_sync_next_attempt_at := now() + interval '2 minutes';
  perform guestly.invoke_function('guestly-sync', jsonb_build_object('bookingId', new.id));
  return new;
end;
$$;

create trigger tg_bookings__enqueue_guestly_sync
  before update of status on public.bookings
  for each row
  when (old.status is distinct from new.status
        and new.status in ('confirmed', 'cancelled', 'refunded'))
  execute function public.tg_bookings__enqueue_guestly_sync();

-- A booking can also be born paid (a phone booking entered in Studio, a free stay). A row that
-- arrives with its sync state already set (an import, a restore) is left as it is.
create trigger tg_bookings__enqueue_guestly_sync_on_insert
  before insert on public.bookings
  for each row
  when (new.status in ('confirmed', 'cancelled', 'refunded')
        and new.guestly_sync_status = 'pending'
        and new.guestly_reservation_id is null
        and new.guestly_sync_next_attempt_at is null)
  execute function public.tg_bookings__enqueue_guestly_sync();

-- The cron body: re-invokes guestly-sync for due rows (failed and waiting for their retry time,
-- or pending longer than the grace period because a pg_net request may have been lost).
-- The attempt limit is GUESTLY_MAX_ATTEMPTS, which the function applies in record_failure: a
-- row past it has no next attempt time, so the sweep never sees it. max_attempts is an extra
-- guard for callers that want one; null (the default, and the cron job) leaves it to the function.
create function guestly.sweep_due_syncs(
  max_attempts int default null,
  batch_size int default 200,
  as_of timestamptz default now()
) returns int
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  due record;
  invoked int := 0;
begin
  for due in
    -- Come back in 2 minutes of real time if this call is lost too (as_of only chooses what is
    -- due, so a test that moves the clock ahead still sees the row again soon).
    update public.bookings b
       set guestly_sync_next_attempt_at = now() + interval '2 minutes'
     where b.id in (
       select id from public.bookings
        where guestly_sync_next_attempt_at <= as_of
          -- Only pending and retryable failed rows carry a next attempt time; a pending row
          -- (a new status to sync) is swept whatever its attempt count.
          and (guestly_sync_status = 'pending' or max_attempts is null
               or guestly_sync_attempts - guestly_sync_episode_base < max_attempts)
        order by guestly_sync_next_attempt_at
        limit batch_size
        for update skip locked)
    returning b.id
  loop
    perform guestly.invoke_function('guestly-sync', jsonb_build_object('bookingId', due.id));
    invoked := invoked + 1;
  end loop;
  return invoked;
end;
$$;

-- Guestly allows 15 requests/s, 120/min and 5,000/h per account. Every request of every
-- invocation reserves a send time here first; times are handed out in order, so only the past
-- windows need checking. Returns null when the wait would exceed max_wait_ms (caller defers).
create function guestly.reserve_request_slot(
  per_second int default 15,
  per_minute int default 120,
  per_hour int default 5000,
  max_wait_ms int default 60000
) returns timestamptz
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  slot timestamptz;
  limits int[] := array[per_second, per_minute, per_hour];
  windows interval[] := array[interval '1 second', interval '1 minute', interval '1 hour'];
  oldest_in_window timestamptz;
  changed boolean := true;
begin
  perform pg_advisory_xact_lock(hashtext('guestly.request_slots'));
  select greatest(clock_timestamp(), max(slot_at)) into slot from guestly.request_slots;
  while changed loop
    changed := false;
    for i in 1..3 loop
      select slot_at into oldest_in_window from guestly.request_slots
       order by slot_at desc offset limits[i] - 1 limit 1;
      -- 100 ms guard against the clocks of this database and Guestly disagreeing slightly.
      if oldest_in_window is not null and oldest_in_window + windows[i] + interval '100 ms' > slot then
        slot := oldest_in_window + windows[i] + interval '100 ms';
        changed := true;
      end if;
    end loop;
  end loop;
  if slot > clock_timestamp() + make_interval(secs => max_wait_ms / 1000.0) then
    return null;
  end if;
  insert into guestly.request_slots (slot_at) values (slot);
  delete from guestly.request_slots where slot_at < clock_timestamp() - interval '1 hour 1 minute';
  return slot;
end;
$$;

-- Token cache, refreshed under a lock by one invocation at a time.
create function guestly.lock_token_refresh(client_id text) returns void
  language sql
  security definer
  set search_path = ''
  as $$ select pg_advisory_xact_lock(hashtext('guestly.api_tokens:' || client_id)) $$;

create function guestly.cached_token(client_id text, min_validity_seconds int default 300)
  returns text
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  select access_token from guestly.api_tokens t
   where t.client_id = cached_token.client_id
     and t.expires_at > now() + make_interval(secs => min_validity_seconds)
$$;

create function guestly.store_token(client_id text, access_token text, expires_at timestamptz)
  returns void
  language sql
  security definer
  set search_path = ''
  as $$
  insert into guestly.api_tokens (client_id, access_token, expires_at)
  values (store_token.client_id, store_token.access_token, store_token.expires_at)
  on conflict (client_id) do update
     set access_token = excluded.access_token, expires_at = excluded.expires_at, minted_at = now();
$$;

create function guestly.forget_token(client_id text, access_token text) returns void
  language sql
  security definer
  set search_path = ''
  as $$
  delete from guestly.api_tokens t
   where t.client_id = forget_token.client_id and t.access_token = forget_token.access_token;
$$;

-- For people in Studio: start a new sync round for one booking (same path as the CLI and link).
create function public.guestly_retry_sync(booking_id uuid) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  result jsonb;
begin
  result := guestly.begin_manual_retry(booking_id);
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

revoke all on all functions in schema guestly from public, anon, authenticated;
grant execute on all functions in schema guestly to service_role;
revoke all on function public.guestly_retry_sync(uuid) from public, anon, authenticated;
grant execute on function public.guestly_retry_sync(uuid) to service_role;
revoke all on function public.tg_bookings__enqueue_guestly_sync() from public, anon, authenticated, service_role;

-- Idempotent by job name: cron.schedule replaces an existing job of the same name.
select cron.schedule('guestly-sync-sweep', '* * * * *', 'select guestly.sweep_due_syncs()');
