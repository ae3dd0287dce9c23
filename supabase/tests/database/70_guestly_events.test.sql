-- The return path's ledger and apply: a message is recorded once; a reservation we hold follows
-- Guestly (cancel, dates, guests) with nothing sent back; older events never overwrite newer
-- ones; reservations that are not ours are recorded and ignored; paid cancellations and price
-- differences alert; the sweep re-applies what was never applied; only service_role may call.
begin;
select plan(48);

insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency, status, stripe_payment_intent_id)
values ('00000000-0000-4000-8000-0000000ee001', '0b0e7f3a-0000-4000-8000-000000000001', 'A', 'A',
  'a@example.com', '2033-01-01', '2033-01-05', 2, 40000, 'usd', 'confirmed', 'pi_ee001'),
       ('00000000-0000-4000-8000-0000000ee002', '0b0e7f3a-0000-4000-8000-000000000001', 'B', 'B',
  'b@example.com', '2033-02-01', '2033-02-05', 2, 40000, 'usd', 'confirmed', 'pi_ee002'),
       ('00000000-0000-4000-8000-0000000ee003', '0b0e7f3a-0000-4000-8000-000000000001', 'C', 'C',
  'c@example.com', '2033-03-01', '2033-03-05', 2, 40000, 'usd', 'confirmed', 'pi_ee003'),
       ('00000000-0000-4000-8000-0000000ee004', '0b0e7f3a-0000-4000-8000-000000000001', 'D', 'D',
  'd@example.com', '2033-04-01', '2033-04-05', 2, 40000, 'usd', 'confirmed', 'pi_ee004');
-- ee001..ee003 are in Guestly, holding what the booking says; ee004's create is in flight.
update public.bookings b
   set guestly_reservation_id = 'res-' || right(b.id::text, 5), guestly_synced_status = 'confirmed',
       guestly_synced_state = guestly.desired_state(b), guestly_sync_status = 'synced',
       guestly_sync_next_attempt_at = null
 where b.id in ('00000000-0000-4000-8000-0000000ee001', '00000000-0000-4000-8000-0000000ee002',
                '00000000-0000-4000-8000-0000000ee003');
update public.bookings
   set guestly_sync_lease_id = gen_random_uuid(), guestly_sync_lease_until = now() + interval '3 minutes'
 where id = '00000000-0000-4000-8000-0000000ee004';
delete from net.http_request_queue;

create function pg_temp.rec(id text, reservation text, published text, type text default 'reservation.updated.v2')
  returns jsonb language sql as $$
  select guestly_events.record_event(id, type, 'evt-' || id, reservation, published::timestamptz,
                                     '{status}', jsonb_build_object('event', type))
$$;
create function pg_temp.stay(status text, check_in text, check_out text, guests int default 2)
  returns jsonb language sql as $$
  select jsonb_build_object('status', status, 'check_in', check_in, 'check_out', check_out,
                            'guests_count', guests)
$$;
create function pg_temp.sync_calls() returns int language sql as $$
  select count(*)::int from net.http_request_queue where url like '%/guestly-sync'
$$;

-- Recording
select is(pg_temp.rec('m1', 'res-ee001', '2026-12-02T10:00:00Z') ->> 'pending', 'true',
  'a reservation event is recorded, to be applied');
select is(pg_temp.rec('m1', 'res-ee001', '2026-12-02T10:00:00Z') ->> 'duplicate', 'true',
  'the same message id again is a duplicate');
select is((select count(*)::int from guestly_events.events where message_id = 'm1'), 1, 'one row');
select is(pg_temp.rec('m-unknown', null, null, 'listing.calendar.updated') ->> 'pending', 'false',
  'an unknown event type is recorded and not to be applied');
select is((select outcome || '/' || reason from guestly_events.events where message_id = 'm-unknown'),
  'ignored/unknown_event_type', 'it is ignored, with the reason');

-- A host cancels a paid booking in Guestly
select is(guestly_events.apply_guestly_change('m1', null,
            pg_temp.stay('canceled', '2033-01-01', '2033-01-05')) ->> 'outcome',
  'applied', 'the cancellation is applied');
select is((select row(status, guestly_sync_status, guestly_synced_status)::text from public.bookings
            where id = '00000000-0000-4000-8000-0000000ee001'),
  '(cancelled,synced,cancelled)', 'the booking is cancelled and in step with Guestly');
