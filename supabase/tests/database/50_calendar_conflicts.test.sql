-- Date conflicts: a conflict is final at once (never retried automatically, whatever the caller
-- passes as `permanent`), its kind is recorded, its alert is the double_booking kind; a manual
-- retry with ignore_calendar marks the episode's create as forced, a success clears it; the
-- views show conflicts apart.
begin;
select plan(22);

insert into payments.stripe_events (id, type, created, livemode, outcome, payment_intent_id,
  amount, currency, payload)
values ('evt_cal_1', 'checkout.session.completed', now(), false, 'confirmed', 'pi_cal_1', 100,
  'usd', '{}');
insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency, status, stripe_payment_intent_id)
values ('00000000-0000-4000-8000-0000000ca101', '0b0e7f3a-0000-4000-8000-000000000001', 'C', 'C',
  'c@example.com', '2031-01-01', '2031-01-04', 1, 100, 'usd', 'confirmed', 'pi_cal_1'),
       ('00000000-0000-4000-8000-0000000ca102', '0b0e7f3a-0000-4000-8000-000000000001', 'D', 'D',
  'd@example.com', '2031-02-01', '2031-02-04', 1, 100, 'usd', 'confirmed', null);
delete from net.http_request_queue;

create temp table claims (n int, lease uuid);
insert into claims select 1, (guestly.claim_sync('00000000-0000-4000-8000-0000000ca101') ->> 'lease_id')::uuid;

select lives_ok($$select guestly.record_attempt('00000000-0000-4000-8000-0000000ca101',
  (select lease from claims where n = 1), 'create', now(), 30, 409, 'conflict',
  'Guestly HTTP 409: not available')$$, 'a conflict attempt is logged as such');
select is((select outcome from guestly.sync_attempts where booking_id = '00000000-0000-4000-8000-0000000ca101'),
  'conflict', 'with outcome conflict');

-- Even if a caller called it not permanent, a conflict is final.
create temp table result as
select guestly.record_failure('00000000-0000-4000-8000-0000000ca101', (select lease from claims where n = 1),
  'dates not available in Guestly: Guestly HTTP 409', false, 12,
  alert_details => '{"conflict": {"reservations": [{"confirmation_code": "HMABC123", "source": "airbnb2"}]}}',
  error_kind => 'conflict') as r;
select is((select r ->> 'final' from result), 'true', 'a conflict is final at once');
select is((select r ->> 'error_kind' from result), 'conflict', 'and says so');
select is((select guestly_sync_status from public.bookings where id = '00000000-0000-4000-8000-0000000ca101'),
  'failed', 'the sync is failed');
select is((select status from public.bookings where id = '00000000-0000-4000-8000-0000000ca101'),
  'confirmed', 'the booking stays confirmed: the guest paid');
select is((select guestly_sync_error_kind from public.bookings where id = '00000000-0000-4000-8000-0000000ca101'),
  'conflict', 'the error kind is recorded');
select is((select guestly_sync_next_attempt_at from public.bookings where id = '00000000-0000-4000-8000-0000000ca101'),
  null, 'no automatic retry');
select is((select array_agg(kind) from guestly.admin_alerts where booking_id = '00000000-0000-4000-8000-0000000ca101'),
  array['double_booking'], 'one double_booking alert (not sync_failed)');
select is((select details -> 'conflict' -> 'reservations' -> 0 ->> 'confirmation_code' from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-0000000ca101'),
  'HMABC123', 'the alert names the blocking reservation');
select is((select details ->> 'livemode' from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-0000000ca101'),
  'false', 'and the payment''s Stripe mode, for the dashboard link');
select is((select count(*)::int from public.bookings b where b.id = '00000000-0000-4000-8000-0000000ca101'
            and b.guestly_sync_next_attempt_at <= now() + interval '1 day'),
  0, 'the sweep will never pick it up');

-- An ordinary failure records its kind too, and keeps its sync_failed alert.
insert into claims select 2, (guestly.claim_sync('00000000-0000-4000-8000-0000000ca102') ->> 'lease_id')::uuid;
select guestly.record_failure('00000000-0000-4000-8000-0000000ca102', (select lease from claims where n = 2),
  'Guestly HTTP 503', false, 12);
select is((select guestly_sync_error_kind from public.bookings where id = '00000000-0000-4000-8000-0000000ca102'),
  'transient', 'a retryable failure is transient');
select throws_ok($$select guestly.record_failure('00000000-0000-4000-8000-0000000ca102', gen_random_uuid(),
  'x', true, error_kind => 'oops')$$, '22023', null, 'an unknown error kind is refused');

-- Views: conflicts apart.
select is((select failed_conflict::int from public.guestly_sync_overview), 1, 'the overview counts conflicts');
select is((select error_kind from public.guestly_sync_failures where booking_id = '00000000-0000-4000-8000-0000000ca101'),
  'conflict', 'the failures view names the kind');
select isnt((select alerted_at from public.guestly_sync_failures where booking_id = '00000000-0000-4000-8000-0000000ca101'),
  null, 'and sees the double_booking alert');

-- The forced retry: ignore_calendar stored for the episode, sent to guestly-sync by the same path.
select is((public.guestly_retry_sync('00000000-0000-4000-8000-0000000ca101', ignore_calendar => true)
           ->> 'ignore_calendar'), 'true', 'guestly_retry_sync(..., ignore_calendar => true) starts a forced episode');
select is((select guestly_ignore_calendar from public.bookings where id = '00000000-0000-4000-8000-0000000ca101'),
  true, 'stored on the booking');
select ok((guestly.claim_sync('00000000-0000-4000-8000-0000000ca101') -> 'booking' ->> 'guestly_ignore_calendar')::boolean,
  'the claimed row carries it to the sync core');
update public.bookings set guestly_sync_status = 'synced', guestly_synced_status = 'confirmed',
  guestly_sync_lease_id = null, guestly_sync_lease_until = null
 where id = '00000000-0000-4000-8000-0000000ca101';
select is((select guestly_ignore_calendar from public.bookings where id = '00000000-0000-4000-8000-0000000ca101'),
  false, 'a success clears it (one episode only)');
select guestly.begin_manual_retry('00000000-0000-4000-8000-0000000ca102', true);
select guestly.begin_manual_retry('00000000-0000-4000-8000-0000000ca102');
select is((select guestly_ignore_calendar from public.bookings where id = '00000000-0000-4000-8000-0000000ca102'),
  false, 'a plain retry after a forced one is not forced');

select * from finish();
rollback;
