-- A hold that ran out before the guest paid, whose nights a channel took meanwhile: Guestly
-- refuses to confirm it (the calendar), so it is not the booking's reservation any more.
-- guestly.forget_lapsed_hold unbinds it (the hold stays on record in guestly_hold_reservation_id,
-- marked expired) and the sync creates the booking's reservation anew in the same round: refused
-- as a double booking (the alert's ways out then work: moved dates create on the new nights, a
-- forced retry creates with ignoreCalendar), or made if the nights were free again. Without
-- this, every round asked Guestly to confirm the lapsed hold on its old nights and the conflict
-- never moved. Exactly once holds: the hold is not live in Guestly (Guestly just said so by
-- refusing it; a lookup binds only live reservations), and no create of this booking is pending.
-- record_success (else as in 20261203000011) calls a placed hold confirmed only when the
-- confirmed reservation is the hold.

create function guestly.forget_lapsed_hold(booking_id uuid, lease_id uuid, reservation_id text)
  returns boolean
  language sql
  security definer
  set search_path = ''
  as $$
  with forgotten as (
    update public.bookings b
       set guestly_reservation_id = null,
           guestly_synced_status = null,
           guestly_synced_state = null,
           guestly_hold_status = 'expired'
     where b.id = forget_lapsed_hold.booking_id
       and b.guestly_sync_lease_id = forget_lapsed_hold.lease_id
       and b.guestly_reservation_id = forget_lapsed_hold.reservation_id
       and b.guestly_synced_status = 'pending_payment'
    returning 1
  )
  select exists (select 1 from forgotten)
$$;

revoke all on function guestly.forget_lapsed_hold(uuid, uuid, text) from public, anon, authenticated;
grant execute on function guestly.forget_lapsed_hold(uuid, uuid, text) to service_role;

create or replace function guestly.record_success(
  booking_id uuid,
  lease_id uuid,
  reservation_id text,
  synced_status text,
  synced_state jsonb default null
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
  b.guestly_reservation_id := coalesce(record_success.reservation_id, b.guestly_reservation_id);
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
      or guestly.content_change_due(b) or guestly.payment_record_due(b) end;
  update public.bookings
     set guestly_reservation_id = b.guestly_reservation_id,
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
