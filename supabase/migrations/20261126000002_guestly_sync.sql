-- Guestly sync: the private `guestly` schema, the sync attempt log, the shared token cache and
-- request-slot table, the invocation log and function state, and the state functions every
-- caller goes through (claim, confirm_lease, record_success, record_failure, release, manual
-- retry with ignore_calendar), the triggers that enqueue a booking's sync or content change and
-- call guestly-sync through pg_net (guestly.invoke_function), and the sweep of due syncs.
-- Concern: keeping a booking's Guestly reservation in step. Depends on 20261126000001 (bookings
-- and their sync columns); functions here read guestly.payment_record_due and guestly.money_rows
-- (20261126000004) and the hold state (20261126000006) only when called, so those may come later.

-- ---- Schema, attempt log, token cache, request slots, the sweep

-- The private `guestly` schema holds the sync's own state; every caller changes a booking's sync
-- state only through the functions below, and the database calls guestly-sync through pg_net.
create extension if not exists pg_net with schema extensions;

create extension if not exists pg_cron;

-- Private schema: not exposed through the Data API; only service_role (and the owner) may use it.
create schema guestly;

create table guestly.sync_attempts (
  id bigint generated always as identity primary key,
  booking_id uuid not null references public.bookings (id) on delete cascade,
  attempt int not null,
  -- Every request the sync sends is logged under its own operation name.
  operation text not null
    constraint sync_attempts_operation_check
    check (operation in ('create', 'update_status', 'lookup', 'update_dates', 'update_guests',
                         'relocate', 'update_guest', 'get_reservation', 'get_guest',
                         'record_payment', 'set_reference', 'set_notes')),
  started_at timestamptz not null,
  duration_ms int not null,
  http_status int,
  -- A conflict attempt is logged as such (a definite answer, like `permanent`).
  outcome text not null
    constraint sync_attempts_outcome_check
    check (outcome in ('success', 'retryable', 'permanent', 'unknown', 'conflict')),
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

alter table guestly.sync_attempts enable row level security;

alter table guestly.api_tokens enable row level security;

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

-- ---- The attempt log and unknown outcomes

-- Same signature as before: now also stamps guestly_sync_unknown_at for an unknown create.
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

-- ---- Which Edge Function the database called

-- Which call the database made to which Edge Function, and its pg_net request id. pg_net keeps
-- only anonymous responses (net._http_response: id, status, body), so without this log nobody can
-- tell that the calls for one booking answer 401 or 500 while it waits. Read by the stall
-- detector and the undelivered-alerts view (20261126000005).
create table guestly.function_invocations (
  id bigint generated always as identity primary key,
  function_name text not null,
  -- No foreign key: the insert trigger calls guestly-sync before its booking row exists.
  booking_id uuid,
  -- pg_net request id (net._http_response.id); null = the call could not be made (see error)
  request_id bigint,
  error text,
  invoked_at timestamptz not null default now()
);

create index function_invocations_booking_idx on guestly.function_invocations (booking_id, id)
  where booking_id is not null;

create index function_invocations_function_idx on guestly.function_invocations (function_name, id);

create index function_invocations_invoked_at_idx on guestly.function_invocations (invoked_at);

alter table guestly.function_invocations enable row level security;

-- ---- What guestly-sync reports about itself

-- What an Edge Function says about itself. The database cannot read a function's environment,
-- so guestly-sync reports its settings here (on its first request and at most once a minute):
-- "GUESTLY_SYNC_ENABLED is not true" becomes something the stall detector can say plainly, and
-- GUESTLY_STALL_ALERT_MINUTES reaches the detector from the same place as every other setting.
create table guestly.function_state (
  function_name text primary key,
  enabled boolean not null,
  test_mode boolean not null,
  -- e.g. {"stall_alert_minutes": 15}
  settings jsonb not null default '{}'::jsonb,
  reported_at timestamptz not null default now()
);

alter table guestly.function_state enable row level security;

create function guestly.report_function_state(
  function_name text,
  enabled boolean,
  test_mode boolean,
  settings jsonb default '{}'::jsonb
) returns void
  language sql
  security definer
  set search_path = ''
  as $$
  insert into guestly.function_state (function_name, enabled, test_mode, settings, reported_at)
  values (report_function_state.function_name, report_function_state.enabled,
          report_function_state.test_mode, coalesce(report_function_state.settings, '{}'::jsonb), now())
  on conflict (function_name) do update
     set enabled = excluded.enabled, test_mode = excluded.test_mode,
         settings = excluded.settings, reported_at = excluded.reported_at;
$$;

-- ---- Calling an Edge Function through pg_net

-- The key the database calls Edge Functions with (Vault secret `service_role_key`) may be the
-- legacy service_role JWT or a secret key (`sb_secret_…`, what new projects have).
--
-- A secret key is not a JWT: Supabase documents it in the `apikey` header, never as
-- `Authorization: Bearer` (the platform's verify_jwt check would reject it there, and the
-- functions that take it run with verify_jwt = false and check the key themselves). A legacy
-- JWT keeps its Bearer header as well, so a function still deployed with verify_jwt = true keeps
-- working while the key is changed (see docs/operations.md, "Rotating the database's key").
-- Unchanged otherwise: never raises, a missing secret is a warning and no call, and every call
-- (made or not) is logged in guestly.function_invocations for the stall detector.
create function guestly.invoke_function(function_name text, body jsonb) returns bigint
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  project_url text;
  service_key text;
  headers jsonb;
  request_id bigint;
  problem text;
begin
  begin
    -- Both secrets in one read of the view (it decrypts what it returns; every payment and
    -- booking change comes through here).
    select max(decrypted_secret) filter (where name = 'project_url'),
           max(decrypted_secret) filter (where name = 'service_role_key')
      into project_url, service_key
      from vault.decrypted_secrets where name in ('project_url', 'service_role_key');
    service_key := btrim(service_key);
    if project_url is null or service_key is null or service_key = '' then
      problem := 'Vault secrets project_url/service_role_key missing';
      raise warning 'guestly: % ; % not called', problem, function_name;
    else
      headers := jsonb_build_object('Content-Type', 'application/json', 'apikey', service_key);
      -- sb_secret_…, sb_publishable_… and any later sb_ key are API keys, not JWTs.
      if service_key not like 'sb\_%' then
        headers := headers || jsonb_build_object('Authorization', 'Bearer ' || service_key);
      end if;
      request_id := net.http_post(
        url := rtrim(project_url, '/') || '/functions/v1/' || function_name,
        body := body,
        headers := headers,
        timeout_milliseconds := 150000);
    end if;
  exception when others then
    problem := sqlerrm;
    raise warning 'guestly: could not call %: %', function_name, problem;
  end;
  begin
    insert into guestly.function_invocations (function_name, booking_id, request_id, error)
    values (invoke_function.function_name,
            case when body ->> 'bookingId' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                 then (body ->> 'bookingId')::uuid end,
            request_id, problem);
  exception when others then
    raise warning 'guestly: could not log the call to %: %', function_name, sqlerrm;
  end;
  return request_id;
end;
$$;

-- ---- Manual retry, with ignore_calendar for a calendar conflict

-- Why a booking cannot be retried by hand (not paid yet, or Guestly already holds what it
-- should), or null when it can: one answer for the retry itself and for the retry link's preview.
create function guestly.manual_retry_refusal(b public.bookings)
  returns jsonb
  language sql
  immutable
  set search_path = ''
  as $$
  select case
    when b.status = 'pending_payment' then jsonb_build_object('ok', false, 'reason', 'not_paid')
    when b.guestly_sync_status = 'synced' and b.guestly_synced_status is not distinct from b.status
      then jsonb_build_object('ok', false, 'reason', 'already_synced',
                              'reservation_id', b.guestly_reservation_id)
  end
$$;

create function guestly.begin_manual_retry(booking_id uuid, ignore_calendar boolean default false)
  returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  b public.bookings;
  refusal jsonb;
begin
  select * into b from public.bookings where id = begin_manual_retry.booking_id for update;
  if not found then
    return jsonb_build_object('ok', false, 'reason', 'not_found');
  end if;
  refusal := guestly.manual_retry_refusal(b);
  if refusal is not null then
    return refusal;
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

-- ---- The sync work: desired state and what is due

-- The reservation content a booking asks for. Keys are stable: guestly-sync compares them one by
-- one to choose Guestly's v3 endpoint (relocate, dates, guests, guest details).
create function guestly.desired_state(b public.bookings) returns jsonb
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  select jsonb_build_object(
    'listing_id', p.guestly_listing_id,
    'check_in', b.check_in,
    'check_out', b.check_out,
    'guests_count', b.guests_count,
    'guest', jsonb_build_object(
      'first_name', b.guest_first_name,
      'last_name', b.guest_last_name,
      'email', b.guest_email,
      'phone', b.guest_phone))
    from public.properties p where p.id = b.property_id
$$;

-- Content work: a live reservation whose content differs from the booking's. A booking without
-- a reservation has none (its create carries the current content); a cancelled one neither.
create function guestly.content_change_due(b public.bookings) returns boolean
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  select b.status = 'confirmed' and b.guestly_reservation_id is not null
     and guestly.desired_state(b) is distinct from b.guestly_synced_state
$$;

-- Reference work: a paid booking's reservation whose booking reference is not verified yet (set
-- after the create, since the create cannot carry it). A hold gets it once it is paid for.
create function guestly.reference_due(b public.bookings) returns boolean
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  select b.status = 'confirmed' and b.guestly_reservation_id is not null
     and b.guestly_reference_set_at is null
