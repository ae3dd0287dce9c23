-- Content changes and money follow a booking to Guestly: only a real change of what Guestly holds
-- queues a request; a change written together with its synced state (Guestly's own) queues none;
-- Stripe's payments and refunds become money rows exactly once; lower priorities leave Guestly's
-- limits to paid work.
begin;
select plan(35);

insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency, status)
values ('00000000-0000-4000-8000-0000000cc001', '0b0e7f3a-0000-4000-8000-000000000001', 'M', 'M',
  'm@example.com', '2032-01-01', '2032-01-04', 2, 45000, 'usd', 'confirmed'),
       ('00000000-0000-4000-8000-0000000cc002', '0b0e7f3a-0000-4000-8000-000000000001', 'N', 'N',
  'n@example.com', '2032-02-01', '2032-02-04', 2, 45000, 'usd', 'confirmed'),
       ('00000000-0000-4000-8000-0000000cc003', '0b0e7f3a-0000-4000-8000-000000000001', 'P', 'P',
  'p@example.com', '2032-03-01', '2032-03-04', 2, 45000, 'usd', 'pending_payment');

-- cc001 is in Guestly, holding what the booking says (and our reference); cc002 failed for good
-- before a create.
update public.bookings b
   set guestly_reservation_id = 'res-cc001', guestly_synced_status = 'confirmed',
       guestly_reference_set_at = now(),
       guestly_synced_state = guestly.desired_state(b), guestly_sync_status = 'synced',
       guestly_sync_next_attempt_at = null
 where b.id = '00000000-0000-4000-8000-0000000cc001';
update public.bookings
   set guestly_sync_status = 'failed', guestly_sync_gave_up_at = now(),
       guestly_sync_error_kind = 'conflict', guestly_sync_next_attempt_at = null
 where id = '00000000-0000-4000-8000-0000000cc002';
delete from net.http_request_queue;

update public.bookings set stripe_payment_intent_id = 'pi_cc_other'
 where id = '00000000-0000-4000-8000-0000000cc001';
select is((select count(*)::int from net.http_request_queue), 0,
  'an UPDATE of columns Guestly does not hold queues no request');
update public.bookings set guest_last_name = 'M' where id = '00000000-0000-4000-8000-0000000cc001';
select is((select count(*)::int from net.http_request_queue), 0,
  'an UPDATE that writes the same values queues no request');

update public.bookings set check_out = '2032-01-05' where id = '00000000-0000-4000-8000-0000000cc001';
select is((select count(*)::int from net.http_request_queue), 1, 'moved dates queue one request');
select is((select row(guestly_sync_status, guestly_sync_pending_since is not null,
                      guestly_sync_next_attempt_at is not null)::text
             from public.bookings where id = '00000000-0000-4000-8000-0000000cc001'),
  '(pending,t,t)', 'and start an episode the sweep also sees');

create temp table claims (n int, result jsonb);
insert into claims select 1, guestly.claim_sync('00000000-0000-4000-8000-0000000cc001');
select is((select result -> 'booking' -> 'guestly_desired_state' ->> 'check_out' from claims where n = 1),
  '2032-01-05', 'the claim hands over the desired content');
select is((select result -> 'booking' -> 'guestly_synced_state' ->> 'check_out' from claims where n = 1),
  '2032-01-04', 'and what Guestly holds');
select is((select guestly.record_success('00000000-0000-4000-8000-0000000cc001',
             (select (result ->> 'lease_id')::uuid from claims where n = 1), 'res-cc001', 'confirmed',
             (select result -> 'booking' -> 'guestly_desired_state' from claims where n = 1)) ->> 'more_work'),
  'false', 'recording the new content leaves no work');
select is((select guestly_sync_status from public.bookings where id = '00000000-0000-4000-8000-0000000cc001'),
  'synced', 'synced');

-- A change made while the sync was in flight is more work for the same holder.
insert into claims select 2, guestly.claim_sync('00000000-0000-4000-8000-0000000cc001');
select is((select result ->> 'reason' from claims where n = 2), 'already_synced',
  'nothing to claim once Guestly holds it');
update public.bookings set guests_count = 3 where id = '00000000-0000-4000-8000-0000000cc001';
insert into claims select 3, guestly.claim_sync('00000000-0000-4000-8000-0000000cc001');
update public.bookings set guests_count = 4 where id = '00000000-0000-4000-8000-0000000cc001';
select is((select guestly.record_success('00000000-0000-4000-8000-0000000cc001',
             (select (result ->> 'lease_id')::uuid from claims where n = 3), 'res-cc001', 'confirmed',
             (select result -> 'booking' -> 'guestly_desired_state' from claims where n = 3)) ->> 'more_work'),
  'true', 'a change during the sync leaves more work (the latest state is sent next)');

-- Guestly's own change, written with the state Guestly holds: no echo.
update public.bookings b set guestly_sync_status = 'synced', guestly_synced_state = guestly.desired_state(b)
 where id = '00000000-0000-4000-8000-0000000cc001';
