-- The money cases of payments.record_stripe_event (13-argument form): the grace window for
-- unmatched payments, one alert per money problem (and none doubled by a redelivery or by the
-- second event of the same payment), free Checkouts, partial refunds, disputes, and what
-- stripe_events_needing_attention lists. Everything rolls back.
begin;
set local role postgres;
select plan(63);

-- Shorthand: the 13-argument call with a payload of {}.
create function pg_temp.ev(
  id text, type text, created timestamptz, action text, booking uuid, pi text, amount bigint,
  refunded_in_full boolean default false, details jsonb default '{}', grace int default 600,
  currency text default 'usd'
) returns jsonb language sql as $$
  select payments.record_stripe_event(id, type, created, false, action, booking, pi, amount,
    currency, refunded_in_full, '{}'::jsonb, details, grace);
$$;
create function pg_temp.alerts(event_id text) returns setof guestly.admin_alerts
  language sql as $$ select * from guestly.admin_alerts where details ->> 'event_id' = event_id $$;

-- ---------------------------------------------------------------------------------------------
-- Access.
select has_function('payments', 'record_stripe_event',
  array['text', 'text', 'timestamp with time zone', 'boolean', 'text', 'uuid', 'text', 'bigint',
        'text', 'boolean', 'jsonb', 'jsonb', 'integer'],
  'record_stripe_event has the 13-argument form');
select is_definer('payments', 'record_stripe_event',
  array['text', 'text', 'timestamp with time zone', 'boolean', 'text', 'uuid', 'text', 'bigint',
        'text', 'boolean', 'jsonb', 'jsonb', 'integer'],
  'the 13-argument form is SECURITY DEFINER');
select ok(
  (select proconfig @> array['search_path=""'] from pg_proc
    where oid = 'payments.record_stripe_event(text,text,timestamptz,boolean,text,uuid,text,bigint,text,boolean,jsonb,jsonb,int)'::regprocedure),
  'the 13-argument form runs with an empty search_path');
select ok(
  not has_function_privilege('anon', 'payments.record_stripe_event(text,text,timestamptz,boolean,text,uuid,text,bigint,text,boolean,jsonb,jsonb,int)', 'execute')
  and not has_function_privilege('authenticated', 'payments.record_stripe_event(text,text,timestamptz,boolean,text,uuid,text,bigint,text,boolean,jsonb,jsonb,int)', 'execute')
  and has_function_privilege('service_role', 'payments.record_stripe_event(text,text,timestamptz,boolean,text,uuid,text,bigint,text,boolean,jsonb,jsonb,int)', 'execute'),
  'only service_role may execute the 13-argument form');
select is(
  (select count(*)::int
     from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
    where p.oid = 'payments.record_stripe_event(text,text,timestamptz,boolean,text,uuid,text,bigint,text,boolean,jsonb,jsonb,int)'::regprocedure
      and a.grantee = 0),
  0, 'PUBLIC has no execute on the 13-argument form');
select ok(
  (select count(*) = 5 from guestly.alert_kinds
    where kind in ('payment_unmatched', 'payment_for_cancelled_booking', 'duplicate_payment',
                   'payment_disputed', 'partial_refund')),
  'the five money alert kinds exist');

-- ---------------------------------------------------------------------------------------------
-- Fixtures: bookings of 45000 usd. 1 pending (free Checkout), 2 confirmed by pi_m_2, 3 cancelled
-- unpaid, 4 cancelled after pi_m_4 paid it, 5 confirmed by pi_m_5 (refunds, dispute), 6 pending
-- (confirmed later by its Checkout session after an unmatched PaymentIntent event).
insert into public.properties (id, name, guestly_listing_id)
values ('7e57b000-0000-4000-8000-000000000001', 'pgTAP money cottage', 'pgtap-money-listing');
insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
                             check_in, check_out, guests_count, amount_total, currency, status,
                             stripe_payment_intent_id)
select ('7e57b000-0000-4000-8000-00000000000' || n)::uuid,
       '7e57b000-0000-4000-8000-000000000001', 'Pg', 'Money', 'pgtap-money@example.com',
       '2029-02-01', '2029-02-04', 2, 45000, 'usd', s, pi
  from (values (1, 'pending_payment', null), (2, 'confirmed', 'pi_m_2'),
               (3, 'cancelled', null), (4, 'cancelled', 'pi_m_4'),
               (5, 'confirmed', 'pi_m_5'), (6, 'pending_payment', null)) as b (n, s, pi);

