-- Unknown outcomes and the lease check before a change: an unknown create is remembered (and
-- never forgotten by a later success), the next round is not before the settle time, and only a
-- live lease may send anything.
begin;
select plan(24);

insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency, status)
values ('00000000-0000-4000-8000-00000000c001', '0b0e7f3a-0000-4000-8000-000000000001', 'U', 'U',
  'u@example.com', '2027-01-01', '2027-01-02', 1, 100, 'usd', 'confirmed');
delete from net.http_request_queue;

create temp table claims (n int, lease uuid);
insert into claims select 1, (guestly.claim_sync('00000000-0000-4000-8000-00000000c001') ->> 'lease_id')::uuid;

select is(guestly.confirm_lease('00000000-0000-4000-8000-00000000c001', (select lease from claims where n = 1)),
  '{"held": true, "status": "confirmed", "hold_status": null}'::jsonb, 'the holder may send, and learns the status and hold');
select is(guestly.confirm_lease('00000000-0000-4000-8000-00000000c001', gen_random_uuid()),
  '{"held": false, "status": null, "hold_status": null}'::jsonb, 'anyone else may not');

-- A lookup that failed to answer is not an unknown create.
select guestly.record_attempt('00000000-0000-4000-8000-00000000c001', (select lease from claims where n = 1),
  'lookup', now(), 3000, null, 'unknown', 'no answer');
select is((select guestly_sync_unknown_at from public.bookings where id = '00000000-0000-4000-8000-00000000c001'),
  null, 'an unanswered lookup leaves no unknown create behind');
select guestly.record_attempt('00000000-0000-4000-8000-00000000c001', (select lease from claims where n = 1),
  'create', now(), 40, 502, 'unknown', 'Guestly HTTP 502: Bad Gateway');
select isnt((select guestly_sync_unknown_at from public.bookings where id = '00000000-0000-4000-8000-00000000c001'),
  null, 'an unknown create is stamped');

select is((guestly.record_failure('00000000-0000-4000-8000-00000000c001', (select lease from claims where n = 1),
  'outcome unknown: Guestly HTTP 502', false, 12,
  retry_not_before => now() + interval '2 hours') ->> 'final'), 'false', 'not final');
select is((select guestly_sync_next_attempt_at from public.bookings where id = '00000000-0000-4000-8000-00000000c001'),
  now() + interval '2 hours', 'the next round is not before retry_not_before, even past the round spacing');

-- The holder stalled past its lease. Nobody took over yet: it may go on (and renews it).
update public.bookings set guestly_sync_lease_id = (select lease from claims where n = 1),
  guestly_sync_lease_until = now() - interval '1 second'
 where id = '00000000-0000-4000-8000-00000000c001';
select is((guestly.confirm_lease('00000000-0000-4000-8000-00000000c001', (select lease from claims where n = 1))
  ->> 'held'), 'true', 'an expired lease nobody took over is renewed by its holder');
-- Once another invocation claimed it, the old holder may not send.
update public.bookings set guestly_sync_lease_until = now() - interval '1 second'
 where id = '00000000-0000-4000-8000-00000000c001';
insert into claims select 2, (guestly.claim_sync('00000000-0000-4000-8000-00000000c001') ->> 'lease_id')::uuid;
select is((guestly.confirm_lease('00000000-0000-4000-8000-00000000c001', (select lease from claims where n = 1))
  ->> 'held'), 'false', 'a lease taken over is lost for good');

-- The booking is cancelled during the round: the holder sees it before sending.
update public.bookings set status = 'cancelled' where id = '00000000-0000-4000-8000-00000000c001';
select is((guestly.confirm_lease('00000000-0000-4000-8000-00000000c001', (select lease from claims where n = 2))
  ->> 'status'), 'cancelled', 'a status change during the round is seen right before the request');

select guestly.record_success('00000000-0000-4000-8000-00000000c001', (select lease from claims where n = 2),
  'res-phantom', 'cancelled');
select isnt((select guestly_sync_unknown_at from public.bookings where id = '00000000-0000-4000-8000-00000000c001'),
  null, 'a success does not forget that a create was once unknown (a later cancel looks up)');