delete from net.http_request_queue;
update public.bookings b
   set check_in = '2032-01-02',
       guestly_synced_state = jsonb_set(b.guestly_synced_state, '{check_in}', '"2032-01-02"'),
       guestly_sync_status = 'synced'
 where id = '00000000-0000-4000-8000-0000000cc001';
select is((select count(*)::int from net.http_request_queue), 0,
  'a change written with its synced state is not sent back');
select is((select guestly_sync_status from public.bookings where id = '00000000-0000-4000-8000-0000000cc001'),
  'synced', 'and stays synced');

-- Not in Guestly yet: the pending create carries changes; a create that failed for good retries.
update public.bookings set guest_email = 'p2@example.com' where id = '00000000-0000-4000-8000-0000000cc003';
select is((select count(*)::int from net.http_request_queue), 0, 'a booking not paid yet sends nothing');
update public.bookings set check_in = '2032-02-10', check_out = '2032-02-12'
 where id = '00000000-0000-4000-8000-0000000cc002';
select is((select count(*)::int from net.http_request_queue), 1,
  'moving a double-booked stay to other dates tries the create again');
select is((select row(guestly_sync_status, guestly_sync_gave_up_at is null)::text
             from public.bookings where id = '00000000-0000-4000-8000-0000000cc002'),
  '(pending,t)', 'as a new episode');

-- Money: Stripe's payment and refunds become rows to record, each once.
select payments.record_stripe_event('evt_cc_paid', 'payment_intent.succeeded', now(), false, 'paid',
  '00000000-0000-4000-8000-0000000cc003', 'pi_cc_3', 45000, 'usd', false, '{"id": "evt_cc_paid"}');
select is((select row(kind, amount, currency, reference, status)::text from guestly.payments
            where booking_id = '00000000-0000-4000-8000-0000000cc003'),
  '(payment,45000,usd,pi_cc_3,pending)', 'a payment becomes one row to record');
select payments.record_stripe_event('evt_cc_paid', 'payment_intent.succeeded', now(), false, 'paid',
  '00000000-0000-4000-8000-0000000cc003', 'pi_cc_3', 45000, 'usd', false, '{"id": "evt_cc_paid"}');
select is((select count(*)::int from guestly.payments where booking_id = '00000000-0000-4000-8000-0000000cc003'),
  1, 'a redelivered event adds nothing');

update public.bookings b
   set guestly_reservation_id = 'res-cc003', guestly_synced_status = 'confirmed',
       guestly_synced_state = guestly.desired_state(b), guestly_sync_status = 'synced'
 where id = '00000000-0000-4000-8000-0000000cc003';
update guestly.payments set status = 'recorded' where booking_id = '00000000-0000-4000-8000-0000000cc003';
delete from net.http_request_queue;
select payments.record_stripe_event('evt_cc_ref1', 'charge.refunded', now(), false, 'refund',
  '00000000-0000-4000-8000-0000000cc003', 'pi_cc_3', 10000, 'usd', false, '{"id": "evt_cc_ref1"}');
select payments.record_stripe_event('evt_cc_ref2', 'charge.refunded', now(), false, 'refund',
  '00000000-0000-4000-8000-0000000cc003', 'pi_cc_3', 15000, 'usd', false, '{"id": "evt_cc_ref2"}');
select is((select string_agg(amount::text, ',' order by reference) from guestly.payments
            where booking_id = '00000000-0000-4000-8000-0000000cc003' and kind = 'refund'),
  '10000,5000', 'partial refunds record what each adds (Stripe sends the cumulative amount)');
select is((select status from public.bookings where id = '00000000-0000-4000-8000-0000000cc003'),
  'confirmed', 'a partial refund leaves the booking confirmed');
select is((select row(guestly_sync_status, (select count(*) from net.http_request_queue) > 0)::text
             from public.bookings where id = '00000000-0000-4000-8000-0000000cc003'),
  '(pending,t)', 'and wakes its sync');
select is(guestly.record_payment_outcome('00000000-0000-4000-8000-0000000cc003', gen_random_uuid(),
            (select id from guestly.payments where booking_id = '00000000-0000-4000-8000-0000000cc003'
              and kind = 'refund' order by amount limit 1), 'recorded'),
  false, 'only the lease holder records a payment''s outcome');

-- The lease holder writes a payment row's outcome: sending (may land) → not_sent → recorded.
insert into claims select 4, guestly.claim_sync('00000000-0000-4000-8000-0000000cc003');
-- The claim carries every money row in recording order, recorded ones with Guestly's id: what
-- tells which of the reservation's payments in Guestly are ours (Guesty declares no note).
select is((select string_agg(concat_ws(':', e ->> 'kind', e ->> 'status', e ->> 'amount',
                                       e ? 'guestly_payment_id', e ? 'created_at'), ',')
             from claims, jsonb_array_elements(result -> 'booking' -> 'guestly_money') e where n = 4),
  'payment:recorded:45000:t:t,refund:pending:10000:t:t,refund:pending:5000:t:t',
  'the claim carries every money row of the booking, in order, the recorded ones too');