-- ---------------------------------------------------------------------------------------------
-- Unmatched payment: inside the grace window nothing is recorded; after it, one alert.
select is(
  pg_temp.ev('evt_m_u1', 'payment_intent.succeeded', now() - interval '9 minutes', 'paid',
             '7e57b000-0000-4000-8000-0000000000ff', 'pi_m_u', 45000) - 'retry_until',
  '{"duplicate": false, "outcome": "deferred", "booking_id": null, "booking_status": null}'::jsonb,
  'a payment for an unknown booking 9 minutes after the event is deferred');
select is(
  (pg_temp.ev('evt_m_u1b', 'payment_intent.succeeded', now() - interval '9 minutes', 'paid',
              '7e57b000-0000-4000-8000-0000000000ff', 'pi_m_u', 45000) ->> 'retry_until')::timestamptz,
  now() + interval '1 minute',
  'the deferral says until when (event created + grace)');
select is((select count(*)::int from payments.stripe_events where id in ('evt_m_u1', 'evt_m_u1b')),
  0, 'a deferred event leaves no ledger row (its redelivery is processed afresh)');
select is((select count(*)::int from pg_temp.alerts('evt_m_u1')), 0, 'and no alert');
select is(
  pg_temp.ev('evt_m_u1', 'payment_intent.succeeded', now() - interval '11 minutes', 'paid',
             '7e57b000-0000-4000-8000-0000000000ff', 'pi_m_u', 45000,
             details => '{"booking_ref": "BK-1234"}') ->> 'outcome',
  'unmatched', 'after the grace window the same event is recorded unmatched');
select results_eq(
  $$ select kind, booking_id, details ->> 'payment_intent_id', (details ->> 'amount')::int,
            details ->> 'currency', details ->> 'booking_ref', details ->> 'reason'
       from pg_temp.alerts('evt_m_u1') $$,
  $$ values ('payment_unmatched'::text, null::uuid, 'pi_m_u'::text, 45000, 'usd'::text,
             'BK-1234'::text, 'booking 7e57b000-0000-4000-8000-0000000000ff does not exist'::text) $$,
  'one payment_unmatched alert with the amount, payment intent, reference and reason');
select is(
  pg_temp.ev('evt_m_u1', 'payment_intent.succeeded', now() - interval '11 minutes', 'paid',
             '7e57b000-0000-4000-8000-0000000000ff', 'pi_m_u', 45000) ->> 'duplicate',
  'true', 'a redelivery is a duplicate');
select is((select count(*)::int from pg_temp.alerts('evt_m_u1')), 1, 'and writes no second alert');
select is(
  pg_temp.ev('evt_m_u2', 'checkout.session.completed', now() - interval '11 minutes', 'paid',
             null, 'pi_m_u', 45000) ->> 'outcome',
  'unmatched', 'the Checkout event of the same unmatched payment is unmatched too');
select is((select count(*)::int from guestly.admin_alerts where details ->> 'payment_intent_id' = 'pi_m_u'),
  1, 'but the same payment is alerted once');
select is(
  pg_temp.ev('evt_m_u3', 'payment_intent.succeeded', now(), 'paid', null, 'pi_m_u3', 45000,
             grace => 0) ->> 'outcome',
  'unmatched', 'a grace window of 0 records an unmatched payment at once');
select is(
  pg_temp.ev('evt_m_u4', 'payment_intent.payment_failed', now(), 'payment_failed', null,
             'pi_m_u4', 45000) ->> 'outcome',
  'unmatched', 'a failed payment is never deferred (no money arrived)');
select is((select count(*)::int from pg_temp.alerts('evt_m_u4')), 0,
  'and an unmatched failure writes no alert');

-- The PaymentIntent event arrives without booking metadata and after the grace window; its
-- Checkout session event then confirms the booking with that PaymentIntent.
select is(
  pg_temp.ev('evt_m_6a', 'payment_intent.succeeded', now() - interval '1 hour', 'paid', null,
             'pi_m_6', 45000) ->> 'outcome',
  'unmatched', 'a PaymentIntent event without a booking id, long after, is unmatched');
select ok(
  exists (select 1 from public.stripe_events_needing_attention where event_id = 'evt_m_6a'),
  'and listed as needing attention while no booking has its PaymentIntent');
select is(
  pg_temp.ev('evt_m_6b', 'checkout.session.completed', now() - interval '1 hour', 'paid',
             '7e57b000-0000-4000-8000-000000000006', 'pi_m_6', 45000) ->> 'outcome',
  'confirmed', 'its Checkout session event confirms the booking');
