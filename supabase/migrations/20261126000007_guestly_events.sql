-- Guestly events: the private `guestly_events` schema with the ledger of every verified
-- Guestly webhook delivery, recording and sweeping events, guestly_events.apply_guestly_change
-- (what Guestly changed, applied to our booking) and the view public.guestly_changes_from_guestly.
-- Concern: the return path from Guestly. Depends on 20261126000001, 20261126000002 and
-- 20261126000005 (alerts it raises).

-- ---- The ledger: recording and sweeping events

-- The return path: what Guestly tells us through its webhooks. The private `guestly_events`
-- schema holds the ledger of every verified delivery, keyed by the message id (webhook-id /
-- svix-id, the same on every retry), recorded before the function answers. Applying an event to
-- its booking happens afterwards (guestly_events.apply_guestly_change, next migration); a row
-- without an outcome is applied again by the sweep, so a crash between the answer and the apply
-- loses nothing.

create schema guestly_events;

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
  next_attempt_at timestamptz,
  -- Where the event came from. A change made in Guestly whose webhook never arrived is found by
  -- the reconciliation and applied exactly as the webhook would have been; it is recorded in this
  -- same ledger, so the events view, sync:status and the attempt history show it next to the
  -- delivered ones.
  origin text not null default 'webhook'
    constraint events_origin_check check (origin in ('webhook', 'reconciliation'))
);

-- Ordering: the newest event already applied for a reservation.
create index events_reservation_published_idx on guestly_events.events (reservation_id, published_at)
  where outcome in ('applied', 'no_change');

-- The sweep reads only rows still waiting.
create index events_waiting_idx on guestly_events.events (next_attempt_at) where outcome is null;

create index events_booking_id_idx on guestly_events.events (booking_id);

alter table guestly_events.events enable row level security;

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

-- A reservation of ours that carries no booking reference yet (set only after the create, which
-- cannot carry it) and is not recorded on any booking: the booking whose sync is finding out
-- whether its create happened (an unknown outcome being looked up, or a round in flight) on
-- exactly that stay — a live reservation holds its nights, so on a listing the stay names at most
-- one. The stay is the booking's now or one a create sent before it changed (guestly_create_keys).
-- Null unless exactly one booking is waiting so; its event then waits for the sync to
-- record the reservation (apply_guestly_change defers it), never creating anything.
create function guestly_events.booking_awaiting_stay(listing_id text, check_in date, check_out date)
  returns uuid
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  select case when count(*) = 1 then min(b.id::text)::uuid end
    from public.bookings b
    join public.properties p on p.id = b.property_id
   where ((p.guestly_listing_id = booking_awaiting_stay.listing_id
           and b.check_in = booking_awaiting_stay.check_in
           and b.check_out = booking_awaiting_stay.check_out)
          or b.guestly_create_keys @> jsonb_build_array(jsonb_build_object(
               'listing_id', booking_awaiting_stay.listing_id,
               'check_in', booking_awaiting_stay.check_in::text,
               'check_out', booking_awaiting_stay.check_out::text)))
     and b.guestly_reservation_id is null
     and (b.guestly_sync_lookup_needed or b.guestly_sync_lease_until > now())
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

-- ---- Helpers for applying a change

-- Guestly statuses after which the reservation no longer holds the stay.
create function guestly_events.ends_stay(guestly_status text) returns boolean
  language sql
  immutable
  set search_path = ''
  as $$ select guestly_status in ('canceled', 'declined', 'expired') $$;

-- What an alert about a Guestly change carries (the email renders it; notifications/).
create function guestly_events.alert_details(
  e guestly_events.events,
  b public.bookings,
  changed jsonb,
  stay jsonb
) returns jsonb
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  select jsonb_build_object(
    'message_id', e.message_id,
    'event_type', e.event_type,
    'reservation_id', e.reservation_id,
    'published_at', e.published_at,
    'changes', changed,
    'guestly_status', stay ->> 'status',
    'canceled_by', stay ->> 'canceled_by',
    'payment_intent_id', b.stripe_payment_intent_id,
    'amount', b.amount_total,
    'currency', b.currency,
    -- The Stripe Dashboard link needs the payment's mode.
    'livemode', (select s.livemode from payments.stripe_events s
                  where b.stripe_payment_intent_id is not null
                    and s.payment_intent_id = b.stripe_payment_intent_id
                  order by s.received_at desc limit 1))
