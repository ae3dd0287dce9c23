-- Holds while the guest pays (GUESTLY_HOLD_MINUTES, reported by guestly-sync into
-- guestly.function_state): placed on insert through pg_net, claimed and recorded through the
-- same state functions as a sync, confirmed by the payment, released when the Checkout ends,
-- expired when their time runs out; a refused hold is `unavailable` and alerts nobody.
begin;
select plan(48);

create function pg_temp.b(id uuid) returns public.bookings
  language sql as $$ select * from public.bookings where bookings.id = b.id $$;
create function pg_temp.book(id uuid, check_in date) returns void
  language sql as $$
  insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
    check_in, check_out, guests_count, amount_total, currency, status)
  values (book.id, '0b0e7f3a-0000-4000-8000-000000000001', 'H', 'Old', 'h@example.com',
    book.check_in, book.check_in + 3, 2, 30000, 'eur', 'pending_payment') $$;
create function pg_temp.claim(id uuid) returns uuid
  language sql as $$ select (guestly.claim_sync(claim.id) ->> 'lease_id')::uuid $$;
create function pg_temp.requests() returns int
  language sql as $$ select count(*)::int from net.http_request_queue $$;

delete from guestly.function_state;
delete from net.http_request_queue;

-- Off: nothing asked, nothing sent.
select pg_temp.book('00000000-0000-4000-8000-00000000b001', '2032-01-01');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b001')).guestly_hold_status, null,
  'holds off (nothing reported): no hold');
select is(pg_temp.requests(), 0, 'and no request');
select is(guestly.hold_state('00000000-0000-4000-8000-00000000b001') ->> 'hold_status', null,
  'hold_state says so');

-- Test mode reports its minutes, but never places holds.
select guestly.report_function_state('guestly-sync', true, true, '{"hold_minutes": 10}');
select is(guestly.hold_minutes(), 0, 'test mode: no holds');
select guestly.report_function_state('guestly-sync', false, false, '{"hold_minutes": 10}');
select is(guestly.hold_minutes(), 0, 'sync disabled: no holds');
select guestly.report_function_state('guestly-sync', true, false, '{"hold_minutes": 10}');
select is(guestly.hold_minutes(), 10, 'enabled: the reported minutes');

-- On: the insert asks for the hold and calls guestly-sync once.
select pg_temp.book('00000000-0000-4000-8000-00000000b002', '2032-02-01');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b002')).guestly_hold_status, 'placing',
  'a pending booking asks for its hold');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b002')).guestly_hold_minutes, 10, 'with the minutes');
select is(pg_temp.requests(), 1, 'one request to guestly-sync');
select isnt((pg_temp.b('00000000-0000-4000-8000-00000000b002')).guestly_sync_next_attempt_at, null,
  'and the sweep as safety net');

-- Placed: held until now + 10 min; a second call finds nothing to do.
create temp table leases (n int, lease uuid);
insert into leases select 1, pg_temp.claim('00000000-0000-4000-8000-00000000b002');
select isnt((select lease from leases where n = 1), null, 'a hold being placed is claimed');
select is((guestly.record_success('00000000-0000-4000-8000-00000000b002',
  (select lease from leases where n = 1), 'res-hold-1', 'pending_payment') ->> 'more_work')::boolean,
  false, 'placed: nothing more to do');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b002')).guestly_hold_status, 'held', 'held');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b002')).guestly_hold_until,
  now() + interval '10 minutes', 'until the hold minutes from now');
select is(guestly.claim_sync('00000000-0000-4000-8000-00000000b002') ->> 'claimed', 'false',
  'a repeated call is not claimed: nothing to send');
select is(guestly.hold_state('00000000-0000-4000-8000-00000000b002') ->> 'reservation_id', 'res-hold-1',
  'hold_state names the held reservation');

-- Paid: the status trigger calls guestly-sync; the confirm of the same reservation confirms the hold.
delete from net.http_request_queue;
update public.bookings set status = 'confirmed' where id = '00000000-0000-4000-8000-00000000b002';
select is(pg_temp.requests(), 1, 'the payment calls guestly-sync');
insert into leases select 2, pg_temp.claim('00000000-0000-4000-8000-00000000b002');
select is((select (guestly.record_success('00000000-0000-4000-8000-00000000b002',
  (select lease from leases where n = 2), 'res-hold-1', 'confirmed') ->> 'more_work')::boolean),
  true, 'confirmed: our reference is set on it next (a hold gets it once paid for)');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b002')).guestly_hold_status, 'confirmed',
  'the hold became the confirmed reservation');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b002')).guestly_reservation_id, 'res-hold-1',
  'the same reservation');

