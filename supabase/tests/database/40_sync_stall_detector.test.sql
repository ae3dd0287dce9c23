-- The stall detector (migration 20261126000005_alerts_outbox.sql) with a faked clock: each booking's history is
-- moved into the past, and guestly.detect_stalled_syncs runs with an `as_of`. The HTTP answers
-- (401, 500, unreachable) live in net._http_response, which only pg_net may write: those causes
-- are covered end to end in supabase/tests/integration/sync_stall_test.ts.
begin;
set local role postgres;
select plan(34);

-- Only this file's function state counts (rolled back at the end).
delete from guestly.function_state;

-- A booking confirmed `ago` in the past: its episode, pending time and calls moved back.
create function pg_temp.paid_booking(id uuid, ago interval) returns uuid
  language plpgsql as $$
begin
  insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
    check_in, check_out, guests_count, amount_total, currency)
  values (id, '0b0e7f3a-0000-4000-8000-000000000001', 'Stall', 'Test', 'stall@example.com',
    '2027-03-01', '2027-03-03', 2, 30000, 'usd');
  update public.bookings set status = 'confirmed' where bookings.id = paid_booking.id;
  perform pg_temp.move_back(id, ago);
  return id;
end $$;

create function pg_temp.move_back(id uuid, ago interval) returns void
  language sql as $$
  update public.bookings
     set guestly_sync_episode_started_at = guestly_sync_episode_started_at - ago,
         guestly_sync_pending_since = guestly_sync_pending_since - ago
   where bookings.id = move_back.id;
  update guestly.function_invocations set invoked_at = invoked_at - ago
   where booking_id = move_back.id;
$$;

create function pg_temp.stall_alerts(booking uuid) returns int
  language sql as $$
  select count(*)::int from guestly.admin_alerts a
   where a.booking_id = stall_alerts.booking and a.kind = 'sync_stalled'
$$;

create function pg_temp.stall_detail(booking uuid, field text) returns text
  language sql as $$
  select a.details ->> stall_detail.field from guestly.admin_alerts a
   where a.booking_id = stall_detail.booking and a.kind = 'sync_stalled'
   order by a.created_at desc, a.details ->> 'detected_at' desc limit 1
$$;

-- 1. Sync disabled: the function said so, no attempt, ever --------------------------------------
select pg_temp.paid_booking('00000000-0000-4000-8000-0000000057a1', interval '1 hour');
select guestly.report_function_state('guestly-sync', false, false, '{"stall_alert_minutes": 15}');

select is((select count(*)::int from guestly.function_invocations
            where booking_id = '00000000-0000-4000-8000-0000000057a1'), 1,
  'the trigger''s call to guestly-sync is logged with the booking');
select ok((select request_id is not null from guestly.function_invocations
            where booking_id = '00000000-0000-4000-8000-0000000057a1'),
  'with its pg_net request id');

select guestly.detect_stalled_syncs(as_of => now() - interval '46 minutes');
select is(pg_temp.stall_alerts('00000000-0000-4000-8000-0000000057a1'), 0,
  '14 minutes without an attempt: not yet stalled');
select guestly.detect_stalled_syncs(as_of => now() - interval '44 minutes');
select is(pg_temp.stall_alerts('00000000-0000-4000-8000-0000000057a1'), 1,
  '16 minutes: one sync_stalled alert');
select is(pg_temp.stall_detail('00000000-0000-4000-8000-0000000057a1', 'cause'), 'sync_disabled',
  'the cause: sync disabled');
select matches(pg_temp.stall_detail('00000000-0000-4000-8000-0000000057a1', 'reason'),
  'GUESTLY_SYNC_ENABLED not true', 'the reason says so plainly');
select guestly.detect_stalled_syncs(as_of => now() - interval '30 minutes');
select guestly.detect_stalled_syncs();
select is(pg_temp.stall_alerts('00000000-0000-4000-8000-0000000057a1'), 1,
  'still one alert after more sweeps: one per episode');
select is((select count(*)::int from public.guestly_sync_stalled
            where booking_id = '00000000-0000-4000-8000-0000000057a1' and alerted), 1,
  'the Studio view lists it as stalled and alerted');

-- A manual retry starts a new episode: one more alert once it has stalled again.
select public.guestly_retry_sync('00000000-0000-4000-8000-0000000057a1');
select guestly.detect_stalled_syncs(as_of => now() + interval '14 minutes');
select is(pg_temp.stall_alerts('00000000-0000-4000-8000-0000000057a1'), 1,
  'a manual retry: not alerted again before the threshold');
