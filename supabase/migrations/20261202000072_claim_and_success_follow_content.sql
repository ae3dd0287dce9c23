-- The claim and the success record see all of a booking's work: status, content (dates, listing,
-- guests, guest details) and money. The claim hands guestly-sync the desired state, the state
-- Guestly holds, and the money rows to record; record_success stores what Guestly now holds and
-- answers whether anything changed meanwhile (then the same invocation runs another pass).

-- Same signature as before (20261202000011), plus the desired/synced states and the money.
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
    return jsonb_build_object('claimed', false, 'reason', 'not_paid');
  end if;
  if b.guestly_sync_status = 'synced' and b.guestly_synced_status is not distinct from b.status
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

-- One more parameter: the content Guestly now holds (null: unchanged). A new signature, so the
-- old one goes (two overloads would make every call ambiguous).
drop function guestly.record_success(uuid, uuid, text, text);
create function guestly.record_success(
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
begin
  select * into b from public.bookings where id = record_success.booking_id for update;
  if not found or b.guestly_sync_lease_id is distinct from record_success.lease_id then
    return jsonb_build_object('recorded', false, 'reason', 'lease_lost');
  end if;
  b.guestly_reservation_id := coalesce(record_success.reservation_id, b.guestly_reservation_id);
  -- Nothing recorded and nothing given (a caller that does not track content): Guestly holds
  -- what the booking says, as for the reservations backfilled by 20261202000070.
  b.guestly_synced_state := coalesce(record_success.synced_state, b.guestly_synced_state,
    case when b.guestly_reservation_id is not null then guestly.desired_state(b) end);
  more_work := b.status is distinct from record_success.synced_status
    or guestly.content_change_due(b) or guestly.payment_record_due(b);
  update public.bookings
     set guestly_reservation_id = b.guestly_reservation_id,
         guestly_synced_status = record_success.synced_status,
         guestly_synced_state = b.guestly_synced_state,
         guestly_sync_status = case when more_work then 'pending' else 'synced' end,
         guestly_sync_error = null,
         guestly_sync_error_kind = null,
         guestly_synced_at = now(),
         guestly_sync_lookup_needed = false,
         guestly_sync_gave_up_at = null,
         guestly_sync_next_attempt_at = case when more_work then now() + interval '2 minutes' end,
         guestly_sync_lease_id = null,
         guestly_sync_lease_until = null
   where id = record_success.booking_id;
  return jsonb_build_object('recorded', true, 'more_work', more_work);
end;
$$;

revoke all on function guestly.record_success(uuid, uuid, text, text, jsonb)
  from public, anon, authenticated;
grant execute on function guestly.record_success(uuid, uuid, text, text, jsonb) to service_role;