-- The Checkout ended without payment: released through the sync path, and forgotten.
select pg_temp.book('00000000-0000-4000-8000-00000000b003', '2032-03-01');
insert into leases select 3, pg_temp.claim('00000000-0000-4000-8000-00000000b003');
select guestly.record_success('00000000-0000-4000-8000-00000000b003',
  (select lease from leases where n = 3), 'res-hold-3', 'pending_payment');
delete from net.http_request_queue;
insert into payments.stripe_events (id, type, created, livemode, outcome, payload)
values ('evt_hold_expired', 'checkout.session.expired', now(), false, 'ignored', '{}');
update payments.stripe_events set outcome = 'ignored', booking_id = '00000000-0000-4000-8000-00000000b003'
 where id = 'evt_hold_expired';
select is((pg_temp.b('00000000-0000-4000-8000-00000000b003')).guestly_hold_status, 'releasing',
  'checkout.session.expired releases the hold');
select is(pg_temp.requests(), 1, 'calling guestly-sync');
insert into leases select 4, pg_temp.claim('00000000-0000-4000-8000-00000000b003');
select isnt((select lease from leases where n = 4), null, 'a release is claimed');
select guestly.record_success('00000000-0000-4000-8000-00000000b003',
  (select lease from leases where n = 4), 'res-hold-3', 'cancelled');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b003')).guestly_hold_status, 'released', 'released');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b003')).guestly_reservation_id, null,
  'forgotten: a later payment creates a new reservation');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b003')).guestly_hold_reservation_id, 'res-hold-3',
  'the released one stays on record');

-- Refused for taken nights: unavailable, final, no alert.
select pg_temp.book('00000000-0000-4000-8000-00000000b004', '2032-04-01');
insert into leases select 5, pg_temp.claim('00000000-0000-4000-8000-00000000b004');
select is((guestly.record_hold_failure('00000000-0000-4000-8000-00000000b004',
  (select lease from leases where n = 5), 'dates not available', true, 'conflict') ->> 'final')::boolean,
  true, 'a refused hold is final');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b004')).guestly_hold_status, 'unavailable', 'unavailable');
select is((select count(*)::int from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-00000000b004'), 0, 'and nobody is alerted');

-- Guestly down: retried with backoff while the hold is worth it, then failed.
select pg_temp.book('00000000-0000-4000-8000-00000000b005', '2032-05-01');
insert into leases select 6, pg_temp.claim('00000000-0000-4000-8000-00000000b005');
select is((guestly.record_hold_failure('00000000-0000-4000-8000-00000000b005',
  (select lease from leases where n = 6), 'HTTP 503', false) ->> 'final')::boolean, false,
  'a transient failure is retried');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b005')).guestly_hold_status, 'placing', 'still placing');
insert into leases select 7, pg_temp.claim('00000000-0000-4000-8000-00000000b005');
select is((guestly.record_hold_failure('00000000-0000-4000-8000-00000000b005',
  (select lease from leases where n = 7), 'HTTP 503', false,
  retry_not_before => now() + interval '11 minutes') ->> 'final')::boolean, true,
  'never retried past the time the hold would have run out');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b005')).guestly_hold_status, 'failed', 'failed');

-- Time runs out: expired by the cron body; a placing hold past its end is not claimed.
select pg_temp.book('00000000-0000-4000-8000-00000000b006', '2032-06-01');
insert into leases select 8, pg_temp.claim('00000000-0000-4000-8000-00000000b006');
select guestly.record_success('00000000-0000-4000-8000-00000000b006',
  (select lease from leases where n = 8), 'res-hold-6', 'pending_payment');
select ok(guestly.expire_holds(now() + interval '11 minutes') >= 1, 'the cron body expires holds past their end');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b003')).guestly_hold_status, 'released',
  'a released hold stays released');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b006')).guestly_hold_status, 'expired', 'expired');

-- Cancelled before the hold's request ever ran: released without a request.
select pg_temp.book('00000000-0000-4000-8000-00000000b007', '2032-07-01');
delete from net.http_request_queue;
update public.bookings set status = 'cancelled' where id = '00000000-0000-4000-8000-00000000b007';
select is((pg_temp.b('00000000-0000-4000-8000-00000000b007')).guestly_hold_status, 'released',
  'a hold never placed is released with the cancellation');
select is(pg_temp.requests(), 0, 'and nothing is sent');

-- The hold ran out in Guestly just as the payment confirmed the booking (its confirm still on
-- its way): Guestly's `expired` is the hold's end, not the stay's — the booking stays confirmed.
select pg_temp.book('00000000-0000-4000-8000-00000000b008', '2032-08-01');
insert into leases select 9, pg_temp.claim('00000000-0000-4000-8000-00000000b008');
select guestly.record_success('00000000-0000-4000-8000-00000000b008',
  (select lease from leases where n = 9), 'res-hold-8', 'pending_payment');
update public.bookings set status = 'confirmed' where id = '00000000-0000-4000-8000-00000000b008';
select guestly_events.record_event('hold-expired-8', 'reservation.updated.v2', 'evt-8', 'res-hold-8',
  now(), '{status}', '{}'::jsonb);
select is(guestly_events.apply_guestly_change('hold-expired-8', null,
  jsonb_build_object('status', 'expired', 'check_in', '2032-08-01', 'check_out', '2032-08-04',
                     'guests_count', 2)) ->> 'outcome', 'no_change',
  'an expired hold changes nothing on a paid booking');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b008')).status, 'confirmed',
  'still confirmed: the sync confirms (or finds the nights taken)');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b008')).guestly_hold_status, 'expired',
  'and the hold shows that it ran out');

