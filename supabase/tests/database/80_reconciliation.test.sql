-- The reconciliation's SQL: one run at a time (an abandoned one no longer blocks); what it reads
-- of the bookings (no guest contact data); healing a reservation deleted in Guestly puts the
-- booking back into a sync episode with a lookup first (never a blind create) and only if it is
-- still as the run saw it; a status Guestly missed is re-sent; a change Guestly made whose
-- webhook never came is applied through the ledger as a reconciliation event; a run with drift
-- writes one admin alert, one without none; the daily job; only service_role may call.
begin;
select plan(43);

insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency, status, stripe_payment_intent_id)
values ('00000000-0000-4000-8000-0000000cc001', '0b0e7f3a-0000-4000-8000-000000000001', 'A', 'A',
  'a@example.com', '2034-01-01', '2034-01-05', 2, 40000, 'usd', 'confirmed', 'pi_cc001'),
       ('00000000-0000-4000-8000-0000000cc002', '0b0e7f3a-0000-4000-8000-000000000001', 'B', 'B',
  'b@example.com', '2034-02-01', '2034-02-05', 2, 40000, 'usd', 'confirmed', 'pi_cc002'),
       ('00000000-0000-4000-8000-0000000cc003', '0b0e7f3a-0000-4000-8000-000000000001', 'C', 'C',
  'c@example.com', '2034-03-01', '2034-03-05', 2, 40000, 'usd', 'confirmed', 'pi_cc003'),
       ('00000000-0000-4000-8000-0000000cc004', '0b0e7f3a-0000-4000-8000-000000000001', 'D', 'D',
  'd@example.com', '2034-04-01', '2034-04-05', 2, 40000, 'usd', 'confirmed', 'pi_cc004');
-- All four are in Guestly, holding what the booking says.
update public.bookings b
   set guestly_reservation_id = 'res-' || right(b.id::text, 5), guestly_synced_status = 'confirmed',
       guestly_synced_state = guestly.desired_state(b), guestly_sync_status = 'synced',
       guestly_sync_next_attempt_at = null
 where b.id::text like '00000000-0000-4000-8000-0000000cc00%';
-- cc003 was cancelled here and the sync believes Guestly has it.
update public.bookings set status = 'cancelled' where id = '00000000-0000-4000-8000-0000000cc003';
update public.bookings
   set guestly_sync_status = 'synced', guestly_synced_status = 'cancelled',
       guestly_sync_next_attempt_at = null
 where id = '00000000-0000-4000-8000-0000000cc003';
delete from net.http_request_queue;

create function pg_temp.sync_calls(booking text) returns int language sql as $$
  select count(*)::int from net.http_request_queue
   where url like '%/guestly-sync' and convert_from(body, 'utf8') like '%' || booking || '%'
$$;

-- One run at a time
create temp table r as select guestly_reconcile.begin_run('cli', true) as v;
select is((select v ->> 'started' from r), 'true', 'a run starts');
select is(guestly_reconcile.begin_run('cron', true) ->> 'reason', 'already_running',
  'a second one while it runs does not');
update guestly_reconcile.runs set started_at = now() - interval '2 hours'
 where id = (select (v ->> 'run_id')::uuid from r);
create temp table r2 as select guestly_reconcile.begin_run('cron', true) as v;
select is((select v ->> 'started' from r2), 'true', 'a run abandoned for an hour no longer blocks');
select is((select status || ': ' || error from guestly_reconcile.runs
            where id = (select (v ->> 'run_id')::uuid from r)),
  'failed: abandoned: no result within an hour', 'and is recorded as abandoned');
create temp table run as select (v ->> 'run_id')::uuid as id from r2;

-- What the run reads
select is(jsonb_array_length(guestly_reconcile.bookings_to_check()) >= 4, true,
  'the bookings with a reservation are read');
select is((select b -> 'desired' ->> 'check_in' from jsonb_array_elements(guestly_reconcile.bookings_to_check()) b
            where b ->> 'id' = '00000000-0000-4000-8000-0000000cc001'),
  '2034-01-01', 'with what Guestly should hold');
select ok(guestly_reconcile.bookings_to_check()::text not like '%a@example.com%',
  'and no guest contact data');

-- A reservation deleted in Guestly: back into a sync episode, lookup first
select is(guestly_reconcile.heal_missing((select id from run), '00000000-0000-4000-8000-0000000cc001',
            'res-cc001') ->> 'healed', 'true', 'a missing reservation is healed');
