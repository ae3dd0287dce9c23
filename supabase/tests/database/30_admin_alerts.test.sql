-- Admin alert outbox, retry links and the sync:status views (migration 20261126000005_alerts_outbox.sql).
-- Everything runs in one transaction that rolls back. Other suites share the database, so rows
-- of this test live in the year 2000 (next_attempt_at) and claims use a matching `as_of`:
-- nobody else's alert is touched.
begin;
set local role postgres;
select plan(48);

-- Who may call what -----------------------------------------------------------------------------
create temp table outbox_functions on commit drop as
select unnest(array['guestly.claim_due_alerts(int, int, timestamptz)',
                    'guestly.alert_email_context(uuid, int)',
                    'guestly.mark_alert_sent(uuid, text)',
                    'guestly.mark_alert_failed(uuid, text, timestamptz)',
                    'guestly.wake_notify_admin(timestamptz)',
                    'guestly.redeem_retry_link(uuid, uuid)']::regprocedure[]) as fn;

select ok(
  not has_function_privilege('anon', fn, 'execute')
  and not has_function_privilege('authenticated', fn, 'execute')
  and has_function_privilege('service_role', fn, 'execute'),
  format('%s: service_role only', fn))
from outbox_functions order by fn::text;

select ok(
  (select bool_and(p.prosecdef and p.proconfig @> array['search_path=""'])
     from pg_proc p join outbox_functions o on o.fn = p.oid),
  'every outbox function is SECURITY DEFINER with an empty search_path');

select ok(
  not has_function_privilege('service_role', 'public.tg_bookings__track_guestly_pending()', 'execute')
  and not has_function_privilege('anon', 'guestly.tg_admin_alerts__stamp_last_attempt()', 'execute'),
  'trigger functions are callable by no API role');

select ok(
  not has_table_privilege('anon', 'public.guestly_sync_overview', 'select')
  and not has_table_privilege('authenticated', 'public.guestly_sync_overview', 'select')
  and not has_table_privilege('anon', 'public.guestly_sync_failures', 'select')
  and not has_table_privilege('authenticated', 'public.guestly_sync_failures', 'select'),
  'the status views are not granted to anon/authenticated (despite default privileges)');
select ok(
  has_table_privilege('service_role', 'public.guestly_sync_overview', 'select')
  and has_table_privilege('service_role', 'public.guestly_sync_failures', 'select'),
  'service_role may read the status views');
select throws_ok($$ set local role anon; select * from public.guestly_sync_overview $$,
  '42501', null, 'anon really cannot read guestly_sync_overview');
select throws_ok($$ set local role authenticated; select * from public.guestly_sync_failures $$,
  '42501', null, 'authenticated really cannot read guestly_sync_failures');
select throws_ok($$ set local role anon; select guestly.claim_due_alerts() $$,
  '42501', null, 'anon cannot claim alerts');
select throws_ok($$ set local role authenticated; select guestly.mark_alert_sent(gen_random_uuid()) $$,
  '42501', null, 'authenticated cannot mark alerts sent');
select throws_ok($$ set local role anon; select public.guestly_retry_sync(gen_random_uuid()) $$,
  '42501', null, 'anon cannot execute guestly_retry_sync');
select throws_ok($$ set local role authenticated; select public.guestly_retry_sync(gen_random_uuid()) $$,
  '42501', null, 'authenticated cannot execute guestly_retry_sync');
select ok(
  not has_table_privilege('service_role', 'guestly.used_retry_links', 'select, insert')
  and not has_table_privilege('anon', 'guestly.used_retry_links', 'select'),
  'used_retry_links is reachable only through redeem_retry_link');
select is(current_user::text, 'postgres', 'back to postgres after the role checks');

-- Claim -----------------------------------------------------------------------------------------
insert into guestly.admin_alerts (id, kind, details, next_attempt_at, created_at) values
  ('a1e70000-0000-4000-8000-000000000001', 'sync_failed', '{}', '2000-01-01 00:00:00+00', '2000-01-01 00:00:00+00'),
  ('a1e70000-0000-4000-8000-000000000002', 'sync_failed', '{}', '2000-01-01 00:00:01+00', '2000-01-01 00:00:01+00'),
  ('a1e70000-0000-4000-8000-000000000003', 'payment_mismatch', '{}', '2000-01-01 00:00:30+00', '2000-01-01 00:00:02+00'),
  ('a1e70000-0000-4000-8000-000000000005', 'sync_failed', '{}', '2000-01-01 00:00:40+00', '2000-01-01 00:00:03+00');
insert into guestly.admin_alerts (id, kind, details, next_attempt_at, sent_at, created_at) values
  ('a1e70000-0000-4000-8000-000000000004', 'sync_failed', '{}', '2000-01-01 00:00:00+00', '2000-01-01 00:00:05+00', '2000-01-01 00:00:00+00');