select ok(
  not exists (select 1 from public.stripe_events_needing_attention where event_id = 'evt_m_6a'),
  'the unmatched PaymentIntent event is no longer listed once its payment confirmed a booking');
select ok(
  exists (select 1 from public.stripe_events_needing_attention where event_id = 'evt_m_u1'),
  'an unmatched payment nobody applied stays listed');

-- ---------------------------------------------------------------------------------------------
-- A Checkout that collected nothing confirms only when its own totals show the discount covered
-- the booking's amount: a setup-mode session or another price is an amount mismatch.
select is(
  pg_temp.ev('evt_m_1s', 'checkout.session.completed', now(), 'no_payment_required',
             '7e57b000-0000-4000-8000-000000000001', null, 0,
             details => '{"checkout_session_id": "cs_m_1s"}') ->> 'outcome',
  'amount_mismatch', 'a free Checkout with no totals (setup mode) confirms nothing');
select is(
  pg_temp.ev('evt_m_1p', 'checkout.session.completed', now(), 'no_payment_required',
             '7e57b000-0000-4000-8000-000000000001', null, 0,
             details => '{"checkout_session_id": "cs_m_1p", "checkout_amount_subtotal": 20000, "checkout_amount_discount": 20000}') ->> 'outcome',
  'amount_mismatch', 'a free Checkout for another price (20000 of 45000) confirms nothing');
select is(
  (select count(*)::int from guestly.admin_alerts
    where kind = 'payment_mismatch' and details ->> 'event_id' in ('evt_m_1s', 'evt_m_1p')
      and details ->> 'expected_amount' = '45000'),
  2, 'each refused free Checkout alerts the admin with the amount it should have forgiven');
select is(
  (select status from public.bookings where id = '7e57b000-0000-4000-8000-000000000001'),
  'pending_payment', 'the booking still waits for its payment');
select is(
  pg_temp.ev('evt_m_1', 'checkout.session.completed', now(), 'no_payment_required',
             '7e57b000-0000-4000-8000-000000000001', null, 0,
             details => '{"checkout_session_id": "cs_m_1", "checkout_amount_subtotal": 45000, "checkout_amount_discount": 45000}'),
  '{"duplicate": false, "outcome": "confirmed", "booking_id": "7e57b000-0000-4000-8000-000000000001", "booking_status": "confirmed"}'::jsonb,
  'no_payment_required confirms a booking whose whole amount the discount covered');
select results_eq(
  $$ select status, stripe_payment_intent_id, guestly_sync_status from public.bookings
      where id = '7e57b000-0000-4000-8000-000000000001' $$,
  $$ values ('confirmed'::text, null::text, 'pending'::text) $$,
  'the free booking is confirmed, without a PaymentIntent, and owes Guestly a sync');
select ok(
  not exists (select 1 from public.stripe_events_needing_attention where event_id = 'evt_m_1')
  and not exists (select 1 from pg_temp.alerts('evt_m_1')),
  'a free confirmation raises no alert and needs nobody');
select is(
  pg_temp.ev('evt_m_1x', 'checkout.session.completed', now(), 'no_payment_required',
             '7e57b000-0000-4000-8000-000000000003', null, 0) ->> 'outcome',
  'stale', 'no_payment_required for a cancelled booking is stale (no money, no alert)');
select is(
  pg_temp.ev('evt_m_1y', 'checkout.session.completed', now(), 'no_payment_required',
             '7e57b000-0000-4000-8000-0000000000fe', null, 0) ->> 'outcome',
  'deferred', 'a free Checkout for a booking not (yet) there is deferred like a payment');

-- ---------------------------------------------------------------------------------------------
-- A second, different payment for a confirmed booking.
select is(
  pg_temp.ev('evt_m_2a', 'payment_intent.succeeded', now(), 'paid',
             '7e57b000-0000-4000-8000-000000000002', 'pi_m_2', 45000) ->> 'outcome',
  'confirmed', 'the payment that confirmed the booking, delivered as another event, is a no-op');
select is(
  pg_temp.ev('evt_m_2b', 'payment_intent.succeeded', now(), 'paid',
             '7e57b000-0000-4000-8000-000000000002', 'pi_m_2b', 45000),
  '{"duplicate": false, "outcome": "duplicate_payment", "booking_id": "7e57b000-0000-4000-8000-000000000002", "booking_status": "confirmed"}'::jsonb,
  'a different payment for a confirmed booking is a duplicate_payment');