$$;

-- ---- Enqueueing: sync episodes and the trigger functions

-- A real change of what Guestly holds (dates, listing, guests, guest details) on a paid booking
-- follows it to Guestly through the same path as a status change: the trigger starts a sync
-- episode and calls guestly-sync through pg_net; the sweep is the safety net. An UPDATE that
-- changes none of these columns never runs the trigger function (the column list and WHEN clause
-- decide inside the executor), so its cost stays that of the UPDATE.
--
-- A change written together with the matching synced state (guestly-webhook applying what
-- Guestly itself changed) is not due: nothing is sent back.

-- The start of an episode, shared by the status and the content trigger.
create function guestly.start_sync_episode(b public.bookings) returns public.bookings
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  b.guestly_sync_pending_since := case when b.guestly_sync_status = 'pending'
                                       then coalesce(b.guestly_sync_pending_since, now()) else now() end;
  b.guestly_sync_status := 'pending';
  b.guestly_sync_error := null;
  b.guestly_sync_gave_up_at := null;
  b.guestly_sync_episode_base := coalesce(b.guestly_sync_attempts, 0);
  b.guestly_sync_episode_started_at := now();
  -- A forced create (--ignore-calendar) is for the operator's episode only, never a later change.
  b.guestly_ignore_calendar := false;
  -- Safety net: pg_net's queue is unlogged and never retried; the sweep comes back if needed.
  b.guestly_sync_next_attempt_at := now() + interval '2 minutes';
  perform guestly.invoke_function('guestly-sync', jsonb_build_object('bookingId', b.id));
  return b;