select guestly.detect_stalled_syncs(as_of => now() + interval '16 minutes');
select guestly.detect_stalled_syncs(as_of => now() + interval '40 minutes');
select is(pg_temp.stall_alerts('00000000-0000-4000-8000-0000000057a1'), 2,
  'the retry''s episode stalls too: exactly one more alert');

-- 2. Test mode ---------------------------------------------------------------------------------
select guestly.report_function_state('guestly-sync', true, true, '{"stall_alert_minutes": 15}');
select pg_temp.paid_booking('00000000-0000-4000-8000-0000000057a2', interval '20 minutes');
select guestly.detect_stalled_syncs();
select is(pg_temp.stall_detail('00000000-0000-4000-8000-0000000057a2', 'cause'), 'test_mode',
  'test mode is named');

-- 3. The threshold comes from what guestly-sync reported (GUESTLY_STALL_ALERT_MINUTES) --------
select guestly.report_function_state('guestly-sync', true, false, '{"stall_alert_minutes": 30}');
select pg_temp.paid_booking('00000000-0000-4000-8000-0000000057a3', interval '20 minutes');
select guestly.detect_stalled_syncs();
select is(pg_temp.stall_alerts('00000000-0000-4000-8000-0000000057a3'), 0,
  'GUESTLY_STALL_ALERT_MINUTES=30: 20 minutes is not a stall');
select guestly.detect_stalled_syncs(as_of => now() + interval '11 minutes');
select is(pg_temp.stall_alerts('00000000-0000-4000-8000-0000000057a3'), 1, '31 minutes is');
select is(pg_temp.stall_detail('00000000-0000-4000-8000-0000000057a3', 'stall_minutes'), '30',
  'the alert names the threshold');
select is(pg_temp.stall_detail('00000000-0000-4000-8000-0000000057a3', 'cause'), 'no_response',
  'enabled, called, nothing answered: pg_net is suspected');
select is(guestly.detect_stalled_syncs(as_of => now() + interval '11 minutes', stall_minutes => 5), 0,
  'an explicit threshold (cron argument) is honoured and alerts nothing twice');
delete from guestly.function_state;

-- 4. Not called at all (no pg_net request): the reason says the function is not reached ------
insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency, status, guestly_sync_status,
  guestly_sync_next_attempt_at, guestly_sync_episode_started_at)
values ('00000000-0000-4000-8000-0000000057a4', '0b0e7f3a-0000-4000-8000-000000000001', 'Stall',
  'Import', 'stall@example.com', '2027-03-01', '2027-03-03', 2, 30000, 'usd', 'confirmed',
  'pending', now() + interval '1 minute', now() - interval '20 minutes');
select guestly.detect_stalled_syncs();
select is(pg_temp.stall_detail('00000000-0000-4000-8000-0000000057a4', 'cause'), 'not_invoked',
  'no call was ever made: not invoked');
select matches(pg_temp.stall_detail('00000000-0000-4000-8000-0000000057a4', 'reason'),
  'not been called .* not reached', 'the function is not reached');

-- 5. Attempts failed, then the function stopped answering: the last error is named -----------
select pg_temp.paid_booking('00000000-0000-4000-8000-0000000057a5', interval '1 hour');
select pg_temp.paid_booking('00000000-0000-4000-8000-0000000057a6', interval '1 hour');
create temp table leases as
select b.id, (guestly.claim_sync(b.id) ->> 'lease_id')::uuid as lease
  from public.bookings b
 where b.id in ('00000000-0000-4000-8000-0000000057a5', '00000000-0000-4000-8000-0000000057a6');
select guestly.record_attempt(id, lease, 'create', now() - interval '50 minutes', 900, 503,
         'retryable', 'Guestly HTTP 503: upstream unavailable') from leases;
select guestly.record_failure(id, lease, 'Guestly HTTP 503: upstream unavailable', false, 12)
  from leases;
-- 57a5's retry time came: the sweep called the function (a real call, logged), nothing happened.
update public.bookings set guestly_sync_next_attempt_at = now() - interval '1 minute'
 where id = '00000000-0000-4000-8000-0000000057a5';
-- 57a6 merely waits for its retry time (next round in the future, no call since its attempts).
update public.bookings set guestly_sync_next_attempt_at = now() + interval '20 minutes'
 where id = '00000000-0000-4000-8000-0000000057a6';
select ok(guestly.sweep_due_syncs() >= 1, 'the sweep calls guestly-sync for the due booking');

select guestly.detect_stalled_syncs(as_of => now() + interval '14 minutes');
select is(pg_temp.stall_alerts('00000000-0000-4000-8000-0000000057a5'), 0,
  'called 14 minutes ago without a new attempt: not yet');