select is((select row(guestly_reservation_id, guestly_sync_lookup_needed, guestly_synced_status,
                      guestly_synced_state, guestly_sync_status)::text
             from public.bookings where id = '00000000-0000-4000-8000-0000000cc001'),
  '(,t,,,pending)', 'the reservation id is forgotten, a lookup is required, the sync is pending');
select is(pg_temp.sync_calls('cc001'), 1, 'guestly-sync is called for it (trigger path: pg_net)');
select is((select c ->> 'claimed' from guestly.claim_sync('00000000-0000-4000-8000-0000000cc001') c),
  'true', 'the sync can claim it');
select is((select guestly_sync_lookup_needed from public.bookings
            where id = '00000000-0000-4000-8000-0000000cc001'),
  true, 'and must look up before any create (exactly once)');
select is(guestly_reconcile.heal_missing((select id from run), '00000000-0000-4000-8000-0000000cc001',
            'res-cc001') ->> 'reason', 'reservation_changed',
  'healing it twice does nothing more');
update public.bookings
   set guestly_sync_lease_id = gen_random_uuid(), guestly_sync_lease_until = now() + interval '3 minutes'
 where id = '00000000-0000-4000-8000-0000000cc002';
select is(guestly_reconcile.heal_missing((select id from run), '00000000-0000-4000-8000-0000000cc002',
            'res-cc002') ->> 'reason', 'sync_in_flight', 'a sync in flight is left alone');
select is((select guestly_reservation_id from public.bookings
            where id = '00000000-0000-4000-8000-0000000cc002'), 'res-cc002', 'untouched');
update public.bookings set guestly_sync_lease_id = null, guestly_sync_lease_until = null
 where id = '00000000-0000-4000-8000-0000000cc002';
select is(guestly_reconcile.heal_missing((select id from run), '00000000-0000-4000-8000-0000000cc003',
            'res-cc003') ->> 'reason', 'booking_not_confirmed',
  'a cancelled booking is never created again');

-- A status Guestly missed: re-sent
select is(guestly_reconcile.heal_resend((select id from run), 'status_differs',
            '00000000-0000-4000-8000-0000000cc003', 'res-cc003', true) ->> 'healed', 'true',
  'a cancellation Guestly missed is re-sent');
select is((select row(guestly_synced_status, guestly_sync_status, guestly_reservation_id)::text
             from public.bookings where id = '00000000-0000-4000-8000-0000000cc003'),
  '(,pending,res-cc003)', 'the sync no longer believes Guestly has it, same reservation');
select is(pg_temp.sync_calls('cc003'), 1, 'guestly-sync is called for it');
select is(guestly_reconcile.heal_resend((select id from run), 'status_differs',
            '00000000-0000-4000-8000-0000000cc003', 'res-cc003', true) ->> 'healed', 'false',
  'while its sync is pending, not again');
select is(guestly_reconcile.heal_resend((select id from run), 'content_differs',
            '00000000-0000-4000-8000-0000000cc004', 'res-cc004', false) ->> 'healed', 'false',
  'content with nothing to send is not re-sent');

-- A change Guestly made, webhook lost: applied as the webhook would have been
select is(guestly_reconcile.apply_missed_change((select id from run), 'res-cc002',
            '00000000-0000-4000-8000-0000000cc002', '2026-12-01T10:00:00Z',
            jsonb_build_object('status', 'canceled', 'check_in', '2034-02-01',
                               'check_out', '2034-02-05', 'guests_count', 2,
                               'canceled_by', 'host')) ->> 'outcome',
  'applied', 'a cancellation made in Guestly is applied');
select is((select row(status, guestly_sync_status, guestly_synced_status)::text from public.bookings
            where id = '00000000-0000-4000-8000-0000000cc002'),
  '(cancelled,synced,cancelled)', 'the booking is cancelled, in step, nothing to send back');
select is(pg_temp.sync_calls('cc002'), 0, 'no sync is started (no echo)');
select is((select origin || ' ' || outcome from guestly_events.events
            where reservation_id = 'res-cc002'),
  'reconciliation applied', 'the ledger records it as a reconciliation event');
select is((select published_at from guestly_events.events where reservation_id = 'res-cc002'),
  '2026-12-01T10:00:00Z'::timestamptz, 'published when Guestly last changed the reservation');
