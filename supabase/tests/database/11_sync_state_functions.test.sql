-- The state functions every caller goes through: claim (with its lease), record attempt,
-- success and failure, and the lookup that follows an abandoned lease.
begin;
select plan(26);

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

-- The create's success records the reservation id first; our reference is set on it after
-- (Guesty's create cannot carry it), so the booking still owes Guestly that.
select is((select guestly.record_success('00000000-0000-4000-8000-00000000b001',
                                         (select (result ->> 'lease_id')::uuid from claims where n = 2),
                                         'res-1', 'confirmed') ->> 'more_work'),
  'true', 'the create is recorded, the reference still due');
select is((select row(guestly_sync_status, guestly_reservation_id, guestly_reference_set_at is null,
                      guestly.reference_due(b))::text
             from public.bookings b where id = '00000000-0000-4000-8000-00000000b001'),
  '(pending,res-1,t,t)', 'a crash now leaves the reservation recorded and its reference due');
insert into claims select 21, guestly.claim_sync('00000000-0000-4000-8000-00000000b001');
select ok((select (result ->> 'claimed')::boolean from claims where n = 21),
  'the next round claims it for the reference');
select is((select guestly.record_success('00000000-0000-4000-8000-00000000b001',
                                         (select (result ->> 'lease_id')::uuid from claims where n = 21),
                                         'res-1', 'confirmed', reference_set => true) ->> 'more_work'),
  'false', 'the holder records the success, the reference read back');
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

-- The sweep: due rows only, whatever the attempt count the function's limit allows.
insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency, status, guestly_sync_status,
  guestly_sync_attempts, guestly_sync_next_attempt_at)
values
  ('00000000-0000-4000-8000-00000000b002', '0b0e7f3a-0000-4000-8000-000000000001', 'S', 'S',
   's@example.com', '2027-01-01', '2027-01-02', 1, 100, 'usd', 'confirmed', 'failed', 14,
   now() - interval '1 second'),
  ('00000000-0000-4000-8000-00000000b003', '0b0e7f3a-0000-4000-8000-000000000001', 'S', 'S',
   's@example.com', '2027-01-01', '2027-01-02', 1, 100, 'usd', 'confirmed', 'failed', 12, null),
  ('00000000-0000-4000-8000-00000000b004', '0b0e7f3a-0000-4000-8000-000000000001', 'S', 'S',
   's@example.com', '2027-01-01', '2027-01-02', 1, 100, 'usd', 'confirmed', 'failed', 4,
   now() + interval '1 hour');
select ok(guestly.sweep_due_syncs(as_of => now()) >= 1, 'the sweep invokes guestly-sync for due rows');
-- A swept row is given 2 more minutes in case this call is lost too.
create temp table swept as
  select (select array_agg(id order by id) from public.bookings
           where id in ('00000000-0000-4000-8000-00000000b002', '00000000-0000-4000-8000-00000000b003',
                        '00000000-0000-4000-8000-00000000b004')
             and guestly_sync_next_attempt_at > now() + interval '1 minute'
             and guestly_sync_next_attempt_at < now() + interval '3 minutes') as bumped;
select ok((select '00000000-0000-4000-8000-00000000b002'::uuid = any(bumped) from swept),
  'a failed row whose retry time came is swept (GUESTLY_MAX_ATTEMPTS above 12 is honoured)');
select ok((select not ('00000000-0000-4000-8000-00000000b003'::uuid = any(bumped)) from swept),
  'a final failure (no next attempt time) is never swept');
select ok((select not ('00000000-0000-4000-8000-00000000b004'::uuid = any(bumped)) from swept),
  'a row whose retry time has not come is not swept');

-- Born paid: an INSERT of a confirmed booking is synced like a status change; a row that
-- arrives with its sync state set is left alone.
create temp table queue_mark as select coalesce(max(id), 0) as max_id from net.http_request_queue;
insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency, status)
values ('00000000-0000-4000-8000-00000000b005', '0b0e7f3a-0000-4000-8000-000000000001', 'P', 'P',
  'p@example.com', '2027-01-01', '2027-01-02', 1, 100, 'usd', 'confirmed');
select is((select count(*)::int from net.http_request_queue
            where id > (select max_id from queue_mark)
              and convert_from(body, 'UTF8') like '%00000000-0000-4000-8000-00000000b005%'), 1,
  'a booking inserted as confirmed calls guestly-sync');
select ok((select guestly_sync_next_attempt_at is not null from public.bookings
            where id = '00000000-0000-4000-8000-00000000b005'), 'and the sweep will come back to it');
select is((select row(guestly_sync_status, guestly_sync_next_attempt_at is null)::text
             from public.bookings where id = '00000000-0000-4000-8000-00000000b003'),
  '(failed,t)', 'a row inserted with its sync state set (a final failure) is left as it is');

-- The attempt limit counts this episode only: a cancellation after an old failed episode gets
-- its own rounds.
update public.bookings set guestly_sync_attempts = 16, guestly_sync_status = 'synced',
       guestly_synced_status = 'confirmed', guestly_reservation_id = 'res-b005'
 where id = '00000000-0000-4000-8000-00000000b005';
update public.bookings set status = 'cancelled' where id = '00000000-0000-4000-8000-00000000b005';
select is((select guestly_sync_episode_base from public.bookings
            where id = '00000000-0000-4000-8000-00000000b005'), 16,
  'a status change starts a new episode');
update public.bookings set guestly_sync_attempts = 20 where id = '00000000-0000-4000-8000-00000000b005';
insert into claims select 5, guestly.claim_sync('00000000-0000-4000-8000-00000000b005');
select is((select guestly.record_failure('00000000-0000-4000-8000-00000000b005',
                                         (select (result ->> 'lease_id')::uuid from claims where n = 5),
                                         'Guestly HTTP 503: blip', false, 12) ->> 'final'),
  'false', '4 attempts into a new episode is not final, whatever the lifetime count');

select * from finish();
rollback;