end;
$$;

-- The same start for a writer outside the triggers (a heal, a host's cancelled hold): the
-- booking `b`, as the caller changed it (no reservation any more, status to re-send), is saved
-- with its new episode in one UPDATE. The SET list is fixed: it names the columns such callers
-- change besides the episode's (guestly_reservation_id's trigger acts only on a real change).
create function guestly.save_sync_episode(b public.bookings) returns public.bookings
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  b := guestly.start_sync_episode(b);
  update public.bookings x
     set guestly_reservation_id = b.guestly_reservation_id,
         guestly_sync_lookup_needed = b.guestly_sync_lookup_needed,
         guestly_synced_state = b.guestly_synced_state,
         guestly_synced_status = b.guestly_synced_status,
         guestly_sync_status = b.guestly_sync_status,
         guestly_sync_pending_since = b.guestly_sync_pending_since,
         guestly_sync_error = b.guestly_sync_error,
         guestly_sync_gave_up_at = b.guestly_sync_gave_up_at,
         guestly_sync_episode_base = b.guestly_sync_episode_base,
         guestly_sync_episode_started_at = b.guestly_sync_episode_started_at,
         guestly_ignore_calendar = b.guestly_ignore_calendar,
         guestly_sync_next_attempt_at = b.guestly_sync_next_attempt_at
   where x.id = b.id;
  return b;
