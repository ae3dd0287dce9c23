-- The state functions every caller goes through: claim (with its lease), record attempt,
-- success and failure, and the lookup that follows an abandoned lease.
begin;
select plan(14);

insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency, status)
values ('00000000-0000-4000-8000-00000000b001', '0b0e7f3a-0000-4000-8000-000000000001', 'L', 'L',
  'l@example.com', '2027-01-01', '2027-01-02', 1, 100, 'usd', 'confirmed');

create temp table claims (n int, result jsonb);
insert into claims select 1, guestly.claim_sync('00000000-0000-4000-8000-00000000b001');
select ok((select (result ->> 'claimed')::boolean from claims where n = 1), 'a due booking is claimed');
select is((select result -> 'booking' ->> 'guestly_sync_lookup_needed' from claims where n = 1), 'false',
  'a first claim does not look up');
select is((select guestly.claim_sync('00000000-0000-4000-8000-00000000b001') ->> 'reason'), 'leased',
  'a second invocation cannot claim while the lease holds');

-- The holder dies after Guestly created the reservation, before recording anything.
update public.bookings set guestly_sync_lease_until = now() - interval '1 second'
 where id = '00000000-0000-4000-8000-00000000b001';
insert into claims select 2, guestly.claim_sync('00000000-0000-4000-8000-00000000b001');
select ok((select (result ->> 'claimed')::boolean from claims where n = 2), 'an expired lease can be taken over');
select is((select result -> 'booking' ->> 'guestly_sync_lookup_needed' from claims where n = 2), 'true',
  'taking over an abandoned lease looks the reservation up before creating');

select is((select guestly.record_success('00000000-0000-4000-8000-00000000b001',
                                         (select (result ->> 'lease_id')::uuid from claims where n = 1),
                                         'res-old', 'confirmed') ->> 'reason'),
  'lease_lost', 'the old holder can no longer record a success');

select is(guestly.record_attempt('00000000-0000-4000-8000-00000000b001',
            (select (result ->> 'lease_id')::uuid from claims where n = 2), 'lookup', now(), 12, 200,
            'success', null), 1, 'an attempt is counted');
select is((select count(*)::int from guestly.sync_attempts
            where booking_id = '00000000-0000-4000-8000-00000000b001'), 1, 'and logged');

select is((select guestly.record_success('00000000-0000-4000-8000-00000000b001',
                                         (select (result ->> 'lease_id')::uuid from claims where n = 2),
                                         'res-1', 'confirmed') ->> 'more_work'),
  'false', 'the holder records the success');
select is((select row(guestly_sync_status, guestly_reservation_id, guestly_sync_lookup_needed,
                      guestly_sync_lease_id is null, guestly_sync_next_attempt_at is null)::text
             from public.bookings where id = '00000000-0000-4000-8000-00000000b001'),
  '(synced,res-1,f,t,t)', 'synced, reservation stored, lookup cleared, lease and retry time cleared');
select is((select guestly.claim_sync('00000000-0000-4000-8000-00000000b001') ->> 'reason'), 'already_synced',
  'a synced booking is not claimed again');

-- Failures: transient → retry time; at the limit → final with exactly one alert.
update public.bookings set status = 'cancelled', guestly_sync_status = 'pending'
 where id = '00000000-0000-4000-8000-00000000b001';
insert into claims select 3, guestly.claim_sync('00000000-0000-4000-8000-00000000b001');
select is((select guestly.record_failure('00000000-0000-4000-8000-00000000b001',
                                         (select (result ->> 'lease_id')::uuid from claims where n = 3),
                                         'Guestly HTTP 503: down', false, 12) ->> 'final'),
  'false', 'a transient failure under the limit is not final');
insert into claims select 4, guestly.claim_sync('00000000-0000-4000-8000-00000000b001');
select is((select guestly.record_failure('00000000-0000-4000-8000-00000000b001',
                                         (select (result ->> 'lease_id')::uuid from claims where n = 4),
                                         'Guestly HTTP 422: listingId', true, 12) ->> 'final'),
  'true', 'a permanent failure is final');
select is((select count(*)::int from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-00000000b001' and kind = 'sync_failed'), 1,
  'a final failure writes one alert');

select * from finish();
rollback;
