-- A hold the host cancelled in Guestly (issue 24 §5): the booking lets go of the cancelled
-- reservation and the website is told (hold_state: cancelled, so guestly-hold stops answering
-- `held`); a payment — after the cancellation or before it reached us — creates a new reservation
-- (the claim hands the sync no reservation to confirm) and alerts the admin once; never is the
-- cancelled one set back to confirmed. Our own release's echo is not the host's cancellation, and
-- a sync at the hold right now makes the cancellation wait for its pass.
begin;
select plan(28);

create function pg_temp.b(id uuid) returns public.bookings
  language sql as $$ select * from public.bookings where bookings.id = b.id $$;
create function pg_temp.held(id uuid, check_in date, reservation text) returns void
  language plpgsql as $$
declare
  lease uuid;
begin
  insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
    check_in, check_out, guests_count, amount_total, currency, status, stripe_payment_intent_id)
  values (held.id, '0b0e7f3a-0000-4000-8000-000000000001', 'H', 'Cancel', 'hc@example.com',
    held.check_in, held.check_in + 3, 2, 30000, 'eur', 'pending_payment', 'pi_' || reservation);
  lease := (guestly.claim_sync(held.id) ->> 'lease_id')::uuid;
  perform guestly.record_success(held.id, lease, reservation, 'pending_payment');
end $$;
create function pg_temp.host_cancels(message text, reservation text, booking uuid) returns jsonb
  language plpgsql as $$
begin
  perform guestly_events.record_event(message, 'reservation.updated.v2', message, reservation,
    now(), '{status}', '{}'::jsonb);
  return guestly_events.apply_guestly_change(message, booking,
    jsonb_build_object('status', 'canceled', 'canceled_by', 'host'));
end $$;
create function pg_temp.alerts(id uuid) returns int
  language sql as $$
  select count(*)::int from guestly.admin_alerts a
   where a.booking_id = alerts.id and a.kind = 'hold_cancelled_in_guestly' $$;

delete from guestly.function_state;
select guestly.report_function_state('guestly-sync', true, false, '{"hold_minutes": 10}');

-- The host cancels the hold while the guest is still at the Checkout.
select pg_temp.held('00000000-0000-4000-8000-0000000dc001', '2033-01-01', 'res-hc-1');
select is(guestly.hold_state('00000000-0000-4000-8000-0000000dc001') ->> 'hold_status', 'held',
  'held in Guestly');
select is(pg_temp.host_cancels('hc-1', 'res-hc-1', '00000000-0000-4000-8000-0000000dc001') ->> 'reason',
  'hold_cancelled_in_guestly', 'the host''s cancellation of the hold is applied');
select is((select row(status, guestly_hold_status, guestly_reservation_id, guestly_hold_reservation_id,
                      guestly_synced_status)::text
             from public.bookings where id = '00000000-0000-4000-8000-0000000dc001'),
  '(pending_payment,cancelled,,res-hc-1,)',
  'the booking lets go of the cancelled reservation (kept on record as its hold)');
select is(guestly.hold_state('00000000-0000-4000-8000-0000000dc001') ->> 'hold_status', 'cancelled',
  'the website is told: no longer held');
select is((select reason from guestly_events.events where message_id = 'hc-1'),
  'hold_cancelled_in_guestly', 'the ledger says what happened');
select is(pg_temp.alerts('00000000-0000-4000-8000-0000000dc001'), 0,
  'nobody has paid: no admin alert');

-- The guest pays anyway: a new reservation, never the cancelled one confirmed; the admin is told.
delete from net.http_request_queue;
update public.bookings set status = 'confirmed' where id = '00000000-0000-4000-8000-0000000dc001';
create temp table claim1 as select guestly.claim_sync('00000000-0000-4000-8000-0000000dc001') as c;
select is((select c ->> 'claimed' from claim1), 'true', 'the payment starts a sync');
select is((select c -> 'booking' ->> 'guestly_reservation_id' from claim1), null,
  'with no reservation to confirm: the sync creates a new one');
select is(pg_temp.alerts('00000000-0000-4000-8000-0000000dc001'), 1, 'one admin alert');
select is((select details ->> 'paid_after_cancellation' || ' ' || (details ->> 'hold_reservation_id')
             from guestly.admin_alerts where booking_id = '00000000-0000-4000-8000-0000000dc001'
              and kind = 'hold_cancelled_in_guestly'),
  'true res-hc-1', 'naming the cancelled hold, paid after the cancellation');
select is((select count(*)::int from net.http_request_queue where url like '%/notify-admin'), 1,
  'notify-admin is woken');
