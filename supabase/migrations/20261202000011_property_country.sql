-- The property's country (ISO 3166-1 alpha-2, e.g. GB): the region in which a guest's phone
-- number written without a country code ("07700 900123") is read before it goes to Guestly as
-- E.164. Optional: without it such numbers travel in the reservation's notes instead.
alter table public.properties
  add column country_code text
  constraint properties_country_code_check check (country_code ~ '^[A-Z]{2}$');

-- Same signature as before. The claimed booking now also carries the country, and taking over
-- an abandoned lease of a booking with no reservation counts as an unknown create (its holder
-- may have died with a create in flight): the settle delay applies before the lookup, and a
-- later cancel looks for a phantom.
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
  if b.guestly_sync_status = 'synced' and b.guestly_synced_status is not distinct from b.status then
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
  return jsonb_build_object(
    'claimed', true,
    'lease_id', new_lease,
    'booking', to_jsonb(b) || jsonb_build_object('guestly_listing_id', listing_id,
                                                 'guestly_property_country', country));
end;
$$;