select guestly.detect_stalled_syncs(as_of => now() + interval '16 minutes');
select is(pg_temp.stall_alerts('00000000-0000-4000-8000-0000000057a5'), 1,
  'called 16 minutes ago without a new attempt: stalled');
select matches(pg_temp.stall_detail('00000000-0000-4000-8000-0000000057a5', 'reason'),
  'last attempt \(#1, create, HTTP 503.*upstream unavailable',
  'the reason names the last attempt''s error');
select is(pg_temp.stall_alerts('00000000-0000-4000-8000-0000000057a6'), 0,
  'a booking merely waiting for its retry time is not stalled');
select guestly.detect_stalled_syncs(as_of => now() + interval '19 minutes');
select is(pg_temp.stall_alerts('00000000-0000-4000-8000-0000000057a6'), 0,
  '…however long the wait for its scheduled retry');

-- A status change is a new episode.
update public.bookings set status = 'cancelled' where id = '00000000-0000-4000-8000-0000000057a5';
select guestly.detect_stalled_syncs(as_of => now() + interval '16 minutes');
select is(pg_temp.stall_alerts('00000000-0000-4000-8000-0000000057a5'), 2,
  'a status change starts a new episode: one more alert when it stalls too');
select guestly.detect_stalled_syncs(as_of => now() + interval '30 minutes');
select is(pg_temp.stall_alerts('00000000-0000-4000-8000-0000000057a5'), 2, 'and only one');

-- 6. Final failures alert as sync_failed, never as stalled ----------------------------------
with claim as (
  select (guestly.claim_sync('00000000-0000-4000-8000-0000000057a6') ->> 'lease_id')::uuid as lease)
select guestly.record_failure('00000000-0000-4000-8000-0000000057a6', (select lease from claim),
  'Guestly HTTP 422: listingId', true, 12);
select ok((select guestly_sync_gave_up_at is not null from public.bookings
            where id = '00000000-0000-4000-8000-0000000057a6'), 'the failure is final');
select guestly.sweep_due_syncs();
select guestly.detect_stalled_syncs(as_of => now() + interval '2 hours');
select is(pg_temp.stall_alerts('00000000-0000-4000-8000-0000000057a6'), 0,
  'a final failure gets no sync_stalled alert');

-- 7. A round in progress (live lease) is not a stall ---------------------------------------
select pg_temp.paid_booking('00000000-0000-4000-8000-0000000057a7', interval '1 hour');
select guestly.claim_sync('00000000-0000-4000-8000-0000000057a7', 600);
select guestly.detect_stalled_syncs(as_of => now() + interval '1 minute');
select is(pg_temp.stall_alerts('00000000-0000-4000-8000-0000000057a7'), 0,
  'a booking whose round is running is not stalled');

-- 9. Vault secrets missing: the call cannot be made; the alert and the outbox say why --------
delete from vault.secrets where name = 'project_url';
select pg_temp.paid_booking('00000000-0000-4000-8000-0000000057a8', interval '20 minutes');
select is((select error from guestly.function_invocations
            where booking_id = '00000000-0000-4000-8000-0000000057a8'),
  'Vault secrets project_url/service_role_key missing', 'a call that cannot be made is logged');
select guestly.detect_stalled_syncs();
select is(pg_temp.stall_detail('00000000-0000-4000-8000-0000000057a8', 'cause'), 'not_called',
  'the alert says the database could not call the function');
select matches((select why from public.guestly_undelivered_alerts a
                 join guestly.admin_alerts x on x.id = a.alert_id
                where x.booking_id = '00000000-0000-4000-8000-0000000057a8'),
  '^the database could not call notify-admin: Vault secrets',
  'and the undelivered alert says why notify-admin was not reached');

-- 8. Who may call what -------------------------------------------------------------------------
select ok(not has_function_privilege('anon', 'guestly.detect_stalled_syncs(timestamptz, int)', 'execute')
          and not has_function_privilege('authenticated', 'guestly.report_function_state(text, boolean, boolean, jsonb)', 'execute')
          and has_function_privilege('service_role', 'guestly.report_function_state(text, boolean, boolean, jsonb)', 'execute'),
  'the detector and the state report are for service_role only');
select ok(not has_table_privilege('anon', 'public.guestly_sync_stalled', 'select')
          and not has_table_privilege('authenticated', 'public.guestly_undelivered_alerts', 'select')
          and has_table_privilege('service_role', 'public.guestly_undelivered_alerts', 'select'),
  'the new views are for service_role only');

select * from finish();
rollback;