end;
$$;

-- Enqueues the sync on a status change, through start_sync_episode, and stays quiet
-- when the writer also recorded that Guestly already holds the new status (no echo).
create function public.tg_bookings__enqueue_guestly_sync() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  if new.guestly_sync_status = 'synced' and new.guestly_synced_status is not distinct from new.status
     and not guestly.content_change_due(new) then
    return new;
  end if;
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
  return guestly.start_sync_episode(new);
end;
$$;

create function public.tg_bookings__enqueue_guestly_change() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  if new.guestly_reservation_id is null then
    -- Not in Guestly yet: the create carries the new content. A create that failed for good may
    -- succeed with it (an email Guestly refused, fixed; other dates after a double booking).
    if new.guestly_sync_status = 'failed' and new.guestly_sync_gave_up_at is not null then
      return guestly.start_sync_episode(new);
    end if;
    return new;
  end if;
  if guestly.content_change_due(new) then
    return guestly.start_sync_episode(new);
  end if;
  return new;
end;
$$;

-- ---- record_failure: judged against what was claimed

create function guestly.record_failure(
  booking_id uuid,
  lease_id uuid,
  error text,
  permanent boolean,
  max_attempts int default 12,
  attempts_per_round int default 4,
  retry_not_before timestamptz default null,
  alert_details jsonb default '{}'::jsonb,
  error_kind text default null,
  claimed_status text default null,
  claimed_state jsonb default null,
  synced_state jsonb default null
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
  moved_on boolean;
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
  -- Part of the content reached Guestly before the failure (a relocate before a refused date
  -- change): that part is recorded, so Guestly's state stays known.
  b.guestly_synced_state := coalesce(record_failure.synced_state, b.guestly_synced_state);
  -- The booking changed while this round ran (other dates, a fixed email, a new status): the
  -- failure is about what it no longer asks for. Not final, no alert; due again at once, so the
  -- latest state is tried.
  moved_on := (record_failure.claimed_status is not null
               and b.status is distinct from record_failure.claimed_status)
              or (record_failure.claimed_state is not null
                  and guestly.desired_state(b) is distinct from record_failure.claimed_state);
  final := not moved_on and (conflict or record_failure.permanent
           or (episode_attempts >= max_attempts and not last_unknown_create));
  kind := case when conflict then 'conflict'
               when final then 'permanent' else 'transient' end;
  round_number := greatest(1, ceil(episode_attempts::numeric / attempts_per_round)::int);
  -- 1 min after the first round, 5 min after the second, … capped at 1 h; never before
  -- retry_not_before.
  retry_at := case when final then null
                   when moved_on then greatest(now(), record_failure.retry_not_before)
                   else greatest(now() + make_interval(secs => least(60 * power(5, round_number - 1), 3600)),
                                 record_failure.retry_not_before) end;
  update public.bookings
     set guestly_sync_status = case when moved_on then 'pending' else 'failed' end,
         guestly_synced_state = b.guestly_synced_state,
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
  if moved_on then
    perform guestly.invoke_function('guestly-sync', jsonb_build_object('bookingId', b.id));
  end if;
  return jsonb_build_object('recorded', true, 'final', final, 'next_attempt_at', retry_at,
                            'error_kind', kind, 'moved_on', moved_on);
end;
$$;

-- ---- claim_sync and confirm_lease (holds included)

-- The hold goes through the same state functions as every other sync. claim_sync hands out a
-- booking waiting for payment when its hold is to be placed or released; confirm_lease also
-- answers the hold status (a request for a hold is stopped right before it leaves when the
-- guest paid or the Checkout ended meanwhile); record_success records what Guestly holds now;
-- record_hold_failure decides a hold's failures (a refused hold is the website's answer, never
-- an admin's alert, and a hold is never retried past the time it would have run out).

-- Claims the booking's Guestly work. With a hold: a booking waiting for payment is
-- claimed only to place or release its hold; a hold whose time ran out is not placed any more.
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
  country text;
  money jsonb;
  elsewhere jsonb;
begin
  select * into b from public.bookings where id = claim_sync.booking_id for update;
  if not found then
    return jsonb_build_object('claimed', false, 'reason', 'not_found');
  end if;
  if b.guestly_sync_lease_until > now() then
    return jsonb_build_object('claimed', false, 'reason', 'leased');
  end if;
  if b.status = 'pending_payment' then
    if b.guestly_hold_status = 'placing' and guestly.hold_deadline(b) <= now() then
      update public.bookings
         set guestly_hold_status = 'expired', guestly_sync_next_attempt_at = null
       where id = claim_sync.booking_id;
      return jsonb_build_object('claimed', false, 'reason', 'not_paid');
    end if;
    if b.guestly_hold_status is distinct from 'placing'
       and b.guestly_hold_status is distinct from 'releasing' then
      return jsonb_build_object('claimed', false, 'reason', 'not_paid');
    end if;
  end if;
  if b.guestly_sync_status = 'synced' and b.guestly_synced_status is not distinct from b.status
     and b.guestly_hold_status is distinct from 'releasing'
     and not guestly.content_change_due(b) and not guestly.payment_record_due(b)
     and not guestly.reference_due(b) then
    return jsonb_build_object('claimed', false, 'reason', 'already_synced',
                              'reservation_id', b.guestly_reservation_id);
  end if;
  -- A lease still recorded here was abandoned (success, failure and release all clear it): its
  -- holder may have created the reservation and died before recording it, so look up first.
  b.guestly_sync_lookup_needed := b.guestly_sync_lookup_needed or b.guestly_sync_lease_id is not null;
  if b.guestly_sync_lease_id is not null and b.guestly_reservation_id is null then
    b.guestly_sync_unknown_at := now();
  end if;
  update public.bookings
     set guestly_sync_lease_id = new_lease,
         guestly_sync_lease_until = now() + make_interval(secs => lease_seconds),
         guestly_sync_lookup_needed = b.guestly_sync_lookup_needed,
         guestly_sync_unknown_at = b.guestly_sync_unknown_at,
         guestly_sending_state = guestly.desired_state(b)
   where id = claim_sync.booking_id;
  select p.guestly_listing_id, p.country_code into listing_id, country
    from public.properties p where p.id = b.property_id;
  -- The reservations other bookings record (or held) on the listings and nights this booking's
  -- lookup searches: never this booking's, whatever stay and guest they show.
  select coalesce(jsonb_agg(distinct r.id), '[]') into elsewhere
    from public.bookings o
    join public.properties op on op.id = o.property_id
    cross join lateral (values (o.guestly_reservation_id), (o.guestly_hold_reservation_id)) r(id)
   where o.id <> b.id and r.id is not null
     and (o.property_id = b.property_id
          or b.guestly_create_keys @> jsonb_build_array(
               jsonb_build_object('listing_id', op.guestly_listing_id)))
     and o.check_in < greatest(b.check_out, (select max((k ->> 'check_out')::date)
                                               from jsonb_array_elements(b.guestly_create_keys) k))
     and o.check_out > least(b.check_in, (select min((k ->> 'check_in')::date)
                                            from jsonb_array_elements(b.guestly_create_keys) k));
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', m.id, 'kind', m.kind, 'amount', m.amount, 'currency', m.currency,
           'reference', m.reference, 'unknown_at', m.unknown_at)
           order by m.created_at, m.kind = 'refund', m.reference), '[]')
    into money
    from guestly.payments m where m.booking_id = b.id and m.status = 'pending';
  return jsonb_build_object(
    'claimed', true,
    'lease_id', new_lease,
    'booking', to_jsonb(b) || jsonb_build_object(
      'guestly_listing_id', listing_id,
      'guestly_property_country', country,
      'guestly_reservations_elsewhere', elsewhere,
      'guestly_desired_state', guestly.desired_state(b),
      'guestly_pending_payments', money,
      'guestly_money', guestly.money_rows(b)));
