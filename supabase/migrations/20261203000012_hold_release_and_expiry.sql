-- A hold never blocks nights nobody pays for. The Checkout ended without payment (session
-- expired, or its delayed payment failed for good) → the hold is cancelled in Guestly at once,
-- through the sync path. A booking cancelled before payment releases its hold through the status
-- trigger like any cancellation. A hold whose time ran out is marked expired (Guestly stopped
-- blocking the nights by itself at reservedUntil; nothing to send).

create function guestly.release_hold(booking_id uuid) returns boolean
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  update public.bookings b
     set guestly_hold_status = 'releasing',
         guestly_sync_status = 'pending',
         guestly_sync_next_attempt_at = now() + interval '1 minute'
   where b.id = release_hold.booking_id and b.status = 'pending_payment'
     and b.guestly_hold_status in ('placing', 'held');
  if not found then
    return false;
  end if;
  perform guestly.invoke_function('guestly-sync', jsonb_build_object('bookingId', release_hold.booking_id));
  return true;
end;
$$;

create function payments.tg_stripe_events__release_guestly_hold() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  perform guestly.release_hold(new.booking_id);
  return null;
end;
$$;

-- record_stripe_event writes the booking id in the same UPDATE that sets the final outcome.
create trigger tg_stripe_events__release_guestly_hold
  after update of outcome on payments.stripe_events
  for each row
  when (new.type in ('checkout.session.expired', 'checkout.session.async_payment_failed')
        and new.booking_id is not null and old.booking_id is null)
  execute function payments.tg_stripe_events__release_guestly_hold();

-- Holds past their end, still unpaid: expired. A hold being placed right now is left to its
-- round (record_success gives a hold placed late its own full time).
create function guestly.expire_holds(as_of timestamptz default now()) returns int
  language sql
  security definer
  set search_path = ''
  as $$
  with expired as (
    update public.bookings b
       set guestly_hold_status = 'expired',
           guestly_sync_next_attempt_at = null
     where b.status = 'pending_payment'
       and b.guestly_hold_status in ('placing', 'held', 'releasing')
       and guestly.hold_deadline(b) <= expire_holds.as_of
       and (b.guestly_sync_lease_until is null or b.guestly_sync_lease_until < expire_holds.as_of)
    returning 1
  )
  select count(*)::int from expired
$$;

revoke all on function guestly.release_hold(uuid) from public, anon, authenticated;
grant execute on function guestly.release_hold(uuid) to service_role;
revoke all on function payments.tg_stripe_events__release_guestly_hold()
  from public, anon, authenticated, service_role;
revoke all on function guestly.expire_holds(timestamptz) from public, anon, authenticated;
grant execute on function guestly.expire_holds(timestamptz) to service_role;

-- Idempotent by job name: cron.schedule replaces an existing job of the same name.
select cron.schedule('guestly-hold-expiry', '* * * * *', 'select guestly.expire_holds()');
