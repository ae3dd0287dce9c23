-- A late Guestly event about a booking's released hold cancels nothing. release_hold forgets the
-- hold's reservation (guestly_reservation_id becomes null, guestly_hold_reservation_id keeps it),
-- so the event finds the booking by our reference only; if the guest paid since, the booking is
-- confirmed and its new create perhaps not recorded yet — the hold's cancellation would have
-- cancelled it. Same signature and body as 20261203000014, plus that check.
create or replace function guestly_events.apply_guestly_change(
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
    if live and not coalesce(older_than_known, false) then
      if reported -> 'check_in' is distinct from known -> 'check_in' and reported ? 'check_in' then
        nb.check_in := (reported ->> 'check_in')::date;
      end if;
      if reported -> 'check_out' is distinct from known -> 'check_out' and reported ? 'check_out' then
        nb.check_out := (reported ->> 'check_out')::date;
      end if;
      if reported -> 'guests_count' is distinct from known -> 'guests_count'
         and reported ? 'guests_count' then
        nb.guests_count := (reported ->> 'guests_count')::int;
      end if;
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
                            then 'booking_not_live' end;
      -- Still worth knowing: what Guestly holds now (an echo of our own change in flight).
      if b.guestly_reservation_id is not null and not coalesce(older_than_known, false)
         and learned is distinct from b.guestly_synced_state then
        update public.bookings x set guestly_synced_state = learned where x.id = b.id;
      end if;
    elsif b.guestly_reservation_id is null
          and (b.guestly_sync_lease_until > now() or b.guestly_sync_lookup_needed) then
      -- The sync has not recorded this reservation yet (its create is in flight, or its answer
      -- was lost): changing the booking under it now could make it create again. Later.
      if e.apply_attempts < 30 then
        update guestly_events.events x
           set apply_attempts = x.apply_attempts + 1,
               last_error = 'waiting for the sync to record the reservation',
               next_attempt_at = now() + interval '1 minute'
         where x.message_id = e.message_id;
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
