-- Our own change echoing back never undoes a newer website change (issue 24 §6). Dates D0 → D1,
-- the sync sends D1, the website moves to D2 during that pass, the echo of D1 arrives: the
-- booking keeps D2 and D2 is what the sync sends next. The same with the pass's lease lost (the
-- sync died after sending). A host's change to a field the website did not touch still applies
-- during a pass; once the sync gave up, Guestly's report counts again.
begin;
select plan(20);

create function pg_temp.b(id uuid) returns public.bookings
  language sql as $$ select * from public.bookings where bookings.id = b.id $$;
create function pg_temp.dates(id uuid) returns text
  language sql as $$ select check_in || ' ' || check_out || ' ' || guests_count
                       from public.bookings where bookings.id = dates.id $$;
-- A paid booking in step with Guestly: D0 = 2035-mm-01 .. 05, 2 guests.
create function pg_temp.in_step(id uuid, month int) returns void
  language plpgsql as $$
begin
  insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
    check_in, check_out, guests_count, amount_total, currency, status, stripe_payment_intent_id)
  values (in_step.id, '0b0e7f3a-0000-4000-8000-000000000001', 'E', 'Cho', 'echo@example.com',
    make_date(2035, month, 1), make_date(2035, month, 5), 2, 40000, 'eur', 'confirmed',
    'pi_' || left(in_step.id::text, 8));
  update public.bookings x
     set guestly_reservation_id = 'res-' || right(x.id::text, 4), guestly_synced_status = 'confirmed',
         guestly_synced_state = guestly.desired_state(x), guestly_sync_status = 'synced',
         guestly_synced_at = now() - interval '1 hour', guestly_sync_next_attempt_at = null
   where x.id = in_step.id;
end $$;
-- What Guestly reports about the booking's reservation now.
create function pg_temp.guestly_says(message text, id uuid, check_in date, guests int default 2)
  returns jsonb
  language plpgsql as $$
declare
  reservation text := (pg_temp.b(id)).guestly_reservation_id;
begin
  perform guestly_events.record_event(message, 'reservation.updated.v2', message, reservation,
    now(), '{}', '{}'::jsonb);
  return guestly_events.apply_guestly_change(message, id, jsonb_build_object(
    'status', 'confirmed', 'check_in', check_in, 'check_out', check_in + 4, 'guests_count', guests));
end $$;

-- The sequence of the issue.
select pg_temp.in_step('00000000-0000-4000-8000-0000000ec001', 1);
update public.bookings set check_in = '2035-02-01', check_out = '2035-02-05'
 where id = '00000000-0000-4000-8000-0000000ec001';                                   -- D1
create temp table pass as select guestly.claim_sync('00000000-0000-4000-8000-0000000ec001') as c;
select is((select c -> 'booking' -> 'guestly_desired_state' ->> 'check_in' from pass), '2035-02-01',
  'the sync sends D1');
update public.bookings set check_in = '2035-03-01', check_out = '2035-03-05'
 where id = '00000000-0000-4000-8000-0000000ec001';                                   -- D2
select is(pg_temp.guestly_says('echo-1', '00000000-0000-4000-8000-0000000ec001', '2035-02-01') ->> 'outcome',
  'no_change', 'the echo of D1 arriving during the pass changes nothing');
select is(pg_temp.dates('00000000-0000-4000-8000-0000000ec001'), '2035-03-01 2035-03-05 2',
  'the booking keeps D2');
select is((select reason from guestly_events.events where message_id = 'echo-1'),
  'website_change_on_its_way', 'the ledger says why');
select is((select count(*)::int from guestly.admin_alerts
             where booking_id = '00000000-0000-4000-8000-0000000ec001'
               and kind = 'guestly_change_overridden'), 0,
  'the echo of what the pass set out to send (D1) alerts nobody: it is no host''s change');
select is((guestly.record_success('00000000-0000-4000-8000-0000000ec001',
  (select (c ->> 'lease_id')::uuid from pass), null, 'confirmed',
  (select c -> 'booking' -> 'guestly_desired_state' from pass)) ->> 'more_work')::boolean, true,
  'the pass that sent D1 ends with more to do');
select is(guestly.claim_sync('00000000-0000-4000-8000-0000000ec001') -> 'booking'
            -> 'guestly_desired_state' ->> 'check_in',
  '2035-03-01', 'and the next pass sends D2 to Guestly');
select is(pg_temp.guestly_says('echo-1-late', '00000000-0000-4000-8000-0000000ec001', '2035-02-01') ->> 'outcome',
  'no_change', 'a second delivery of the D1 echo changes nothing either');
select is(pg_temp.dates('00000000-0000-4000-8000-0000000ec001'), '2035-03-01 2035-03-05 2',
  'still D2');

