-- The hold goes through the same state functions as every other sync. claim_sync hands out a
-- booking waiting for payment when its hold is to be placed or released; confirm_lease also
-- answers the hold status (a request for a hold is stopped right before it leaves when the
-- guest paid or the Checkout ended meanwhile); record_success records what Guestly holds now;
-- record_hold_failure decides a hold's failures (a refused hold is the website's answer, never
-- an admin's alert, and a hold is never retried past the time it would have run out).

-- Same signature and body as 20261202000072, with the hold: a booking waiting for payment is
-- claimed only to place or release its hold; a hold whose time ran out is not placed any more.
create or replace function guestly.claim_sync(booking_id uuid, lease_seconds int default 180)
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
     and not guestly.content_change_due(b) and not guestly.payment_record_due(b) then
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
         guestly_sync_unknown_at = b.guestly_sync_unknown_at
   where id = claim_sync.booking_id;
  select p.guestly_listing_id, p.country_code into listing_id, country
    from public.properties p where p.id = b.property_id;
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
      'guestly_desired_state', guestly.desired_state(b),
      'guestly_pending_payments', money));
end;
$$;

-- Same signature as 20261202000010; the answer also carries the hold status.
create or replace function guestly.confirm_lease(booking_id uuid, lease_id uuid, lease_seconds int default 180)
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

-- Same signature as 20261202000072. synced_status is the booking status Guestly's reservation
-- now stands for: `pending_payment` a hold (`reserved`), `cancelled` a cancelled reservation —
-- also a released hold of a booking still waiting for payment, which then forgets it: a later
-- payment creates a new reservation (Guestly does not bring a cancelled one back).
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
        and hold in ('placing', 'held', 'releasing', 'expired') then
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

-- A hold's failure. Not an admin's business: the website learns `unavailable` and does not take
-- the payment; anything else leaves the booking to sync as usual once paid (and alert then, if
-- it must). A booking that changed meanwhile (paid, cancelled) is due again at once.
create function guestly.record_hold_failure(
  booking_id uuid,
  lease_id uuid,
  error text,
  permanent boolean,
  error_kind text default null,
  retry_not_before timestamptz default null
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  b public.bookings;
  releasing boolean;
  final boolean;
  retry_at timestamptz;
  hold text;
  tries int;
begin
  select * into b from public.bookings where id = record_hold_failure.booking_id for update;
  if not found or b.guestly_sync_lease_id is distinct from record_hold_failure.lease_id then
    return jsonb_build_object('recorded', false, 'reason', 'lease_lost');
  end if;
  if b.status <> 'pending_payment' then
    -- Paid or cancelled while the hold's request ran: that is the work now, at once.
    update public.bookings
       set guestly_sync_status = 'pending',
           guestly_sync_next_attempt_at = greatest(now(), record_hold_failure.retry_not_before),
           guestly_sync_lease_id = null,
           guestly_sync_lease_until = null
     where id = record_hold_failure.booking_id;
    perform guestly.invoke_function('guestly-sync', jsonb_build_object('bookingId', b.id));
    return jsonb_build_object('recorded', true, 'final', false, 'moved_on', true,
                              'next_attempt_at', greatest(now(), record_hold_failure.retry_not_before));
  end if;
  releasing := b.guestly_hold_status = 'releasing';
  hold := b.guestly_hold_status;
  tries := greatest(1, coalesce(b.guestly_sync_attempts, 0) - b.guestly_sync_episode_base);
  retry_at := greatest(now() + make_interval(secs => least(60, power(2, least(tries, 6)))),
                       record_hold_failure.retry_not_before);
  if record_hold_failure.error_kind = 'conflict' and not releasing then
    final := true;
    hold := 'unavailable';
  elsif record_hold_failure.permanent then
    -- A release Guestly refuses for good: its hold still stops blocking at its end
    -- (expire_holds marks it then).
    final := true;
    hold := case when releasing then 'releasing' else 'failed' end;
  elsif retry_at >= guestly.hold_deadline(b) then
    final := true;
    hold := case when releasing then 'expired' else 'failed' end;
  else
    final := false;
  end if;
  update public.bookings
     set guestly_sync_status = 'pending',
         guestly_sync_error = left(record_hold_failure.error, 2000),
         guestly_sync_next_attempt_at = case when final then null else retry_at end,
         guestly_sync_lease_id = null,
         guestly_sync_lease_until = null,
         guestly_hold_status = hold,
         guestly_hold_error = left(record_hold_failure.error, 2000)
   where id = record_hold_failure.booking_id;
  return jsonb_build_object('recorded', true, 'final', final, 'moved_on', false,
                            'hold_status', hold,
                            'next_attempt_at', case when final then null else retry_at end);
end;
$$;

revoke all on function guestly.record_hold_failure(uuid, uuid, text, boolean, text, timestamptz)
  from public, anon, authenticated;
grant execute on function guestly.record_hold_failure(uuid, uuid, text, boolean, text, timestamptz)
  to service_role;