select results_eq(
  $$ select kind, booking_id, details ->> 'payment_intent_id', details ->> 'booking_payment_intent_id'
       from pg_temp.alerts('evt_m_2b') $$,
  $$ values ('duplicate_payment'::text, '7e57b000-0000-4000-8000-000000000002'::uuid,
             'pi_m_2b'::text, 'pi_m_2'::text) $$,
  'one duplicate_payment alert naming both payments');
select is(
  (select stripe_payment_intent_id from public.bookings where id = '7e57b000-0000-4000-8000-000000000002'),
  'pi_m_2', 'the booking keeps the payment that confirmed it');
select is(
  pg_temp.ev('evt_m_2c', 'checkout.session.completed', now(), 'paid',
             '7e57b000-0000-4000-8000-000000000002', 'pi_m_2b', 45000) ->> 'outcome',
  'duplicate_payment', 'the Checkout event of the second payment is a duplicate_payment too');
select is(
  (select count(*)::int from guestly.admin_alerts
    where kind = 'duplicate_payment' and booking_id = '7e57b000-0000-4000-8000-000000000002'),
  1, 'but the second payment is alerted once');
select is(
  pg_temp.ev('evt_m_2d', 'payment_intent.succeeded', now(), 'paid',
             '7e57b000-0000-4000-8000-000000000002', 'pi_m_2d', 100) ->> 'outcome',
  'duplicate_payment', 'a third payment (any amount) is another duplicate_payment');
select is(
  (select count(*)::int from guestly.admin_alerts
    where kind = 'duplicate_payment' and booking_id = '7e57b000-0000-4000-8000-000000000002'),
  2, 'with its own alert');

-- ---------------------------------------------------------------------------------------------
-- Payments for cancelled bookings.
select is(
  pg_temp.ev('evt_m_3a', 'payment_intent.succeeded', now(), 'paid',
             '7e57b000-0000-4000-8000-000000000003', 'pi_m_3', 45000),
  '{"duplicate": false, "outcome": "payment_for_cancelled_booking", "booking_id": "7e57b000-0000-4000-8000-000000000003", "booking_status": "cancelled"}'::jsonb,
  'a payment for a cancelled booking is payment_for_cancelled_booking; the booking stays cancelled');
select results_eq(
  $$ select kind, details ->> 'booking_status', (details ->> 'amount')::int from pg_temp.alerts('evt_m_3a') $$,
  $$ values ('payment_for_cancelled_booking'::text, 'cancelled'::text, 45000) $$,
  'one payment_for_cancelled_booking alert with the booking status and amount');
select is(
  pg_temp.ev('evt_m_3b', 'checkout.session.completed', now(), 'paid',
             '7e57b000-0000-4000-8000-000000000003', 'pi_m_3', 45000) ->> 'outcome',
  'payment_for_cancelled_booking', 'the Checkout event of the same payment has the same outcome');
select is(
  (select count(*)::int from guestly.admin_alerts
    where kind = 'payment_for_cancelled_booking' and booking_id = '7e57b000-0000-4000-8000-000000000003'),
  1, 'and writes no second alert');
select is(
  (select status from public.bookings where id = '7e57b000-0000-4000-8000-000000000003'),
  'cancelled', 'a payment never brings a cancelled booking back');
select is(
  pg_temp.ev('evt_m_4', 'payment_intent.succeeded', now(), 'paid',
             '7e57b000-0000-4000-8000-000000000004', 'pi_m_4', 45000) ->> 'outcome',
  'stale', 'the cancelled booking''s own payment arriving late is stale');
select ok(
  not exists (select 1 from pg_temp.alerts('evt_m_4'))
  and not exists (select 1 from public.stripe_events_needing_attention where event_id = 'evt_m_4'),
  'and neither alerts nor needs anybody');

-- ---------------------------------------------------------------------------------------------
-- Partial refunds (amount_refunded is cumulative), then the full refund.
select is(
  pg_temp.ev('evt_m_5a', 'charge.refunded', now(), 'refund',
             '7e57b000-0000-4000-8000-000000000005', 'pi_m_5', 15000,
             details => '{"charge_amount": 45000, "charge_id": "ch_m_5"}'),
  '{"duplicate": false, "outcome": "partial_refund", "booking_id": "7e57b000-0000-4000-8000-000000000005", "booking_status": "confirmed"}'::jsonb,
  'a partial refund is recorded as partial_refund; the booking stays confirmed');