select results_eq(
  $$ select id::text, send_attempts, next_attempt_at
       from guestly.claim_due_alerts(10, 300, '2000-01-01 00:00:10+00') order by id $$,
  $$ values ('a1e70000-0000-4000-8000-000000000001', 1, '2000-01-01 00:05:10+00'::timestamptz),
            ('a1e70000-0000-4000-8000-000000000002', 1, '2000-01-01 00:05:10+00'::timestamptz) $$,
  'claim takes the due unsent alerts, bumps send_attempts and leases them (not the sent one, not the one due later)');
select results_eq(
  $$ select id::text from guestly.claim_due_alerts(1, 300, '2000-01-01 00:01:00+00') $$,
  $$ values ('a1e70000-0000-4000-8000-000000000003') $$,
  'batch_size bounds the claim; the alert due first comes out first');
select results_eq(
  $$ select id::text from guestly.claim_due_alerts(10, 300, '2000-01-01 00:01:00+00') $$,
  $$ values ('a1e70000-0000-4000-8000-000000000005') $$,
  'leased alerts are not claimed again before their lease ends, nor is the sent one');
select results_eq(
  $$ select id::text, send_attempts from guestly.claim_due_alerts(10, 300, '2000-01-01 00:05:30+00')
      order by id $$,
  $$ values ('a1e70000-0000-4000-8000-000000000001', 2),
            ('a1e70000-0000-4000-8000-000000000002', 2) $$,
  'after the lease runs out (sender died) the alert is claimed again, attempt 2');
select is(
  (select send_attempts from guestly.admin_alerts where id = 'a1e70000-0000-4000-8000-000000000004'),
  0,
  'a sent alert was never claimed by any of the claims above');
select matches(
  pg_get_functiondef('guestly.claim_due_alerts(int, int, timestamptz)'::regprocedure),
  '(?i)for\s+update\s+skip\s+locked',
  'claim skips rows another sender holds (for update skip locked; exercised across two sessions in the integration test)');

-- Mark failed / sent ------------------------------------------------------------------------------
select is(
  guestly.mark_alert_failed('a1e70000-0000-4000-8000-000000000001', 'Resend 503 down', '2000-01-01 00:06:05+00'),
  '2000-01-01 00:08:05+00'::timestamptz,
  'mark failed after attempt 2 schedules the next try 2 minutes later');
select is(
  (select last_error from guestly.admin_alerts where id = 'a1e70000-0000-4000-8000-000000000001'),
  'Resend 503 down', 'mark failed keeps the error');
select is_empty(
  $$ select * from guestly.claim_due_alerts(10, 300, '2000-01-01 00:08:00+00')
      where id = 'a1e70000-0000-4000-8000-000000000001' $$,
  'a failed alert is not due before its backoff ends');
select is(
  (select count(*)::int from guestly.claim_due_alerts(10, 300, '2000-01-01 00:08:06+00')
    where id = 'a1e70000-0000-4000-8000-000000000001'),
  1, 'and is due again once it has');
update guestly.admin_alerts set send_attempts = 30 where id = 'a1e70000-0000-4000-8000-000000000001';
select is(
  guestly.mark_alert_failed('a1e70000-0000-4000-8000-000000000001', 'still down', '2000-01-01 01:00:00+00'),
  '2000-01-01 02:00:00+00'::timestamptz,
  'the backoff is capped at one hour');
select ok(guestly.mark_alert_sent('a1e70000-0000-4000-8000-000000000002', 'msg-1'), 'mark sent');
select results_eq(
  $$ select sent_at is not null, next_attempt_at, provider_message_id from guestly.admin_alerts
      where id = 'a1e70000-0000-4000-8000-000000000002' $$,
  $$ values (true, null::timestamptz, 'msg-1') $$,
  'a sent alert has sent_at, no next attempt, and the provider id');
select is(guestly.mark_alert_sent('a1e70000-0000-4000-8000-000000000002', 'msg-2'), null,
  'marking it sent twice changes nothing');
select is(guestly.mark_alert_failed('a1e70000-0000-4000-8000-000000000002', 'late error', now()), null,
  'a late failure cannot un-send a sent alert');

-- Wake-up (the cron body) -----------------------------------------------------------------------
select is(guestly.wake_notify_admin('1999-01-01 00:00:00+00'), null,
  'nothing due: no call to notify-admin');
select ok(guestly.wake_notify_admin('2000-01-01 03:00:00+00') is not null,
  'an alert due: notify-admin is called through pg_net');
select is(
  (select url from net.http_request_queue order by id desc limit 1),
  (select rtrim(decrypted_secret, '/') || '/functions/v1/notify-admin'
     from vault.decrypted_secrets where name = 'project_url'),
  'the wake-up goes to notify-admin at the project URL');
select is(
  (select command from cron.job where jobname = 'guestly-notify-admin-sweep'),
  'select guestly.wake_notify_admin()',
  'the pg_cron job runs the wake-up every minute');