-- (The new reservation's round, its reference set and seen on it.)
select guestly.record_success('00000000-0000-4000-8000-0000000dc001',
  (select (c ->> 'lease_id')::uuid from claim1), 'res-hc-1-new', 'confirmed', reference_set => true);
select is((select row(guestly_reservation_id, guestly_hold_status, guestly_sync_status)::text
             from public.bookings where id = '00000000-0000-4000-8000-0000000dc001'),
  '(res-hc-1-new,cancelled,synced)', 'the new reservation is the booking''s; the hold stays cancelled');
select is(pg_temp.host_cancels('hc-1-again', 'res-hc-1', '00000000-0000-4000-8000-0000000dc001') ->> 'outcome',
  'ignored', 'the cancelled hold''s later events (a redelivery, the reconciliation) change nothing');
select is((pg_temp.b('00000000-0000-4000-8000-0000000dc001')).status, 'confirmed',
  'and the paid booking stays confirmed');
select is(pg_temp.alerts('00000000-0000-4000-8000-0000000dc001'), 1, 'still one alert');

-- Paid first; the host's cancellation arrives before the sync confirmed the hold.
select pg_temp.held('00000000-0000-4000-8000-0000000dc002', '2033-02-01', 'res-hc-2');
update public.bookings set status = 'confirmed' where id = '00000000-0000-4000-8000-0000000dc002';
select is(pg_temp.host_cancels('hc-2', 'res-hc-2', '00000000-0000-4000-8000-0000000dc002') ->> 'reason',
  'hold_cancelled_in_guestly', 'a paid booking''s hold cancelled before its confirm: applied');
select is((select row(status, guestly_hold_status, guestly_reservation_id, guestly_sync_status)::text
             from public.bookings where id = '00000000-0000-4000-8000-0000000dc002'),
  '(confirmed,cancelled,,pending)', 'the booking stays paid and owes Guestly a new reservation');
select is(guestly.claim_sync('00000000-0000-4000-8000-0000000dc002') -> 'booking' ->> 'guestly_reservation_id',
  null, 'the sync is not handed the cancelled reservation to confirm');
select is((select details ->> 'paid_after_cancellation' from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-0000000dc002' and kind = 'hold_cancelled_in_guestly'),
  'false', 'the admin is told (paid before the cancellation reached us)');

-- A sync is confirming the hold right now: the cancellation waits for its pass.
select pg_temp.held('00000000-0000-4000-8000-0000000dc003', '2033-03-01', 'res-hc-3');
update public.bookings set status = 'confirmed' where id = '00000000-0000-4000-8000-0000000dc003';
create temp table claim3 as select guestly.claim_sync('00000000-0000-4000-8000-0000000dc003') as c;
select is(pg_temp.host_cancels('hc-3', 'res-hc-3', '00000000-0000-4000-8000-0000000dc003') ->> 'deferred',
  'true', 'while a sync holds the lease the cancellation is deferred');
select guestly.release_sync('00000000-0000-4000-8000-0000000dc003',
  (select (c ->> 'lease_id')::uuid from claim3));
select is(guestly_events.apply_guestly_change('hc-3', '00000000-0000-4000-8000-0000000dc003',
  jsonb_build_object('status', 'canceled', 'canceled_by', 'host')) ->> 'reason',
  'hold_cancelled_in_guestly', 'after the pass (Guestly did not take the confirm) it is applied');

-- The sync reads the hold before the payment confirms it and finds it cancelled (its webhook
-- never came): forget_cancelled_hold under the sync's lease, as the webhook would have.
select pg_temp.held('00000000-0000-4000-8000-0000000dc006', '2033-06-01', 'res-hc-6');
update public.bookings set status = 'confirmed' where id = '00000000-0000-4000-8000-0000000dc006';
create temp table claim6 as select guestly.claim_sync('00000000-0000-4000-8000-0000000dc006') as c;
select is(guestly.forget_cancelled_hold('00000000-0000-4000-8000-0000000dc006', gen_random_uuid(),
  'res-hc-6', 'host'), false, 'not under another lease');
select is(guestly.forget_cancelled_hold('00000000-0000-4000-8000-0000000dc006',
  (select (c ->> 'lease_id')::uuid from claim6), 'res-hc-6', 'host'), true,
  'under the sync''s lease the cancelled hold is let go of');
select is((select row(guestly_hold_status, guestly_reservation_id, guestly_hold_error)::text
             from public.bookings where id = '00000000-0000-4000-8000-0000000dc006'),
  '(cancelled,,"cancelled in Guestly by host")', 'as the webhook would have');
select is(pg_temp.alerts('00000000-0000-4000-8000-0000000dc006'), 1, 'and the admin is told');

-- Our own release (the Checkout ended) cancels the hold too: its echo is not the host's.
select pg_temp.held('00000000-0000-4000-8000-0000000dc004', '2033-04-01', 'res-hc-4');
select guestly.release_hold('00000000-0000-4000-8000-0000000dc004');
select is(pg_temp.host_cancels('hc-4', 'res-hc-4', '00000000-0000-4000-8000-0000000dc004') ->> 'reason',
  null, 'the echo of our own release is no host cancellation');
select is((pg_temp.b('00000000-0000-4000-8000-0000000dc004')).guestly_hold_status, 'releasing',
  'the release goes on');

-- Guestly's `expired` on a hold is its time running out, not a cancellation (80_holds).
select pg_temp.held('00000000-0000-4000-8000-0000000dc005', '2033-05-01', 'res-hc-5');
select guestly_events.record_event('hc-5', 'reservation.updated.v2', 'hc-5', 'res-hc-5', now(),
  '{status}', '{}'::jsonb);
select guestly_events.apply_guestly_change('hc-5', null, jsonb_build_object('status', 'expired'));
select is((pg_temp.b('00000000-0000-4000-8000-0000000dc005')).guestly_hold_status, 'expired',
  'an expired hold is expired, not cancelled');

select * from finish();
rollback;
