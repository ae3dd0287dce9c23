-- Healing what the reconciliation found, each in one transaction with its drift item. Nothing
-- here talks to Guestly: a booking is put back into a sync episode and the usual path (trigger →
-- pg_net → guestly-sync, the sweep as safety net) does the work, or a change Guestly made is
-- applied as its webhook would have been. Each function first checks that the booking is still
-- as the run saw it (same reservation, no sync in flight): otherwise nothing is done and the
-- item says so (the next run looks again).

-- The booking's live reservation is gone from Guestly (deleted; GET answered 404). The sync
-- must create it again — but exactly once: the reservation id is cleared and a lookup by our
-- booking reference is required first, so if any reservation of ours exists after all (one the
-- reconciliation could not see, a create still settling), the sync binds it instead of creating.
create function guestly_reconcile.heal_missing(
  run_id uuid,
  booking_id uuid,
  missing_reservation_id text,
  details jsonb default '{}'::jsonb
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  b public.bookings;
  skipped text;
begin
  select * into b from public.bookings x where x.id = heal_missing.booking_id for update;
  if not found then
    skipped := 'booking_not_found';
  elsif b.status <> 'confirmed' then
    skipped := 'booking_not_confirmed';
  elsif b.guestly_reservation_id is distinct from heal_missing.missing_reservation_id then
    skipped := 'reservation_changed';
  elsif coalesce(b.guestly_sync_lease_until > now(), false) then
    skipped := 'sync_in_flight';
  end if;
  if skipped is not null then
    perform guestly_reconcile.record_item(run_id, 'missing_in_guestly', booking_id,
                                          missing_reservation_id, details, 'heal_skipped', skipped);
    return jsonb_build_object('healed', false, 'reason', skipped);
  end if;
  b.guestly_reservation_id := null;
  b.guestly_sync_lookup_needed := true;
  -- Guestly holds nothing for it now: the create carries all of the booking.
  b.guestly_synced_state := null;
  b.guestly_synced_status := null;
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
  perform guestly_reconcile.record_item(run_id, 'missing_in_guestly', booking_id,
                                        missing_reservation_id, details, 'healed',
                                        'sync episode started: lookup, then create');
  return jsonb_build_object('healed', true);
end;
$$;

-- Guestly holds an old status or old content while the sync believes it is done (a status
-- change or content change that Guestly missed): forget that Guestly has the status (when it
-- differs) and start an episode; the sync sends what the booking says. Setting a status or the
-- content is idempotent in Guestly, so this can never double anything.
create function guestly_reconcile.heal_resend(
  run_id uuid,
  kind text,
  booking_id uuid,
  reservation_id text,
  resend_status boolean,
  details jsonb default '{}'::jsonb
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  b public.bookings;
  skipped text;
begin
  select * into b from public.bookings x where x.id = heal_resend.booking_id for update;
  if not found then
    skipped := 'booking_not_found';
  elsif b.status = 'pending_payment' then
    skipped := 'booking_not_paid';
  elsif b.guestly_reservation_id is distinct from heal_resend.reservation_id then
    skipped := 'reservation_changed';
  elsif coalesce(b.guestly_sync_lease_until > now(), false) or b.guestly_sync_status = 'pending' then
    skipped := 'sync_in_flight';
  elsif not resend_status and not guestly.content_change_due(b) then
    -- What the run saw as ours to send was changed meanwhile (applied from Guestly).
    skipped := 'nothing_to_send';
  end if;
  if skipped is not null then
    perform guestly_reconcile.record_item(run_id, kind, booking_id, reservation_id, details,
                                          'heal_skipped', skipped);
    return jsonb_build_object('healed', false, 'reason', skipped);
  end if;
  if resend_status then
    b.guestly_synced_status := null;
  end if;
  b := guestly.start_sync_episode(b);
  update public.bookings x
     set guestly_synced_status = b.guestly_synced_status,
         guestly_sync_status = b.guestly_sync_status,
         guestly_sync_pending_since = b.guestly_sync_pending_since,
         guestly_sync_error = b.guestly_sync_error,
         guestly_sync_gave_up_at = b.guestly_sync_gave_up_at,
         guestly_sync_episode_base = b.guestly_sync_episode_base,
         guestly_sync_episode_started_at = b.guestly_sync_episode_started_at,
         guestly_ignore_calendar = b.guestly_ignore_calendar,
         guestly_sync_next_attempt_at = b.guestly_sync_next_attempt_at
   where x.id = b.id;
  perform guestly_reconcile.record_item(run_id, kind, booking_id, reservation_id, details,
                                        'healed', case when resend_status
                                                       then 'sync episode started: status re-sent'
                                                       else 'sync episode started: content re-sent' end);
  return jsonb_build_object('healed', true);
end;
$$;

-- A change made in Guestly that never reached the booking (its webhook was lost): recorded in
-- the ledger as a reconciliation-sourced event and applied by guestly_events.apply_guestly_change,
-- with all its rules (ours only, ordering, no echo back, the admin alerts). published_at is when
-- Guestly last changed the reservation, so a newer event or a later sync still wins. One event per
-- run and reservation: a second call in the same run is a duplicate and changes nothing.
-- stay: {status, check_in, check_out, guests_count, canceled_by?, total_minor?} as Guestly holds it.
create function guestly_reconcile.apply_missed_change(
  run_id uuid,
  reservation_id text,
  booking_ref uuid,
  guestly_updated_at timestamptz,
  stay jsonb,
  details jsonb default '{}'::jsonb
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  mid text := 'reconcile:' || apply_missed_change.run_id || ':' || apply_missed_change.reservation_id;
  result jsonb;
  action text;
begin
  insert into guestly_events.events
    (message_id, event_type, event_id, reservation_id, published_at, sub_types, payload, origin)
  values (mid, 'reservation.updated.v2', null, apply_missed_change.reservation_id,
          coalesce(guestly_updated_at, now()), '{}',
          -- The shape of a v2 payload, so the sweep's re-apply (guestly-webhook) reads it the same.
          jsonb_build_object(
            'event', 'reservation.updated.v2',
            'reservationId', apply_missed_change.reservation_id,
            'origin', 'reconciliation',
            'runId', apply_missed_change.run_id,
            'reservation', jsonb_strip_nulls(jsonb_build_object(
              '_id', apply_missed_change.reservation_id,
              'status', stay ->> 'status',
              'checkInDateLocalized', stay ->> 'check_in',
              'checkOutDateLocalized', stay ->> 'check_out',
              'guestsCount', (stay ->> 'guests_count')::int,
              'canceledBy', stay ->> 'canceled_by'))),
          'reconciliation')
  on conflict on constraint events_pkey do nothing;
  result := guestly_events.apply_guestly_change(mid, booking_ref, stay);
  action := case when result ->> 'outcome' = 'applied' then 'healed'
                 when coalesce((result ->> 'deferred')::boolean, false) then 'heal_skipped'
                 else 'heal_skipped' end;
  perform guestly_reconcile.record_item(
    run_id, 'missed_webhook', booking_ref, apply_missed_change.reservation_id,
    details || jsonb_build_object('event', mid, 'outcome', result ->> 'outcome',
                                  'changes', result -> 'changes'),
    action,
    case when result ->> 'outcome' = 'applied' then 'applied as its webhook would have been'
         when coalesce((result ->> 'deferred')::boolean, false)
           then 'deferred: the sync has not recorded the reservation yet (the sweep applies it)'
         else coalesce(result ->> 'outcome', '?') || coalesce(': ' || (result ->> 'reason'), '') end);
  return result;
end;
$$;

revoke all on all functions in schema guestly_reconcile from public, anon, authenticated;
grant execute on all functions in schema guestly_reconcile to service_role;