-- A final failure names what the operator must decide, in the alert.
update public.bookings set status = 'confirmed' where id = '00000000-0000-4000-8000-00000000c001';
insert into claims select 3, (guestly.claim_sync('00000000-0000-4000-8000-00000000c001') ->> 'lease_id')::uuid;
select guestly.record_failure('00000000-0000-4000-8000-00000000c001', (select lease from claims where n = 3),
  '2 live Guestly reservations carry this booking''s reference', true, 12,
  alert_details => '{"duplicate_reservations": [{"id": "a"}, {"id": "b"}]}');
select is((select details -> 'duplicate_reservations' from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-00000000c001'),
  '[{"id": "a"}, {"id": "b"}]'::jsonb, 'the alert carries the reservations to choose from');
select ok(not has_function_privilege('authenticated', 'guestly.confirm_lease(uuid, uuid, integer)', 'execute'),
  'authenticated cannot touch a lease');

-- Taking over an abandoned lease of an unbound booking: its holder may have died mid-create.
insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency, status)
values ('00000000-0000-4000-8000-00000000c002', '0b0e7f3a-0000-4000-8000-000000000001', 'A', 'A',
  'a@example.com', '2027-01-01', '2027-01-02', 1, 100, 'usd', 'confirmed');
select guestly.claim_sync('00000000-0000-4000-8000-00000000c002');
update public.bookings set guestly_sync_lease_until = now() - interval '1 second'
 where id = '00000000-0000-4000-8000-00000000c002';
insert into claims select 4, (guestly.claim_sync('00000000-0000-4000-8000-00000000c002') ->> 'lease_id')::uuid;
select isnt((select guestly_sync_unknown_at from public.bookings where id = '00000000-0000-4000-8000-00000000c002'),
  null, 'an abandoned lease without a reservation counts as an unknown create (settle, then look up)');

-- At the attempt limit, a round that ended on an unknown create is not final.
update public.bookings set guestly_sync_attempts = 11, guestly_sync_episode_base = 0
 where id = '00000000-0000-4000-8000-00000000c002';
select guestly.record_attempt('00000000-0000-4000-8000-00000000c002', (select lease from claims where n = 4),
  'create', now(), 3000, 503, 'unknown', 'Guestly HTTP 503');
select is((guestly.record_failure('00000000-0000-4000-8000-00000000c002', (select lease from claims where n = 4),
  'outcome unknown', false, 12) ->> 'final'), 'false',
  'attempt 12 was an unknown create: the next round still looks it up');
insert into claims select 5, (guestly.claim_sync('00000000-0000-4000-8000-00000000c002') ->> 'lease_id')::uuid;
select guestly.record_attempt('00000000-0000-4000-8000-00000000c002', (select lease from claims where n = 5),
  'lookup', now(), 30, 503, 'retryable', 'Guestly HTTP 503');
select is((guestly.record_failure('00000000-0000-4000-8000-00000000c002', (select lease from claims where n = 5),
  'Guestly HTTP 503', false, 12) ->> 'final'), 'true', 'past the limit, a failed lookup is final');

-- The stay each create sends is noted before it leaves, under the lease; distinct; answered once
-- a reservation is recorded. The claim carries them (the lookup searches each).
insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency, status)
values ('00000000-0000-4000-8000-00000000c0a1', '0b0e7f3a-0000-4000-8000-000000000001', 'K', 'K',
  'k@example.com', '2027-03-01', '2027-03-05', 1, 100, 'usd', 'confirmed');
insert into claims select 11, (guestly.claim_sync('00000000-0000-4000-8000-00000000c0a1') ->> 'lease_id')::uuid;
select is(guestly.note_create_key('00000000-0000-4000-8000-00000000c0a1', gen_random_uuid(),
  '{"listing_id": "l1", "check_in": "2027-03-01", "check_out": "2027-03-05", "guest_email": "k@example.com"}'),
  false, 'only the lease holder notes a create''s stay');
select is(guestly.note_create_key('00000000-0000-4000-8000-00000000c0a1', (select lease from claims where n = 11),
  '{"listing_id": "l1", "check_in": "2027-03-01", "check_out": "2027-03-05", "guest_email": "k@example.com"}'),
  true, 'the holder notes the stay its create sends');
