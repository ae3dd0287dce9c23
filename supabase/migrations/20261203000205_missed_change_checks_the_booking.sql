-- A lost Guestly change is applied only to a booking still as the run saw it: same reservation,
-- no sync in flight, not changed since the run began (the run reads the bookings before paging
-- through Guestly, which takes minutes; a guest's change meanwhile is newer than Guestly's state
-- the run compared). The same checks heal_missing and heal_resend make. Otherwise as in
-- 20261203000202.
create or replace function guestly_reconcile.apply_missed_change(
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
  b public.bookings;
  run_started timestamptz;
  skipped text;
begin
  -- Still as the run saw it? The run read the bookings before paging through Guestly, minutes
  -- ago: a change made here since (the guest moved the stay, a sync in flight) is newer than what
  -- the run compared, and Guestly's older state must not overwrite it. The next run looks again.
  select r.started_at into run_started from guestly_reconcile.runs r
   where r.id = apply_missed_change.run_id;
  select * into b from public.bookings x where x.id = apply_missed_change.booking_ref for update;
  if found then
    if b.guestly_reservation_id is distinct from apply_missed_change.reservation_id then
      skipped := 'reservation_changed';
    elsif coalesce(b.guestly_sync_lease_until > now(), false) then
      skipped := 'sync_in_flight';
    elsif b.updated_at > run_started then
      skipped := 'booking_changed_since_the_run_read_it';
    end if;
  end if;
  if skipped is not null then
    perform guestly_reconcile.record_item(run_id, 'missed_webhook', booking_ref,
                                          apply_missed_change.reservation_id, details,
                                          'heal_skipped', skipped);
    return jsonb_build_object('healed', false, 'reason', skipped);
  end if;
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