-- The sync died after sending D1 (its lease ran out, nothing recorded): the same.
select pg_temp.in_step('00000000-0000-4000-8000-0000000ec002', 4);
update public.bookings set check_in = '2035-05-01', check_out = '2035-05-05'
 where id = '00000000-0000-4000-8000-0000000ec002';
select guestly.claim_sync('00000000-0000-4000-8000-0000000ec002');
update public.bookings set check_in = '2035-06-01', check_out = '2035-06-05',
       guestly_sync_lease_until = now() - interval '1 second'
 where id = '00000000-0000-4000-8000-0000000ec002';
select pg_temp.guestly_says('echo-2', '00000000-0000-4000-8000-0000000ec002', '2035-05-01');
select is(pg_temp.dates('00000000-0000-4000-8000-0000000ec002'), '2035-06-01 2035-06-05 2',
  'a pass that died after sending: its echo does not undo the newer dates either');

-- The host changes the guests while a pass sends the website's new dates: the guests apply.
select pg_temp.in_step('00000000-0000-4000-8000-0000000ec003', 7);
update public.bookings set check_in = '2035-08-01', check_out = '2035-08-05'
 where id = '00000000-0000-4000-8000-0000000ec003';
select guestly.claim_sync('00000000-0000-4000-8000-0000000ec003');
select is(pg_temp.guestly_says('host-3', '00000000-0000-4000-8000-0000000ec003', '2035-07-01', 3) ->> 'outcome',
  'applied', 'a host''s change to a field the website did not touch applies during a pass');
select is(pg_temp.dates('00000000-0000-4000-8000-0000000ec003'), '2035-08-01 2035-08-05 3',
  'the guests follow Guestly; the dates stay the website''s');

-- One date changed on the website: the host's other date is not mixed in.
select pg_temp.in_step('00000000-0000-4000-8000-0000000ec004', 9);
update public.bookings set check_out = '2035-09-07' where id = '00000000-0000-4000-8000-0000000ec004';
select pg_temp.guestly_says('host-4', '00000000-0000-4000-8000-0000000ec004', '2035-09-02');
select is(pg_temp.dates('00000000-0000-4000-8000-0000000ec004'), '2035-09-01 2035-09-07 2',
  'the stay''s dates stay together');

-- The sync gave up on the website's dates (Guestly refused them for good): Guestly's report counts.
select pg_temp.in_step('00000000-0000-4000-8000-0000000ec005', 10);
update public.bookings set check_in = '2035-11-01', check_out = '2035-11-05'
 where id = '00000000-0000-4000-8000-0000000ec005';
update public.bookings set guestly_sync_status = 'failed', guestly_sync_gave_up_at = now(),
       guestly_sync_next_attempt_at = null
 where id = '00000000-0000-4000-8000-0000000ec005';
select is(pg_temp.guestly_says('host-5', '00000000-0000-4000-8000-0000000ec005', '2035-12-01') ->> 'outcome',
  'applied', 'a sync that gave up sends nothing: the host''s dates apply');
select is(pg_temp.dates('00000000-0000-4000-8000-0000000ec005'), '2035-12-01 2035-12-05 2',
  'the booking has Guestly''s dates');

-- The host moves the dates to DH while the website's D2 is on its way (issue 24 §6 follow-up):
-- the website's D2 is kept and sent, and the admin is told, once, that the host's change is
-- being overridden. Our own echo (a report equal to D2, or to the D1 a pass set out to send,
-- above) tells nobody anything.
select pg_temp.in_step('00000000-0000-4000-8000-0000000ec006', 3);
update public.bookings set check_in = '2035-04-10', check_out = '2035-04-14'
 where id = '00000000-0000-4000-8000-0000000ec006';                                   -- D2
select pg_temp.guestly_says('host-6', '00000000-0000-4000-8000-0000000ec006', '2035-03-20');  -- DH
select pg_temp.guestly_says('host-6-again', '00000000-0000-4000-8000-0000000ec006', '2035-03-20');
select is(pg_temp.dates('00000000-0000-4000-8000-0000000ec006'), '2035-04-10 2035-04-14 2',
  'the host''s DH does not replace the website''s D2: the sync sends D2');
select is((select count(*)::int from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-0000000ec006'
              and kind = 'guestly_change_overridden'), 1,
  'one alert tells the admin the host''s change is being overridden');
select is((select details -> 'overridden' from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-0000000ec006'
              and kind = 'guestly_change_overridden'),
  '{"check_in": ["2035-03-20", "2035-04-10"], "check_out": ["2035-03-24", "2035-04-14"]}'::jsonb,
  'naming what the host set and what the website sends');
-- The sync then sends D2; its echo is ours.
select is(pg_temp.guestly_says('echo-6', '00000000-0000-4000-8000-0000000ec006', '2035-04-10') ->> 'outcome',
  'no_change', 'the echo of D2 changes nothing');
select is((select count(*)::int from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-0000000ec006'
              and kind = 'guestly_change_overridden'), 1,
  'and writes no second alert');

select * from finish();
rollback;