select guestly.note_create_key('00000000-0000-4000-8000-00000000c0a1', (select lease from claims where n = 11),
  '{"listing_id": "l1", "check_in": "2027-03-01", "check_out": "2027-03-05", "guest_email": "k@example.com"}');
select guestly.record_failure('00000000-0000-4000-8000-00000000c0a1', (select lease from claims where n = 11),
  'outcome unknown: Guestly HTTP 502', false, 12);
-- The website moves the dates; the next round's create sends the new stay.
update public.bookings set check_in = '2027-03-10', check_out = '2027-03-14',
  guestly_sync_next_attempt_at = null
 where id = '00000000-0000-4000-8000-00000000c0a1';
create temp table key_claim as select guestly.claim_sync('00000000-0000-4000-8000-00000000c0a1') as result;
select is((select result -> 'booking' -> 'guestly_create_keys' from key_claim),
  '[{"listing_id": "l1", "check_in": "2027-03-01", "check_out": "2027-03-05", "guest_email": "k@example.com"}]'::jsonb,
  'the claim carries the stay the unknown create sent, once, after the dates changed');
select guestly.note_create_key('00000000-0000-4000-8000-00000000c0a1', (select (result ->> 'lease_id')::uuid from key_claim),
  '{"listing_id": "l1", "check_in": "2027-03-10", "check_out": "2027-03-14", "guest_email": "k@example.com"}');
select is((select jsonb_array_length(guestly_create_keys) from public.bookings
            where id = '00000000-0000-4000-8000-00000000c0a1'), 2, 'each distinct stay sent is kept');
select guestly.record_success('00000000-0000-4000-8000-00000000c0a1', (select (result ->> 'lease_id')::uuid from key_claim),
  null, 'confirmed');
select is((select jsonb_array_length(guestly_create_keys) from public.bookings
            where id = '00000000-0000-4000-8000-00000000c0a1'), 2, 'a success without a reservation keeps them');
update public.bookings set guestly_sync_next_attempt_at = null, guestly_sync_status = 'pending'
 where id = '00000000-0000-4000-8000-00000000c0a1';
delete from key_claim;
insert into key_claim select guestly.claim_sync('00000000-0000-4000-8000-00000000c0a1');
select guestly.record_success('00000000-0000-4000-8000-00000000c0a1', (select (result ->> 'lease_id')::uuid from key_claim),
  'res-found', 'confirmed');
select is((select guestly_create_keys from public.bookings where id = '00000000-0000-4000-8000-00000000c0a1'),
  '[]'::jsonb, 'a recorded reservation answers the creates'' stays');

-- Two bookings of one guest on one stay: the reservation one records is never the other's.
insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency, status, guestly_reservation_id)
values ('00000000-0000-4000-8000-00000000c0b1', '0b0e7f3a-0000-4000-8000-000000000001', 'K', 'K',
  'k@example.com', '2027-03-10', '2027-03-14', 1, 100, 'usd', 'confirmed', 'res-of-b1');
update public.bookings set guestly_reservation_id = null, guestly_sync_status = 'pending',
  guestly_sync_next_attempt_at = null, guestly_create_keys = '[]'
 where id = '00000000-0000-4000-8000-00000000c0a1';
delete from key_claim;
insert into key_claim select guestly.claim_sync('00000000-0000-4000-8000-00000000c0a1');
select is((select result -> 'booking' -> 'guestly_reservations_elsewhere' from key_claim),
  '["res-of-b1"]'::jsonb, 'the claim names the reservations other bookings record on its stay');
select is(guestly.record_success('00000000-0000-4000-8000-00000000c0a1',
    (select (result ->> 'lease_id')::uuid from key_claim), 'res-of-b1', 'confirmed'),
  '{"recorded": false, "reason": "bound_elsewhere"}'::jsonb,
  'recording another booking''s reservation is refused, not raised');
select is((select guestly_reservation_id from public.bookings
            where id = '00000000-0000-4000-8000-00000000c0a1'), null, 'and nothing is recorded');

select * from finish();
rollback;