-- Episode context, stamped attempts, pending-since ----------------------------------------------
insert into public.properties (id, name, guestly_listing_id)
values ('0b0e7f3a-0000-4000-8000-0000000000f0', 'pgTAP Villa', 'listing-pgtap');
insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency)
values ('b0000000-0000-4000-8000-0000000000f1', '0b0e7f3a-0000-4000-8000-0000000000f0',
  'Ada', 'Lovelace', 'ada-pgtap@example.com', '2027-02-01', '2027-02-05', 2, 64000, 'eur');
select is((select guestly_sync_pending_since from public.bookings
            where id = 'b0000000-0000-4000-8000-0000000000f1'), null,
  'a booking awaiting payment is not pending sync');
update public.bookings set status = 'confirmed' where id = 'b0000000-0000-4000-8000-0000000000f1';
select is((select guestly_sync_pending_since from public.bookings
            where id = 'b0000000-0000-4000-8000-0000000000f1'), now(),
  'paid: pending since now');
update public.bookings set guestly_sync_status = 'synced', guestly_synced_status = 'confirmed'
 where id = 'b0000000-0000-4000-8000-0000000000f1';
select is((select guestly_sync_pending_since from public.bookings
            where id = 'b0000000-0000-4000-8000-0000000000f1'), null,
  'synced: no longer pending');

insert into guestly.sync_attempts (booking_id, attempt, operation, started_at, duration_ms, http_status, outcome, error)
values ('b0000000-0000-4000-8000-0000000000f1', 1, 'create', now(), 5, 503, 'retryable', 'first'),
       ('b0000000-0000-4000-8000-0000000000f1', 2, 'create', now(), 5, 422, 'permanent', 'second');
insert into guestly.admin_alerts (id, booking_id, kind, details, created_at, next_attempt_at)
values ('a1e70000-0000-4000-8000-0000000000e1', 'b0000000-0000-4000-8000-0000000000f1',
        'sync_failed', '{"error": "second"}', now() - interval '1 second', '2000-01-01');
insert into guestly.sync_attempts (booking_id, attempt, operation, started_at, duration_ms, http_status, outcome, error)
values ('b0000000-0000-4000-8000-0000000000f1', 3, 'create', now(), 5, 422, 'permanent', 'third');
insert into guestly.admin_alerts (id, booking_id, kind, details, next_attempt_at)
values ('a1e70000-0000-4000-8000-0000000000e2', 'b0000000-0000-4000-8000-0000000000f1',
        'sync_failed', '{"error": "third"}', '2000-01-01');
insert into guestly.sync_attempts (booking_id, attempt, operation, started_at, duration_ms, http_status, outcome, error)
values ('b0000000-0000-4000-8000-0000000000f1', 4, 'create', now(), 5, 201, 'success', null);

select is(
  (select (details ->> 'last_attempt_id')::bigint from guestly.admin_alerts
    where id = 'a1e70000-0000-4000-8000-0000000000e1'),
  (select id from guestly.sync_attempts where booking_id = 'b0000000-0000-4000-8000-0000000000f1'
      and attempt = 2),
  'a sync_failed alert is stamped with its episode''s last attempt');
select is(
  (select jsonb_path_query_array(guestly.alert_email_context('a1e70000-0000-4000-8000-0000000000e1'),
                                 '$.attempts[*].attempt')),
  '[1, 2]'::jsonb,
  'the first alert shows the attempts of its episode');
select is(
  (select jsonb_path_query_array(guestly.alert_email_context('a1e70000-0000-4000-8000-0000000000e2'),
                                 '$.attempts[*].attempt')),
  '[3]'::jsonb,
  'the second alert shows only its own episode (not earlier, not later attempts)');
select is(
  guestly.alert_email_context('a1e70000-0000-4000-8000-0000000000e2') -> 'booking' ->> 'property_name',
  'pgTAP Villa', 'the context names the property');

-- Retry links -------------------------------------------------------------------------------------
select is(
  guestly.redeem_retry_link('a1e70000-0000-4000-8000-0000000000e2', 'b0000000-0000-4000-8000-0000000000f1') ->> 'reason',
  'already_synced', 'a first use runs guestly_retry_sync (here: already synced)');
select is(
  guestly.redeem_retry_link('a1e70000-0000-4000-8000-0000000000e2', 'b0000000-0000-4000-8000-0000000000f1') ->> 'reason',
  'link_used', 'a second use is refused');
select throws_ok(
  $$ select guestly.redeem_retry_link('a1e70000-0000-4000-8000-0000000000e9', 'b0000000-0000-4000-8000-00000000dead') $$,
  'P0002', null, 'an unknown booking raises no_data_found');
select is_empty(
  $$ select 1 from guestly.used_retry_links where link_id = 'a1e70000-0000-4000-8000-0000000000e9' $$,
  'and leaves the link unused');

select * from finish();
rollback;