select is(pg_temp.sync_calls(), 0, 'nothing is sent back to Guestly (no echo)');
select is((select count(*)::int from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-0000000ee001' and kind = 'cancelled_in_guestly'),
  1, 'a paid cancellation alerts: decide on the refund');
select is((select details ->> 'payment_intent_id' from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-0000000ee001'),
  'pi_ee001', 'the alert names the payment (the email links it in Stripe)');
select is((select changes::text from guestly_events.events where message_id = 'm1'),
  '{"status": ["confirmed", "cancelled"]}', 'the ledger shows what changed');
select is(guestly_events.apply_guestly_change('m1', null,
            pg_temp.stay('confirmed', '2033-01-01', '2033-01-05')) ->> 'duplicate',
  'true', 'applying the same message again changes nothing');
select is((select status from public.bookings where id = '00000000-0000-4000-8000-0000000ee001'),
  'cancelled', 'still cancelled');
select is((select count(*)::int from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-0000000ee001'), 1, 'and no second alert');

-- Our own cancellation echoed back, and a live reservation for a booking cancelled here
select pg_temp.rec('m1-echo', 'res-ee001', '2026-12-02T10:00:05Z');
select is(guestly_events.apply_guestly_change('m1-echo', null,
            pg_temp.stay('canceled', '2033-01-01', '2033-01-05')) ->> 'outcome',
  'no_change', 'an echo changes nothing');
select pg_temp.rec('m1-live', 'res-ee001', '2026-12-02T10:00:06Z');
select is(guestly_events.apply_guestly_change('m1-live', null,
            pg_temp.stay('confirmed', '2033-01-01', '2033-01-05')) ->> 'reason',
  'booking_not_live', 'a cancelled booking is never brought back by Guestly');

-- Dates moved in Guestly; an older event arriving late does not undo them
select pg_temp.rec('m2-new', 'res-ee002', '2026-12-02T11:00:00Z');
select pg_temp.rec('m2-old', 'res-ee002', '2026-12-02T10:30:00Z');
select is(guestly_events.apply_guestly_change('m2-new', null,
            pg_temp.stay('confirmed', '2033-02-02', '2033-02-08')) ->> 'outcome',
  'applied', 'new dates are applied');
select is((select row(check_in, check_out, guestly_sync_status)::text from public.bookings
            where id = '00000000-0000-4000-8000-0000000ee002'),
  '(2033-02-02,2033-02-08,synced)', 'the booking has the new dates, in step');
select is((select guestly_synced_state ->> 'check_out' from public.bookings
            where id = '00000000-0000-4000-8000-0000000ee002'),
  '2033-02-08', 'what Guestly holds is recorded with them');
select is(pg_temp.sync_calls(), 0, 'nothing is sent back for the dates either');
select ok(not guestly.content_change_due(b), 'no content work is due')
  from public.bookings b where b.id = '00000000-0000-4000-8000-0000000ee002';
select is((select details ->> 'estimated_total_minor' from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-0000000ee002'
              and kind = 'guestly_change_price_differs'),
  '60000', 'four nights became six: the price would differ, the alert says how');
select is((select amount_total from public.bookings where id = '00000000-0000-4000-8000-0000000ee002'),
  40000::bigint, 'money is never changed');
select is(guestly_events.apply_guestly_change('m2-old', null,
            pg_temp.stay('confirmed', '2033-02-01', '2033-02-03')) ->> 'outcome',
  'stale', 'an older event arriving late is stale');
select is((select check_out from public.bookings where id = '00000000-0000-4000-8000-0000000ee002'),
  '2033-02-08'::date, 'and does not overwrite the newer dates');

-- Guests changed: applied, same nights, no alert
select pg_temp.rec('m3', 'res-ee003', '2026-12-02T12:00:00Z');
select is(guestly_events.apply_guestly_change('m3', null,
            pg_temp.stay('confirmed', '2033-03-01', '2033-03-05', 4)) -> 'changes' ->> 'guests_count',
  '[2, 4]', 'a guest count change is applied');
select is((select count(*)::int from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-0000000ee003'), 0,
  'same nights, no price from Guestly: no alert');
select pg_temp.rec('m3-priced', 'res-ee003', '2026-12-02T12:01:00Z');
select is(guestly_events.apply_guestly_change('m3-priced', null,
            pg_temp.stay('confirmed', '2033-03-01', '2033-03-05', 5)
            || '{"total_minor": 50000}') ->> 'price_differs',
  'true', 'Guestly''s own new price, when read, decides');

-- Our own change on its way: Guestly still reports the old guest count (its dates already
-- moved): that is no change of Guestly's, the booking keeps ours
update public.bookings set guests_count = 6, check_out = '2033-03-07'
 where id = '00000000-0000-4000-8000-0000000ee003';
select pg_temp.rec('m3-echo', 'res-ee003', '2026-12-02T12:02:00Z');
select is(guestly_events.apply_guestly_change('m3-echo', null,
            pg_temp.stay('confirmed', '2033-03-01', '2033-03-07', 5)) ->> 'outcome',
  'no_change', 'a half-done echo of our own change is no change');
select is((select guests_count from public.bookings where id = '00000000-0000-4000-8000-0000000ee003'),
  6, 'the booking keeps the guest count we are sending');
select is((select guestly_synced_state ->> 'check_out' from public.bookings
            where id = '00000000-0000-4000-8000-0000000ee003'),
  '2033-03-07', 'and we know Guestly has our new dates');
-- An event published before the sync last learned Guestly's state says nothing newer.
update public.bookings set guestly_synced_at = '2026-12-02T12:10:00Z'
 where id = '00000000-0000-4000-8000-0000000ee003';
select pg_temp.rec('m3-before-sync', 'res-ee003', '2026-12-02T12:05:00Z');
select is(guestly_events.apply_guestly_change('m3-before-sync', null,
            pg_temp.stay('confirmed', '2033-03-01', '2033-03-09', 5)) ->> 'outcome',
  'no_change', 'older than what the sync learned: no change');

-- Not ours
select pg_temp.rec('m4', 'res-airbnb', '2026-12-02T13:00:00Z');
select is((select r ->> 'outcome' || '/' || (r ->> 'reason')
             from guestly_events.apply_guestly_change('m4', null,
                    pg_temp.stay('canceled', '2033-05-01', '2033-05-03')) r),
  'ignored/not_ours', 'a reservation no booking holds is recorded and ignored');
select pg_temp.rec('m5', 'res-gone', '2026-12-02T13:00:00Z');
select is(guestly_events.apply_guestly_change('m5', ignore_reason => 'reservation_not_found') ->> 'reason',
  'reservation_not_found', 'the function''s own reason is kept');
select pg_temp.rec('m6', 'res-copy', '2026-12-02T13:00:00Z');
select is(guestly_events.apply_guestly_change('m6', '00000000-0000-4000-8000-0000000ee003',
            pg_temp.stay('canceled', '2033-03-01', '2033-03-05')) ->> 'reason',
  'booking_holds_another_reservation', 'a second reservation carrying our id is not applied');

-- Found by our id in the custom field while the create is still in flight: later
select pg_temp.rec('m7', 'res-ee004', '2026-12-02T14:00:00Z');
select is(guestly_events.apply_guestly_change('m7', '00000000-0000-4000-8000-0000000ee004',
            pg_temp.stay('canceled', '2033-04-01', '2033-04-05')) ->> 'deferred',
  'true', 'a change to a booking whose create is in flight waits');
select is((select status from public.bookings where id = '00000000-0000-4000-8000-0000000ee004'),
  'confirmed', 'the booking is untouched meanwhile');
select is((select outcome from guestly_events.events where message_id = 'm7'), null,
  'the event stays to be applied');

-- The sweep, and failures
update guestly_events.events set next_attempt_at = now() - interval '1 second' where message_id = 'm7';
select is(guestly_events.sweep_unapplied_events(), 1, 'the sweep hands the waiting event back');
select is((select count(*)::int from net.http_request_queue
            where url like '%/guestly-webhook' and convert_from(body, 'utf8') like '%m7%'),
  1, 'to guestly-webhook, naming the message');
select is(guestly_events.sweep_unapplied_events(), 0, 'and not again before its next time');
select guestly_events.record_apply_failure('m7', 'Guestly 503');
select is((select apply_attempts || ' ' || last_error from guestly_events.events where message_id = 'm7'),
  '2 Guestly 503', 'a failed apply is counted, with the error');

-- A reservation of ours without its reference yet (a lost create's answer) names its booking by
-- the stay, only while that booking's sync is finding out (ee004's create is in flight).
select is(guestly_events.booking_awaiting_stay(
            (select guestly_listing_id from public.properties
              where id = '0b0e7f3a-0000-4000-8000-000000000001'), '2033-04-01', '2033-04-05'),
  '00000000-0000-4000-8000-0000000ee004'::uuid, 'the booking awaiting its create on that stay');
select is(guestly_events.booking_awaiting_stay(
            (select guestly_listing_id from public.properties
              where id = '0b0e7f3a-0000-4000-8000-000000000001'), '2033-02-01', '2033-02-05'),
  null, 'a booking with its reservation recorded is never matched by the stay');
select is(guestly_events.booking_awaiting_stay('another-listing', '2033-04-01', '2033-04-05'),
  null, 'another listing: nobody');
-- Its create sent another stay before the website moved the booking: that stay names it too.
update public.bookings set guestly_create_keys = jsonb_build_array(jsonb_build_object(
    'listing_id', 'another-listing', 'check_in', '2033-03-01', 'check_out', '2033-03-04',
    'guest_email', guest_email))
 where id = '00000000-0000-4000-8000-0000000ee004';
select is(guestly_events.booking_awaiting_stay('another-listing', '2033-03-01', '2033-03-04'),
  '00000000-0000-4000-8000-0000000ee004'::uuid, 'the stay its unanswered create sent names it');
select is(guestly_events.booking_awaiting_stay(
            (select guestly_listing_id from public.properties
              where id = '0b0e7f3a-0000-4000-8000-000000000001'), '2033-04-01', '2033-04-05'),
  '00000000-0000-4000-8000-0000000ee004'::uuid, 'and its stay now still does');

-- Only service_role
set local role authenticated;
select throws_ok($$ select guestly_events.apply_guestly_change('m7') $$, '42501', null,
  'authenticated cannot apply Guestly events');
reset role;

select * from finish();
rollback;
