-- The sync follows more than the status. A booking's Guestly work is now the difference between
-- what the booking says (its desired state: listing, dates, guests, guest details) and what
-- Guestly holds as far as we know (guestly_synced_state, written by every successful sync), plus
-- the status as before, plus money not yet recorded in Guestly (guestly.payments, next migration).
-- One definition of "work due" serves the claim, record_success and the triggers, so a change
-- made while a sync is in flight is followed up by the same lease holder, in order.

-- What Guestly holds for this booking, as far as we know (same shape as guestly.desired_state).
-- Null: nothing sent yet, or a booking synced before this migration (backfilled below).
alter table public.bookings
  add column guestly_synced_state jsonb;

-- Every request the sync sends is logged under its own operation name.
alter table guestly.sync_attempts
  drop constraint sync_attempts_operation_check,
  add constraint sync_attempts_operation_check
    check (operation in ('create', 'update_status', 'lookup', 'update_dates', 'update_guests',
                         'relocate', 'update_guest', 'get_reservation', 'record_payment'));

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

-- Bookings synced before this migration: Guestly holds what the booking says (nothing could
-- change it there without us until now).
update public.bookings b
   set guestly_synced_state = guestly.desired_state(b)
 where b.guestly_reservation_id is not null;

revoke all on function guestly.desired_state(public.bookings) from public, anon, authenticated;
grant execute on function guestly.desired_state(public.bookings) to service_role;
revoke all on function guestly.content_change_due(public.bookings) from public, anon, authenticated;
grant execute on function guestly.content_change_due(public.bookings) to service_role;