-- The Checkout ended and the hold was released (and forgotten); the guest then paid in a new
-- session. The hold's cancellation, delivered late, is not the paid stay's end.
select pg_temp.book('00000000-0000-4000-8000-00000000b009', '2032-09-01');
insert into leases select 10, pg_temp.claim('00000000-0000-4000-8000-00000000b009');
select guestly.record_success('00000000-0000-4000-8000-00000000b009',
  (select lease from leases where n = 10), 'res-hold-9', 'pending_payment');
select guestly.release_hold('00000000-0000-4000-8000-00000000b009');
insert into leases select 11, pg_temp.claim('00000000-0000-4000-8000-00000000b009');
select guestly.record_success('00000000-0000-4000-8000-00000000b009',
  (select lease from leases where n = 11), 'res-hold-9', 'cancelled');
select is((select row(guestly_hold_status, guestly_reservation_id, guestly_hold_reservation_id)::text
             from public.bookings where id = '00000000-0000-4000-8000-00000000b009'),
  '(released,,res-hold-9)', 'released: the booking no longer holds the hold''s reservation');
update public.bookings set status = 'confirmed' where id = '00000000-0000-4000-8000-00000000b009';
select guestly_events.record_event('hold-cancelled-9', 'reservation.updated.v2', 'evt-9',
  'res-hold-9', now(), '{status}', '{}'::jsonb);
select is(guestly_events.apply_guestly_change('hold-cancelled-9',
  '00000000-0000-4000-8000-00000000b009',
  jsonb_build_object('status', 'canceled', 'check_in', '2032-09-01', 'check_out', '2032-09-04',
                     'guests_count', 2)) ->> 'reason', 'released_hold',
  'the released hold''s late cancellation is recognised as the hold''s');
select is((pg_temp.b('00000000-0000-4000-8000-00000000b009')).status, 'confirmed',
  'and the paid booking stays confirmed');

-- Paid before any hold was placed: one create, confirmed, and the hold's work is over.
select pg_temp.book('00000000-0000-4000-8000-00000000b010', '2032-10-01');
update public.bookings set status = 'confirmed' where id = '00000000-0000-4000-8000-00000000b010';
insert into leases select 12, pg_temp.claim('00000000-0000-4000-8000-00000000b010');
select guestly.record_success('00000000-0000-4000-8000-00000000b010',
  (select lease from leases where n = 12), 'res-10', 'confirmed', reference_set => true);
select is((select row(guestly_hold_status, guestly_reservation_id, guestly_sync_status)::text
             from public.bookings where id = '00000000-0000-4000-8000-00000000b010'),
  '(confirmed,res-10,synced)', 'paid before the hold was placed: confirmed, nothing left placing');

-- The hold ran out and Guestly would not confirm it: let go of, and a new reservation made.
select pg_temp.book('00000000-0000-4000-8000-00000000b011', '2032-11-01');
insert into leases select 13, pg_temp.claim('00000000-0000-4000-8000-00000000b011');
select guestly.record_success('00000000-0000-4000-8000-00000000b011',
  (select lease from leases where n = 13), 'res-hold-11', 'pending_payment');
update public.bookings set status = 'confirmed' where id = '00000000-0000-4000-8000-00000000b011';
insert into leases select 14, pg_temp.claim('00000000-0000-4000-8000-00000000b011');
select is(guestly.forget_lapsed_hold('00000000-0000-4000-8000-00000000b011',
  (select lease from leases where n = 14), 'res-hold-11'), true, 'a lapsed hold is let go of');
select is((select row(guestly_hold_status, guestly_reservation_id, guestly_hold_reservation_id)::text
             from public.bookings where id = '00000000-0000-4000-8000-00000000b011'),
  '(expired,,res-hold-11)', 'the booking no longer holds it; the hold stays on record');
select guestly.record_success('00000000-0000-4000-8000-00000000b011',
  (select lease from leases where n = 14), 'res-new-11', 'confirmed');
select is((select row(guestly_hold_status, guestly_reservation_id)::text
             from public.bookings where id = '00000000-0000-4000-8000-00000000b011'),
  '(expired,res-new-11)', 'the new reservation is the booking''s; the hold stays expired');

select * from finish();
rollback;