end;
$$;

-- Checks the lease before every change sent to Guestly; the answer also carries the hold status.
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
    returning b.status, b.guestly_hold_status
  )
  select coalesce(
    (select jsonb_build_object('held', true, 'status', status, 'hold_status', guestly_hold_status)
       from renewed),
    jsonb_build_object('held', false, 'status', null, 'hold_status', null));
$$;

-- Remembers the stay key a create is about to send (before it leaves: a crash or a lost answer
-- after it must still let the lookup find what it made). Under the booking's lease; distinct.
create function guestly.note_create_key(booking_id uuid, lease_id uuid, stay_key jsonb)
  returns boolean
  language sql
  security definer
  set search_path = ''
  as $$
  with noted as (
    update public.bookings b
       set guestly_create_keys = case
             when b.guestly_create_keys @> jsonb_build_array(note_create_key.stay_key)
               then b.guestly_create_keys
             else b.guestly_create_keys || jsonb_build_array(note_create_key.stay_key) end
     where b.id = note_create_key.booking_id
       and b.guestly_sync_lease_id = note_create_key.lease_id
    returning 1
  )
  select exists (select 1 from noted);
$$;

-- ---- record_success

create function guestly.record_success(
  booking_id uuid,
  lease_id uuid,
  reservation_id text,
  synced_status text,
  synced_state jsonb default null,
  -- The round saw our booking reference on reservation_id (set and read back).
  reference_set boolean default false
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  b public.bookings;
  more_work boolean;
  hold text;
  forget boolean := false;
begin
  select * into b from public.bookings where id = record_success.booking_id for update;
  if not found or b.guestly_sync_lease_id is distinct from record_success.lease_id then
    return jsonb_build_object('recorded', false, 'reason', 'lease_lost');
  end if;
  -- A reservation another booking records is never this one's (one reservation, one booking:
  -- the unique index): answered, not raised, so the round fails with a clear message.
  if record_success.reservation_id is not null
     and record_success.reservation_id is distinct from b.guestly_reservation_id
     and exists (select 1 from public.bookings o
                  where o.guestly_reservation_id = record_success.reservation_id
                    and o.id <> b.id) then
    return jsonb_build_object('recorded', false, 'reason', 'bound_elsewhere');
  end if;
  -- Another reservation than the one whose reference we saw: its reference is still to be set
  -- (recorded first, so a crash before the reference leaves it due, not lost).
  if record_success.reservation_id is distinct from b.guestly_reservation_id
     and record_success.reservation_id is not null then
    b.guestly_reference_set_at := null;
  end if;
  b.guestly_reservation_id := coalesce(record_success.reservation_id, b.guestly_reservation_id);
  if record_success.reference_set and b.guestly_reservation_id is not null then
    b.guestly_reference_set_at := now();
  end if;
  hold := b.guestly_hold_status;
  if record_success.synced_status = 'pending_payment' and b.guestly_reservation_id is not null then
    -- The hold is in Guestly (placed now, or found by a lookup after an unknown create).
    if hold is distinct from 'releasing' then
      hold := 'held';
    end if;
    if b.guestly_hold_until is null or b.guestly_hold_status in ('placing', 'expired') then
      b.guestly_hold_until := now() + make_interval(mins => coalesce(b.guestly_hold_minutes, 0));
    end if;
    b.guestly_hold_reservation_id := b.guestly_reservation_id;
  elsif record_success.synced_status in ('cancelled', 'refunded')
        and hold in ('placing', 'held', 'releasing', 'expired') then
    hold := 'released';
    forget := b.status not in ('cancelled', 'refunded');
  elsif record_success.synced_status = 'confirmed'
        and hold in ('placing', 'held', 'releasing', 'expired')
        and (b.guestly_hold_reservation_id is null
             or b.guestly_reservation_id = b.guestly_hold_reservation_id) then
    -- The payment confirmed the hold itself, or came before any hold was placed (the hold's
    -- work is over either way). A new reservation made after a placed hold ran out leaves the
    -- hold `expired`.
    hold := 'confirmed';
  end if;
  if forget then
    b.guestly_reservation_id := null;
    b.guestly_synced_state := null;
    b.guestly_reference_set_at := null;
  else
    -- Nothing recorded and nothing given (a caller that does not track content): Guestly holds
    -- what the booking says, as for the reservations backfilled by 20261202000070.
    b.guestly_synced_state := coalesce(record_success.synced_state, b.guestly_synced_state,
      case when b.guestly_reservation_id is not null then guestly.desired_state(b) end);
  end if;
  more_work := case
    when forget then b.status = 'confirmed'
    when hold = 'releasing' then true
    else b.status is distinct from record_success.synced_status
      or guestly.content_change_due(b) or guestly.payment_record_due(b)
      or guestly.reference_due(b) end;
  update public.bookings
     set guestly_reservation_id = b.guestly_reservation_id,
         guestly_reference_set_at = b.guestly_reference_set_at,
         -- A reservation is recorded: the creates' keys are answered (forget: a new episode).
         guestly_create_keys = case when record_success.reservation_id is not null or forget
                                    then '[]'::jsonb else b.guestly_create_keys end,
         guestly_synced_status = case when forget then null else record_success.synced_status end,
         guestly_synced_state = b.guestly_synced_state,
         guestly_sync_status = case when more_work or forget then 'pending' else 'synced' end,
         guestly_sync_error = null,
         guestly_sync_error_kind = null,
         guestly_synced_at = now(),
         guestly_sync_lookup_needed = false,
         guestly_sync_gave_up_at = null,
         guestly_sync_next_attempt_at = case when more_work then now() + interval '2 minutes' end,
         guestly_sync_lease_id = null,
         guestly_sync_lease_until = null,
         guestly_hold_status = hold,
         guestly_hold_until = b.guestly_hold_until,
         guestly_hold_reservation_id = b.guestly_hold_reservation_id,
         guestly_hold_error = case when hold is distinct from b.guestly_hold_status then null
                                   else b.guestly_hold_error end
   where id = record_success.booking_id;
  return jsonb_build_object('recorded', true, 'more_work', more_work, 'hold_status', hold);
end;
$$;

-- ---- Triggers on bookings: status changes

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

-- ---- Triggers on bookings: ignore_calendar ends with the episode

create trigger bookings_clear_ignore_calendar
  before update of guestly_sync_status on public.bookings
  for each row when (new.guestly_ignore_calendar)
  execute function guestly.tg_bookings__clear_ignore_calendar();

-- ---- Triggers on bookings: content changes

-- Sorts before tg_bookings__track_guestly_pending and the episode triggers (BEFORE triggers fire
-- in name order). A status change fires the status trigger instead, whose round sees the rest.
create trigger tg_bookings__enqueue_guestly_change
  before update of check_in, check_out, guests_count, property_id, guest_first_name,
    guest_last_name, guest_email, guest_phone on public.bookings
  for each row
  when (old.status = 'confirmed' and new.status = 'confirmed'
        and (old.check_in, old.check_out, old.guests_count, old.property_id, old.guest_first_name,
             old.guest_last_name, old.guest_email, old.guest_phone)
            is distinct from
            (new.check_in, new.check_out, new.guests_count, new.property_id, new.guest_first_name,
             new.guest_last_name, new.guest_email, new.guest_phone))
  execute function public.tg_bookings__enqueue_guestly_change();
