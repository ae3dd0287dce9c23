-- The return path: what Guestly tells us through its webhooks. The private `guestly_events`
-- schema holds the ledger of every verified delivery, keyed by the message id (webhook-id /
-- svix-id, the same on every retry), recorded before the function answers. Applying an event to
-- its booking happens afterwards (guestly_events.apply_guestly_change, next migration); a row
-- without an outcome is applied again by the sweep, so a crash between the answer and the apply
-- loses nothing.

create schema guestly_events;
revoke all on schema guestly_events from public;
grant usage on schema guestly_events to service_role;

create table guestly_events.events (
  -- The delivery's message id: a redelivery of the same message is the same row.
  message_id text primary key,
  event_type text not null,
  -- The payload's own event id, publishedAt and reservation, as Guestly sent them.
  event_id text,
  reservation_id text,
  published_at timestamptz,
  sub_types text[] not null default '{}',
  payload jsonb not null
    constraint events_payload_check check (jsonb_typeof(payload) = 'object'),
  received_at timestamptz not null default now(),
  -- Null until the event is dealt with; the sweep re-applies such rows.
  outcome text
    constraint events_outcome_check
    check (outcome in ('applied', 'no_change', 'stale', 'ignored')),
  -- Why: not_ours, unknown_event_type, reservation_not_found, booking_not_live, …
  reason text,
  booking_id uuid references public.bookings (id) on delete set null,
  -- What applying changed on the booking: {"status": ["confirmed", "cancelled"], …}.
  changes jsonb,
  applied_at timestamptz,
  apply_attempts int not null default 0,
  last_error text,
  next_attempt_at timestamptz
);
-- Ordering: the newest event already applied for a reservation.
create index events_reservation_published_idx on guestly_events.events (reservation_id, published_at)
  where outcome in ('applied', 'no_change');
-- The sweep reads only rows still waiting.
create index events_waiting_idx on guestly_events.events (next_attempt_at) where outcome is null;
create index events_booking_id_idx on guestly_events.events (booking_id);

alter table guestly_events.events enable row level security;
revoke all on guestly_events.events from public, anon, authenticated;
grant select on guestly_events.events to service_role;

-- The event types the function applies; any other is recorded and ignored.
create function guestly_events.is_applied_type(event_type text) returns boolean
  language sql
  immutable
  set search_path = ''
  as $$ select event_type in ('reservation.created.v2', 'reservation.updated.v2') $$;

-- Records one verified delivery. Returns {duplicate, pending}: pending = the event still has to
-- be applied (false for a redelivery of a handled message and for an unknown type).
create function guestly_events.record_event(
  message_id text,
  event_type text,
  event_id text,
  reservation_id text,
  published_at timestamptz,
  sub_types text[],
  payload jsonb
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  known boolean := guestly_events.is_applied_type(record_event.event_type);
  first_outcome text;
begin
  insert into guestly_events.events
    (message_id, event_type, event_id, reservation_id, published_at, sub_types, payload,
     outcome, reason, applied_at, next_attempt_at)
  values (record_event.message_id, record_event.event_type, record_event.event_id,
          record_event.reservation_id, record_event.published_at,
          coalesce(record_event.sub_types, '{}'), record_event.payload,
          case when known then null else 'ignored' end,
          case when known then null else 'unknown_event_type' end,
          case when known then null else now() end,
          -- Safety net: if the apply after the answer never happens, the sweep does it.
          case when known then now() + interval '1 minute' end)
  on conflict on constraint events_pkey do nothing;
  if not found then
    select e.outcome into first_outcome
      from guestly_events.events e where e.message_id = record_event.message_id;
    return jsonb_build_object('duplicate', true, 'pending', first_outcome is null,
                              'outcome', first_outcome);
  end if;
  return jsonb_build_object('duplicate', false, 'pending', known,
                            'outcome', case when known then null else 'ignored' end);
end;
$$;

-- What the function needs to apply a recorded event: the event, and the booking already bound
-- to its reservation (null: the function looks the reservation up in Guestly).
create function guestly_events.event_to_apply(message_id text) returns jsonb
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  select coalesce((
    select jsonb_build_object(
      'found', true,
      'outcome', e.outcome,
      'event_type', e.event_type,
      'reservation_id', e.reservation_id,
      'published_at', e.published_at,
      'payload', e.payload,
      'bound_booking_id', (select b.id from public.bookings b
                            where b.guestly_reservation_id = e.reservation_id))
      from guestly_events.events e where e.message_id = event_to_apply.message_id),
    jsonb_build_object('found', false))
$$;

-- The apply could not run (Guestly unreachable for the lookup, a database error): come back
-- later, with growing spacing (1, 2, 4, … min, capped at 1 h).
create function guestly_events.record_apply_failure(message_id text, error text) returns void
  language sql
  security definer
  set search_path = ''
  as $$
  update guestly_events.events e
     set apply_attempts = e.apply_attempts + 1,
         last_error = left(record_apply_failure.error, 2000),
         next_attempt_at = now() + make_interval(secs => least(60 * power(2, e.apply_attempts), 3600))
   where e.message_id = record_apply_failure.message_id and e.outcome is null;
$$;

-- The cron body: events still without an outcome whose time came are handed to the function
-- again (one call per batch). Like guestly.sweep_due_syncs, it comes back in 2 minutes of real
-- time if that call is lost too; as_of only chooses what is due.
create function guestly_events.sweep_unapplied_events(
  batch_size int default 50,
  as_of timestamptz default now()
) returns int
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  ids text[];
begin
  with due as (
    select e.message_id from guestly_events.events e
     where e.outcome is null and e.next_attempt_at <= as_of
     order by e.next_attempt_at
     limit batch_size
       for update skip locked),
  bumped as (
    update guestly_events.events e
       set next_attempt_at = now() + interval '2 minutes'
      from due where e.message_id = due.message_id
    returning e.message_id)
  select array_agg(message_id) into ids from bumped;
  if ids is null then
    return 0;
  end if;
  perform guestly.invoke_function('guestly-webhook', jsonb_build_object('reapply', to_jsonb(ids)));
  return cardinality(ids);
end;
$$;

revoke all on all functions in schema guestly_events from public, anon, authenticated;
grant execute on all functions in schema guestly_events to service_role;

-- Idempotent by job name.
select cron.schedule('guestly-webhook-sweep', '* * * * *',
                     'select guestly_events.sweep_unapplied_events()');