create temp table refund_row as
  select id from guestly.payments where booking_id = '00000000-0000-4000-8000-0000000cc003'
     and kind = 'refund' order by amount limit 1;
select ok(guestly.record_payment_outcome('00000000-0000-4000-8000-0000000cc003',
            (select (result ->> 'lease_id')::uuid from claims where n = 4),
            (select id from refund_row), 'sending'), 'the holder marks a record as on its way');
select ok((select unknown_at is not null from guestly.payments where id = (select id from refund_row)),
  'so a crash after it leaves a lookup, not a second record');
select guestly.record_payment_outcome('00000000-0000-4000-8000-0000000cc003',
  (select (result ->> 'lease_id')::uuid from claims where n = 4), (select id from refund_row), 'not_sent');
select ok((select unknown_at is null from guestly.payments where id = (select id from refund_row)),
  'a definite refusal clears it');
select guestly.record_payment_outcome('00000000-0000-4000-8000-0000000cc003',
  (select (result ->> 'lease_id')::uuid from claims where n = 4), (select id from refund_row),
  'recorded', 'pay-77');
select is((select row(status, guestly_payment_id)::text from guestly.payments
            where id = (select id from refund_row)), '(recorded,pay-77)', 'recorded, with Guestly''s id');

-- A refund of a PaymentIntent we never recorded a payment for adds no row.
select payments.record_stripe_event('evt_cc_ref_other', 'charge.refunded', now(), false, 'refund',
  '00000000-0000-4000-8000-0000000cc003', 'pi_cc_other', 5000, 'usd', false, '{"id": "evt_cc_ref_other"}');
select is((select count(*)::int from guestly.payments where reference like 'pi\_cc\_other%'), 0,
  'a refund of a payment Guestly never got is not recorded there');

-- The booking moved on while its round ran: the failure is not final and alerts nobody.
update public.bookings b set guestly_sync_status = 'synced', guestly_synced_state = guestly.desired_state(b),
       guestly_sync_lease_id = null, guestly_sync_lease_until = null
 where id = '00000000-0000-4000-8000-0000000cc001';
update public.bookings set check_in = '2032-01-10', check_out = '2032-01-13'
 where id = '00000000-0000-4000-8000-0000000cc001';
insert into claims select 5, guestly.claim_sync('00000000-0000-4000-8000-0000000cc001');
update public.bookings set check_in = '2032-01-20', check_out = '2032-01-23'
 where id = '00000000-0000-4000-8000-0000000cc001';
insert into claims select 6, guestly.claim_sync('00000000-0000-4000-8000-0000000cc001');
select is((select result ->> 'reason' from claims where n = 6), 'leased', 'the new dates wait for the holder');
select is((select guestly.record_failure('00000000-0000-4000-8000-0000000cc001',
             (select (result ->> 'lease_id')::uuid from claims where n = 5),
             'dates not available in Guestly: Guestly HTTP 409', true, 12, error_kind => 'conflict',
             claimed_status => 'confirmed',
             claimed_state => (select result -> 'booking' -> 'guestly_desired_state' from claims where n = 5))
           ->> 'final'),
  'false', 'a conflict on dates the booking no longer has is not final');
select is((select row(guestly_sync_status, guestly_sync_gave_up_at is null,
                      guestly_sync_next_attempt_at <= now())::text
             from public.bookings where id = '00000000-0000-4000-8000-0000000cc001'),
  '(pending,t,t)', 'the latest dates are due at once');
select is((select count(*)::int from guestly.admin_alerts
            where booking_id = '00000000-0000-4000-8000-0000000cc001'), 0, 'and nobody is alerted');

-- Priorities: a hold may use 60 % of a window, live work all of it.
delete from guestly.request_slots;
select guestly.reserve_request_slot(10, 1000, 10000, 60000, 'live') from generate_series(1, 6);
select is(guestly.reserve_request_slot(10, 1000, 10000, 0, 'hold'), null,
  'a hold gets no slot once 6 of 10 per second are taken');
select isnt(guestly.reserve_request_slot(10, 1000, 10000, 0, 'live'), null,
  'while a paid booking still gets one at once');
select throws_ok($$select guestly.reserve_request_slot(10, 100, 1000, 0, 'urgent')$$, '22023', null,
  'an unknown priority is refused');

-- A request reaches Guestly some time after its slot: the next second's share starts 1.3 s after
-- the first, so a 300 ms spread of arrival delays never puts 11 in one of Guestly's seconds.
delete from guestly.request_slots;
create temp table burst_slots as
  select guestly.reserve_request_slot(10, 1000, 10000, 60000, 'live') as slot_at
    from generate_series(1, 11);
select cmp_ok((select max(slot_at) - min(slot_at) from burst_slots), '>=', interval '1.3 s',
  'the 11th of 10 per second waits 1.3 s after the first');

select * from finish();
rollback;