select results_eq(
  $$ select kind, (details ->> 'amount')::int, (details ->> 'charge_amount')::int,
            details ->> 'charge_id' from pg_temp.alerts('evt_m_5a') $$,
  $$ values ('partial_refund'::text, 15000, 45000, 'ch_m_5'::text) $$,
  'one partial_refund alert with the refunded and the charged amount');
select is(
  (select error from payments.stripe_events where id = 'evt_m_5a'),
  'partial refund (15000 of 45000 usd refunded so far): the booking stays as it is',
  'the ledger says how much was refunded');
select is(
  pg_temp.ev('evt_m_5a', 'charge.refunded', now(), 'refund',
             '7e57b000-0000-4000-8000-000000000005', 'pi_m_5', 15000) ->> 'duplicate',
  'true', 'the partial refund delivered again is a duplicate');
select is(
  pg_temp.ev('evt_m_5b', 'charge.refunded', now(), 'refund',
             '7e57b000-0000-4000-8000-000000000005', 'pi_m_5', 30000,
             details => '{"charge_amount": 45000}') ->> 'outcome',
  'partial_refund', 'a second partial refund (cumulative 30000) is another partial_refund');
select is(
  (select count(*)::int from guestly.admin_alerts
    where kind = 'partial_refund' and booking_id = '7e57b000-0000-4000-8000-000000000005'),
  2, 'one alert per refund, none per redelivery');

-- Disputes: matched by PaymentIntent, or not matched at all.
select is(
  pg_temp.ev('evt_m_5d', 'charge.dispute.created', now(), 'dispute', null, 'pi_m_5', 45000,
             details => '{"dispute_id": "dp_m_5", "dispute_reason": "fraudulent", "evidence_due_by": "2029-01-10T23:59:59.000Z"}'),
  '{"duplicate": false, "outcome": "disputed", "booking_id": "7e57b000-0000-4000-8000-000000000005", "booking_status": "confirmed"}'::jsonb,
  'a dispute is found by its PaymentIntent and leaves the booking as it is');
select results_eq(
  $$ select kind, booking_id, (details ->> 'amount')::int, details ->> 'dispute_reason',
            details ->> 'dispute_id', details ->> 'evidence_due_by' from pg_temp.alerts('evt_m_5d') $$,
  $$ values ('payment_disputed'::text, '7e57b000-0000-4000-8000-000000000005'::uuid, 45000,
             'fraudulent'::text, 'dp_m_5'::text, '2029-01-10T23:59:59.000Z'::text) $$,
  'one payment_disputed alert with the amount, reason, dispute and deadline');
select is(
  pg_temp.ev('evt_m_5d', 'charge.dispute.created', now(), 'dispute', null, 'pi_m_5', 45000) ->> 'duplicate',
  'true', 'the dispute delivered again is a duplicate');
select is((select count(*)::int from pg_temp.alerts('evt_m_5d')), 1, 'and writes no second alert');
select is(
  pg_temp.ev('evt_m_dx', 'charge.dispute.created', now(), 'dispute', null, 'pi_m_nobody', 9900,
             details => '{"dispute_reason": "general"}') ->> 'outcome',
  'disputed', 'a dispute no booking matches is still disputed (never deferred)');
select results_eq(
  $$ select kind, booking_id, (details ->> 'amount')::int from pg_temp.alerts('evt_m_dx') $$,
  $$ values ('payment_disputed'::text, null::uuid, 9900) $$,
  'and alerted without a booking');

select is(
  pg_temp.ev('evt_m_5f', 'charge.refunded', now(), 'refund',
             '7e57b000-0000-4000-8000-000000000005', 'pi_m_5', 45000, true) ->> 'booking_status',
  'refunded', 'the full refund after the partial ones refunds the booking');

-- ---------------------------------------------------------------------------------------------
-- What the operator's view lists.
select set_eq(
  $$ select event_id from public.stripe_events_needing_attention where event_id like 'evt_m_%' $$,
  array['evt_m_u1', 'evt_m_u2', 'evt_m_u3', 'evt_m_2b', 'evt_m_2c', 'evt_m_2d',
        'evt_m_3a', 'evt_m_3b', 'evt_m_5a', 'evt_m_5b', 'evt_m_5d', 'evt_m_dx',
        'evt_m_1s', 'evt_m_1p'],
  'the view lists every money problem; no no-ops, failures or resolved unmatched payments');

select throws_ok(
  $$ select pg_temp.ev('evt_m_bad', 't', now(), 'paid', null, null, 1, details => '[1]') $$,
  '22023', null, 'details that are not a JSON object are refused');

select * from finish();
rollback;