select is((select origin from public.guestly_changes_from_guestly where reservation_id = 'res-cc002'),
  'reconciliation', 'the events view shows where it came from');
select is((select count(*)::int from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-0000000cc002' and kind = 'cancelled_in_guestly'),
  1, 'a paid booking cancelled in Guestly alerts as with the webhook');
select is(guestly_reconcile.apply_missed_change((select id from run), 'res-cc002',
            '00000000-0000-4000-8000-0000000cc002', '2026-12-01T10:00:00Z',
            jsonb_build_object('status', 'canceled')) ->> 'duplicate',
  'true', 'the same run applying it again changes nothing');

-- Recording and finishing
select guestly_reconcile.record_item((select id from run), 'duplicate',
  '00000000-0000-4000-8000-0000000cc004', 'res-copy',
  '{"booking_reservation_id": "res-cc004"}', 'reported');
select is((select count(*)::int from guestly_reconcile.drift_items where run_id = (select id from run)),
  10, 'every heal and report left its item');
delete from net.http_request_queue;
create temp table fin as select guestly_reconcile.finish_run((select id from run), 10, 4, 3) as v;
select is((select v ->> 'drift' from fin), '10', 'the run finishes with its drift');
select is((select count(*)::int from guestly.admin_alerts
            where kind = 'reconciliation_drift' and details ->> 'run_id' = (select id from run)::text),
  1, 'one admin alert for the run');
select is((select (details -> 'counts' ->> 'missing_in_guestly') || ' ' || (details ->> 'requests_used')
             from guestly.admin_alerts where kind = 'reconciliation_drift'
              and details ->> 'run_id' = (select id from run)::text),
  '4 3', 'it carries the counts and what the run used');
select is((select count(*)::int from net.http_request_queue where url like '%/notify-admin'), 1,
  'notify-admin is woken to send it');
select is(guestly_reconcile.run_result() -> 'run' ->> 'id', (select id from run)::text,
  'run_result shows the latest run (sync:status)');
select throws_ok($$ select guestly_reconcile.finish_run((select id from run), 0, 0, 0) $$, 'P0002',
  null, 'a run finishes once');
create temp table quiet as select guestly_reconcile.begin_run('cli', false) as v;
select is(guestly_reconcile.finish_run((select (v ->> 'run_id')::uuid from quiet), 1, 1, 1) ->> 'alert_id',
  null, 'a run without drift writes no alert');
create temp table broken as select guestly_reconcile.begin_run('cron', true) as v;
select isnt(guestly_reconcile.finish_run((select (v ->> 'run_id')::uuid from broken), 0, 0, 1,
              'search answered 400') ->> 'alert_id',
  null, 'a failed run writes an alert, drift or not');

-- A lost Guestly change meets a booking changed here after the run read it: not applied
update guestly_reconcile.runs set started_at = now() - interval '5 minutes'
 where id = (select (v ->> 'run_id')::uuid from quiet);
update public.bookings set guests_count = 3 where id = '00000000-0000-4000-8000-0000000cc004';
select is(guestly_reconcile.apply_missed_change((select (v ->> 'run_id')::uuid from quiet),
            'res-cc004', '00000000-0000-4000-8000-0000000cc004', '2026-12-01T10:00:00Z',
            jsonb_build_object('status', 'confirmed', 'check_in', '2034-04-10',
                               'check_out', '2034-04-14', 'guests_count', 2)) ->> 'reason',
  'booking_changed_since_the_run_read_it', 'a booking changed since the run read it is left alone');
select is((select row(check_in, guests_count)::text from public.bookings
            where id = '00000000-0000-4000-8000-0000000cc004'),
  '(2034-04-01,3)', 'the guest''s newer change stands');

-- The daily job
select is((select schedule from cron.job where jobname = 'guestly-reconcile-daily'), '17 3 * * *',
  'the reconciliation runs daily');
delete from net.http_request_queue;
select guestly_reconcile.request_run();
select is((select convert_from(body, 'utf8')::jsonb ->> 'fix' from net.http_request_queue
            where url like '%/guestly-reconcile'), 'true', 'the cron asks guestly-reconcile to heal');

-- Only service_role
set local role authenticated;
select throws_ok($$ select guestly_reconcile.begin_run('cli', true) $$, '42501', null,
  'authenticated cannot start a run');
reset role;

select * from finish();
rollback;