$$;

-- An event that cannot be applied yet (the sync is at the booking): counted and due again in a
-- minute, for at most 30 tries. False when its tries are used up: the caller decides then.
create function guestly_events.defer_apply(message_id text, why text) returns boolean
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  update guestly_events.events x
     set apply_attempts = x.apply_attempts + 1,
         last_error = defer_apply.why,
         next_attempt_at = now() + interval '1 minute'
   where x.message_id = defer_apply.message_id and x.apply_attempts < 30;
  return found;
end;
$$;

-- ---- The events view

-- What Guestly changed, newest first, with where each event came from.
create view public.guestly_changes_from_guestly
  with (security_invoker = true)
  as
select
  e.received_at,
  e.event_type,
  e.reservation_id,
  e.published_at,
  e.sub_types,
  e.outcome,
  e.reason,
  e.booking_id,
  e.changes,
  e.applied_at,
  e.apply_attempts,
  e.last_error,
  e.message_id,
  e.origin
from guestly_events.events e;

-- ---- apply_guestly_change

-- A late Guestly event about a booking's released hold cancels nothing. release_hold forgets the
-- hold's reservation (guestly_reservation_id becomes null, guestly_hold_reservation_id keeps it),
-- so the event finds the booking by our reference only; if the guest paid since, the booking is
-- confirmed and its new create perhaps not recorded yet — the hold's cancellation would have
-- cancelled it.
create function guestly_events.apply_guestly_change(
  message_id text,
  booking_ref uuid default null,
  stay jsonb default '{}'::jsonb,
  ignore_reason text default null
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  e guestly_events.events;
  b public.bookings;
  nb public.bookings;
  newest timestamptz;
  result_outcome text;
  result_reason text;
  changed jsonb := '{}'::jsonb;
  old_nights int;
  new_nights int;
  total_minor bigint;
  price_differs boolean := false;
  more_work boolean;
  live boolean;
  known jsonb;
  learned jsonb;
  reported jsonb;
  older_than_known boolean;
  website_ahead text[] := array[]::text[];
  field text;
  overridden boolean := false;
  -- Fields Guestly reports at a value that is neither ours on its way nor what it held: a host's
  -- change the website's newer one overrides. Field → [Guestly's value, the website's].
  host_overridden jsonb := '{}'::jsonb;
begin
  select * into e from guestly_events.events x where x.message_id = apply_guestly_change.message_id
     for update;
  if not found then
    raise exception 'no recorded Guestly event %', apply_guestly_change.message_id
      using errcode = 'no_data_found';
  end if;
  if e.outcome is not null then
    return jsonb_build_object('duplicate', true, 'outcome', e.outcome, 'reason', e.reason,
                              'booking_id', e.booking_id, 'changes', e.changes);
  end if;

  if ignore_reason is not null then
    result_outcome := 'ignored';
    result_reason := ignore_reason;
  else
    -- One reservation's events are applied one at a time, so the ordering check below holds.
    perform pg_advisory_xact_lock(hashtext('guestly_events:' || coalesce(e.reservation_id, '')));
    select * into b from public.bookings x where x.guestly_reservation_id = e.reservation_id
       for update;
    if not found and booking_ref is not null then
      select * into b from public.bookings x where x.id = booking_ref for update;
      if found and b.guestly_reservation_id is not null then
        -- Our booking already has another reservation: this one is a copy we do not hold.
        b := null;
        result_reason := 'booking_holds_another_reservation';
      elsif found and b.guestly_hold_reservation_id = e.reservation_id then
        -- The booking's own hold, released (the Checkout ended) or run out, and no longer its
        -- reservation: its end is not the stay's. A late delivery of that cancellation must not
        -- cancel a booking the guest has paid since (its new create may not be recorded yet).
        b := null;
        result_reason := 'released_hold';
      end if;
    end if;
    if b.id is null then
      result_outcome := 'ignored';
      result_reason := coalesce(result_reason, 'not_ours');
    end if;
  end if;

  if result_outcome is null then
    select max(x.published_at) into newest from guestly_events.events x
     where x.reservation_id = e.reservation_id and x.outcome in ('applied', 'no_change')
       and x.message_id <> e.message_id;
    if e.published_at < newest then
      -- A newer event already set this reservation's state: this older one must not undo it.
      result_outcome := 'stale';
      result_reason := 'older_than_applied';
    end if;
  end if;

  -- The host cancelled our hold in Guestly (or Guestly declined it) before the payment confirmed
  -- it: the booking lets go of the reservation (as of a lapsed hold: guestly_hold_reservation_id
  -- keeps it on record) and the hold is `cancelled`, so guestly-hold tells the website not to
  -- take payment. A payment (before or after this) never confirms the cancelled reservation: the
  -- sync creates a new one (or finds the nights taken: a double booking), and a paid booking
  -- alerts the admin (tg_bookings__alert_paid_after_hold_cancelled, 20261126000006). Our own
  -- release (`releasing`) cancels the hold too: that echo is no host's doing.
  if result_outcome is null and b.guestly_synced_status = 'pending_payment'
     and b.guestly_reservation_id = e.reservation_id
     and b.status in ('pending_payment', 'confirmed')
     and stay ->> 'status' in ('canceled', 'declined')
     and b.guestly_hold_status is distinct from 'releasing' then
    -- A sync is at the hold right now (confirming it after the payment): whether Guestly took
    -- that confirm is known after its pass. Later.
    if coalesce(b.guestly_sync_lease_until > now(), false)
       and guestly_events.defer_apply(e.message_id, 'waiting for the sync''s pass on the hold') then
      return jsonb_build_object('deferred', true, 'booking_id', b.id);
    end if;
    perform guestly.forget_cancelled_hold(b.id, null, e.reservation_id, stay ->> 'canceled_by');
    if b.status = 'confirmed' then
      -- Paid already: the stay needs a reservation of its own now.
      select * into nb from public.bookings x where x.id = b.id;
      perform guestly.save_sync_episode(nb);
    end if;
    result_outcome := 'applied';
    result_reason := 'hold_cancelled_in_guestly';
    changed := jsonb_build_object('hold_status', jsonb_build_array(b.guestly_hold_status, 'cancelled'));
  end if;

  if result_outcome is null then
    nb := b;
    -- While Guestly holds only our hold (its confirmation still on its way after the payment),
    -- a hold that ran out (`expired`) is not the stay ending: the sync's confirm re-checks the
    -- nights, and a channel that took them meanwhile is a double booking, not a cancellation.
    if b.status = 'confirmed' and guestly_events.ends_stay(stay ->> 'status')
       and b.guestly_synced_status is distinct from 'pending_payment' then
      nb.status := 'cancelled';
    end if;
    live := nb.status = 'confirmed';
    -- A field is Guestly's own change only if it differs from what we knew Guestly held — not
    -- from the booking: while our own change is on its way (dates sent, guests not yet), Guestly
    -- still reports the old guests, and that is no change of Guestly's. An event published
    -- before the sync last learned Guestly's state (guestly_synced_at) tells us nothing newer.
    known := coalesce(b.guestly_synced_state, guestly.desired_state(b));
    reported := jsonb_strip_nulls(jsonb_build_object(
      'check_in', (stay ->> 'check_in')::date,
      'check_out', (stay ->> 'check_out')::date,
      'guests_count', (stay ->> 'guests_count')::int));
    learned := known || reported;
    older_than_known := e.published_at < b.guestly_synced_at;
    -- Fields the website changed that Guestly has not confirmed yet, while a sync is sending them
    -- (it holds the lease) or will (its episode is open): Guestly's report of such a field is our
    -- own change echoing back — perhaps an older one, the website having moved on during the pass
    -- (dates D0 → D1 sent, D2 chosen meanwhile: the echo says D1) — or a host's change that the
    -- website's newer one overrides on its way. guestly_synced_state is written only at the end
    -- of a pass, so it cannot tell; applying the report would undo the newer change here, and
    -- the sync would never send it. A sync that gave up sends nothing: Guestly's report counts.
    if coalesce(b.guestly_sync_lease_until > now(), false)
       or (b.guestly_sync_status <> 'synced' and b.guestly_sync_gave_up_at is null) then
      select coalesce(array_agg(f), array[]::text[]) into website_ahead
        from unnest(array['check_in', 'check_out', 'guests_count']) f
       where guestly.desired_state(b) -> f is distinct from known -> f;
      -- The stay's dates go together: never one from each side.
      if website_ahead && array['check_in', 'check_out'] then
        website_ahead := website_ahead || array['check_in', 'check_out'];
      end if;
    end if;
    if live and not coalesce(older_than_known, false) then
      foreach field in array array['check_in', 'check_out', 'guests_count'] loop
        if reported ? field and reported -> field is distinct from known -> field then
          if field = any(website_ahead) then
            overridden := true;
            -- Our echo equals what we send now, what the latest pass set out to send (the
            -- website may have moved on during it), or what Guestly held (above); anything
            -- else is the host's, and the website's value still goes to Guestly: the admin
            -- must know.
            if reported -> field is distinct from guestly.desired_state(b) -> field
               and reported -> field is distinct from b.guestly_sending_state -> field then
              host_overridden := host_overridden || jsonb_build_object(field,
                jsonb_build_array(reported -> field, guestly.desired_state(b) -> field));
            end if;
          elsif field = 'check_in' then
            nb.check_in := (reported ->> 'check_in')::date;
          elsif field = 'check_out' then
            nb.check_out := (reported ->> 'check_out')::date;
          else
            nb.guests_count := (reported ->> 'guests_count')::int;
          end if;
        end if;
      end loop;
    end if;
    if nb.status is distinct from b.status then
      changed := changed || jsonb_build_object('status', jsonb_build_array(b.status, nb.status));
    end if;
    if nb.check_in is distinct from b.check_in then
      changed := changed || jsonb_build_object('check_in', jsonb_build_array(b.check_in, nb.check_in));
    end if;
    if nb.check_out is distinct from b.check_out then
      changed := changed || jsonb_build_object('check_out', jsonb_build_array(b.check_out, nb.check_out));
    end if;
    if nb.guests_count is distinct from b.guests_count then
      changed := changed || jsonb_build_object('guests_count',
                                               jsonb_build_array(b.guests_count, nb.guests_count));
    end if;
    if changed = '{}'::jsonb then
      -- Our own change echoed back, or nothing we follow (a live reservation of a booking that
      -- is cancelled here: our cancellation is on its way to Guestly).
      result_outcome := 'no_change';
      result_reason := case when b.status <> 'confirmed' and not guestly_events.ends_stay(stay ->> 'status')
                            then 'booking_not_live'
                            when overridden then 'website_change_on_its_way' end;
      -- Still worth knowing: what Guestly holds now (an echo of our own change in flight).
      if b.guestly_reservation_id is not null and not coalesce(older_than_known, false)
         and learned is distinct from b.guestly_synced_state then
        update public.bookings x set guestly_synced_state = learned where x.id = b.id;
      end if;
    elsif b.guestly_reservation_id is null
          and (b.guestly_sync_lease_until > now() or b.guestly_sync_lookup_needed) then
      -- The sync has not recorded this reservation yet (its create is in flight, or its answer
      -- was lost): changing the booking under it now could make it create again. Later.
      if guestly_events.defer_apply(e.message_id, 'waiting for the sync to record the reservation') then
        return jsonb_build_object('deferred', true, 'booking_id', b.id);
      end if;
      result_outcome := 'ignored';
      result_reason := 'reservation_never_recorded';
    end if;
  end if;

  if result_outcome is null then
    result_outcome := 'applied';
    -- What Guestly holds now: what we knew, with what it just told us.
    if b.guestly_reservation_id is not null then
      nb.guestly_synced_state := learned;
    end if;
    if nb.status is distinct from b.status then
      nb.guestly_synced_status := nb.status;
    end if;
    -- Anything else the booking still owes Guestly (a change of our own, money, a sync in
    -- flight) keeps its sync open; otherwise the booking is in step with Guestly.
    more_work := nb.guestly_synced_status is distinct from nb.status
      or guestly.content_change_due(nb) or guestly.payment_record_due(nb)
      or guestly.reference_due(nb)
      or coalesce(nb.guestly_sync_lease_until > now(), false);
    if not more_work then
      nb.guestly_sync_status := 'synced';
      nb.guestly_sync_error := null;
      nb.guestly_sync_error_kind := null;
      nb.guestly_sync_next_attempt_at := null;
      nb.guestly_sync_gave_up_at := null;
    end if;
    update public.bookings x
       set status = nb.status,
           check_in = nb.check_in,
           check_out = nb.check_out,
           guests_count = nb.guests_count,
           guestly_synced_state = nb.guestly_synced_state,
           guestly_synced_status = nb.guestly_synced_status,
           guestly_sync_status = nb.guestly_sync_status,
           guestly_sync_error = nb.guestly_sync_error,
           guestly_sync_error_kind = nb.guestly_sync_error_kind,
           guestly_sync_next_attempt_at = nb.guestly_sync_next_attempt_at,
           guestly_sync_gave_up_at = nb.guestly_sync_gave_up_at
     where x.id = b.id;

    if changed ? 'status' and b.amount_total > 0 then
      insert into guestly.admin_alerts (booking_id, kind, details)
      values (b.id, 'cancelled_in_guestly', guestly_events.alert_details(e, b, changed, stay));
      perform guestly.invoke_function('notify-admin', '{}'::jsonb);
    elsif live and (changed ? 'check_in' or changed ? 'check_out' or changed ? 'guests_count') then
      old_nights := b.check_out - b.check_in;
      new_nights := nb.check_out - nb.check_in;
      total_minor := (stay ->> 'total_minor')::bigint;
      price_differs := case when total_minor is not null then total_minor <> b.amount_total
                            else old_nights <> new_nights end;
      if price_differs then
        insert into guestly.admin_alerts (booking_id, kind, details)
        values (b.id, 'guestly_change_price_differs',
                guestly_events.alert_details(e, b, changed, stay) || jsonb_build_object(
                  'old_nights', old_nights, 'new_nights', new_nights,
                  'guestly_total_minor', total_minor,
                  -- At the booked nightly rate: what the stay would cost now.
                  'estimated_total_minor', round(b.amount_total::numeric * new_nights / old_nights)));
        perform guestly.invoke_function('notify-admin', '{}'::jsonb);
      end if;
    end if;
  end if;

  if result_outcome in ('applied', 'no_change') and host_overridden <> '{}'::jsonb then
    insert into guestly.admin_alerts (booking_id, kind, details)
    values (b.id, 'guestly_change_overridden',
            guestly_events.alert_details(e, b, changed, stay)
              || jsonb_build_object('overridden', host_overridden));
    perform guestly.invoke_function('notify-admin', '{}'::jsonb);
  end if;

  -- The hold itself ran out in Guestly (the booking keeps waiting, or its confirm is on its
  -- way): the website and the operator see it at once, not at the next expiry sweep.
  if result_outcome in ('applied', 'no_change') and b.guestly_synced_status = 'pending_payment'
     and b.guestly_hold_status = 'held' and stay ->> 'status' = 'expired' then
    update public.bookings x set guestly_hold_status = 'expired' where x.id = b.id;
  end if;

  update guestly_events.events x
     set outcome = result_outcome,
         reason = result_reason,
         booking_id = b.id,
         changes = case when result_outcome = 'applied' then changed end,
         applied_at = now(),
         next_attempt_at = null,
         last_error = null
   where x.message_id = e.message_id;
  return jsonb_build_object('duplicate', false, 'outcome', result_outcome, 'reason', result_reason,
                            'booking_id', b.id,
                            'changes', case when result_outcome = 'applied' then changed end,
                            'price_differs', price_differs);
end;
$$;
