-- The Stripe event ledger and payments.record_stripe_event: access (only service_role), one
-- change per event id, the booking rules (forward only, amount check, alert), all in SQL.
-- Everything here rolls back; pg_net requests queued by the trigger are never sent.
begin;
set local role postgres;
select plan(43);

-- ---------------------------------------------------------------------------------------------
-- Shape and access.
select has_schema('payments', 'schema payments exists');
select has_table('payments', 'stripe_events', 'the ledger payments.stripe_events exists');
select col_is_pk('payments', 'stripe_events', 'id', 'the ledger is keyed by the Stripe event id');
select ok(
  (select relrowsecurity from pg_class where oid = 'payments.stripe_events'::regclass),
  'RLS is on for the ledger'
);
select has_function(
  'payments', 'record_stripe_event',
  array['text', 'text', 'timestamp with time zone', 'boolean', 'text', 'uuid', 'text', 'bigint',
        'text', 'boolean', 'jsonb'],
  'payments.record_stripe_event has the expected signature'
);
select is_definer('payments', 'record_stripe_event',
  array['text', 'text', 'timestamp with time zone', 'boolean', 'text', 'uuid', 'text', 'bigint',
        'text', 'boolean', 'jsonb'],
  'record_stripe_event is SECURITY DEFINER');
select ok(
  (select proconfig @> array['search_path=""'] from pg_proc
    where oid = 'payments.record_stripe_event(text,text,timestamptz,boolean,text,uuid,text,bigint,text,boolean,jsonb)'::regprocedure),
  'record_stripe_event runs with an empty search_path'
);
select ok(
  not has_schema_privilege('anon', 'payments', 'usage')
  and not has_schema_privilege('authenticated', 'payments', 'usage')
  and has_schema_privilege('service_role', 'payments', 'usage'),
  'only service_role may use schema payments'
);
select ok(
  not has_table_privilege('anon', 'payments.stripe_events', 'select, insert, update, delete')
  and not has_table_privilege('authenticated', 'payments.stripe_events', 'select, insert, update, delete'),
  'anon and authenticated have no rights on the ledger'
);
select ok(
  not has_function_privilege('anon', 'payments.record_stripe_event(text,text,timestamptz,boolean,text,uuid,text,bigint,text,boolean,jsonb)', 'execute')
  and not has_function_privilege('authenticated', 'payments.record_stripe_event(text,text,timestamptz,boolean,text,uuid,text,bigint,text,boolean,jsonb)', 'execute')
  and has_function_privilege('service_role', 'payments.record_stripe_event(text,text,timestamptz,boolean,text,uuid,text,bigint,text,boolean,jsonb)', 'execute'),
  'only service_role may execute record_stripe_event'
);
select is(
  (select count(*)::int
     from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
    where p.oid = 'payments.record_stripe_event(text,text,timestamptz,boolean,text,uuid,text,bigint,text,boolean,jsonb)'::regprocedure
      and a.grantee = 0),
  0,
  'PUBLIC has no execute on record_stripe_event'
);
select throws_ok(
  $$ set local role anon; select * from payments.stripe_events $$,
  '42501', null,
  'as anon, reading the ledger is denied'
);
select throws_ok(
  $$ set local role authenticated; select * from payments.stripe_events $$,
  '42501', null,
  'as authenticated, reading the ledger is denied'
);
select throws_ok(
  $$ set local role authenticated;
     select payments.record_stripe_event('evt_x', 'payment_intent.succeeded', now(), false, 'paid',
       null, null, 1, 'usd', false, '{}') $$,
  '42501', null,
  'as authenticated, calling record_stripe_event is denied'
);
select throws_ok(
  $$ set local role anon;
     select payments.record_stripe_event('evt_x', 'payment_intent.succeeded', now(), false, 'paid',
       null, null, 1, 'usd', false, '{}') $$,
  '42501', null,
  'as anon, calling record_stripe_event is denied'
);
select is(current_user::text, 'postgres', 'the role switches above were undone');

-- ---------------------------------------------------------------------------------------------
-- Fixtures: one property, bookings waiting for payment (45000 usd).
insert into public.properties (id, name, guestly_listing_id)
values ('7e57a000-0000-4000-8000-000000000001', 'pgTAP cottage', 'pgtap-listing');
insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
                             check_in, check_out, guests_count, amount_total, currency)
select b.id, '7e57a000-0000-4000-8000-000000000001', 'Pg', 'Tap', 'pgtap@example.com',
       '2029-01-01', '2029-01-04', 2, 45000, 'usd'
  from (values ('7e57a000-0000-4000-8000-00000000000a'::uuid),
               ('7e57a000-0000-4000-8000-00000000000b'),
               ('7e57a000-0000-4000-8000-00000000000c'),
               ('7e57a000-0000-4000-8000-00000000000d'),
               ('7e57a000-0000-4000-8000-00000000000e')) as b (id);

create temp table _r (k text primary key, v jsonb) on commit drop;
create temp table _ctid (k text primary key, v tid) on commit drop;

-- The same event twice changes the booking once.
insert into _r select 'first', payments.record_stripe_event(
  'evt_pgtap_a1', 'payment_intent.succeeded', '2026-11-26 10:00+00', false, 'paid',
  '7e57a000-0000-4000-8000-00000000000a', 'pi_pgtap_a', 45000, 'USD', false,
  '{"id": "evt_pgtap_a1", "object": "event"}');
insert into _ctid select 'after_first', ctid from public.bookings
 where id = '7e57a000-0000-4000-8000-00000000000a';
insert into _r select 'second', payments.record_stripe_event(
  'evt_pgtap_a1', 'payment_intent.succeeded', '2026-11-26 10:00+00', false, 'paid',
  '7e57a000-0000-4000-8000-00000000000a', 'pi_pgtap_other', 45000, 'usd', false,
  '{"id": "evt_pgtap_a1", "object": "event"}');

select is(
  (select v from _r where k = 'first'),
  '{"duplicate": false, "outcome": "confirmed", "booking_id": "7e57a000-0000-4000-8000-00000000000a", "booking_status": "confirmed"}'::jsonb,
  'a matching payment confirms the booking'
);
select results_eq(
  $$ select status, stripe_payment_intent_id from public.bookings
      where id = '7e57a000-0000-4000-8000-00000000000a' $$,
  $$ values ('confirmed'::text, 'pi_pgtap_a'::text) $$,
  'the booking is confirmed with the PaymentIntent id'
);
select is(
  (select v from _r where k = 'second'),
  '{"duplicate": true, "outcome": "confirmed", "booking_id": "7e57a000-0000-4000-8000-00000000000a", "booking_status": "confirmed"}'::jsonb,
  'the repeated event id answers duplicate with the first outcome'
);
select is(
  (select ctid from public.bookings where id = '7e57a000-0000-4000-8000-00000000000a'),
  (select v from _ctid where k = 'after_first'),
  'the repeated event did not touch the booking row (same tuple)'
);
select is(
  (select count(*)::int from payments.stripe_events where id = 'evt_pgtap_a1'),
  1,
  'one ledger row per event id'
);
select results_eq(
  $$ select outcome, booking_id, payment_intent_id, amount, currency, processed_at is not null
       from payments.stripe_events where id = 'evt_pgtap_a1' $$,
  $$ values ('confirmed'::text, '7e57a000-0000-4000-8000-00000000000a'::uuid, 'pi_pgtap_a'::text,
            45000::bigint, 'usd'::text, true) $$,
  'the ledger keeps the first delivery, currency lower-cased, processed_at set'
);

-- Another success for a confirmed booking: no-op.
select is(
  payments.record_stripe_event('evt_pgtap_a2', 'checkout.session.completed', now(), false, 'paid',
    '7e57a000-0000-4000-8000-00000000000a', 'pi_pgtap_a', 45000, 'usd', false, '{}') ->> 'outcome',
  'confirmed',
  'a second success for a confirmed booking is a no-op reported as confirmed'
);

-- Amount mismatch: unchanged booking, ledger outcome, one alert.
select is(
  payments.record_stripe_event('evt_pgtap_b1', 'payment_intent.succeeded', now(), false, 'paid',
    '7e57a000-0000-4000-8000-00000000000b', 'pi_pgtap_b', 4500, 'usd', false, '{}') ->> 'outcome',
  'amount_mismatch',
  'a payment of another amount is a mismatch'
);
select is(
  (select status from public.bookings where id = '7e57a000-0000-4000-8000-00000000000b'),
  'pending_payment',
  'the mismatched booking is not confirmed'
);
select results_eq(
  $$ select kind, details from guestly.admin_alerts
      where booking_id = '7e57a000-0000-4000-8000-00000000000b' $$,
  $$ values ('payment_mismatch'::text, jsonb_build_object(
       'event_id', 'evt_pgtap_b1', 'event_type', 'payment_intent.succeeded',
       'payment_intent_id', 'pi_pgtap_b', 'expected_amount', 45000, 'expected_currency', 'usd',
       'received_amount', 4500, 'received_currency', 'usd')) $$,
  'the mismatch writes one payment_mismatch alert with expected and received amounts'
);
select is(
  payments.record_stripe_event('evt_pgtap_b1', 'payment_intent.succeeded', now(), false, 'paid',
    '7e57a000-0000-4000-8000-00000000000b', 'pi_pgtap_b', 4500, 'usd', false, '{}') ->> 'duplicate',
  'true',
  'the mismatch delivered again is a duplicate'
);
select is(
  (select count(*)::int from guestly.admin_alerts
    where booking_id = '7e57a000-0000-4000-8000-00000000000b'),
  1,
  'and writes no second alert'
);
select is(
  payments.record_stripe_event('evt_pgtap_b2', 'payment_intent.succeeded', now(), false, 'paid',
    '7e57a000-0000-4000-8000-00000000000b', 'pi_pgtap_b2', 45000, 'eur', false, '{}') ->> 'outcome',
  'amount_mismatch',
  'the right amount in another currency is a mismatch too'
);
select is(
  payments.record_stripe_event('evt_pgtap_b3', 'payment_intent.succeeded', now(), false, 'paid',
    '7e57a000-0000-4000-8000-00000000000b', 'pi_pgtap_b3', null, null, false, '{}') ->> 'outcome',
  'amount_mismatch',
  'a payment event without an amount is a mismatch, never a confirmation'
);

-- Out of order: the full refund arrives first, the older success later.
select is(
  payments.record_stripe_event('evt_pgtap_c2', 'charge.refunded', '2026-11-26 10:05+00', false,
    'refund', '7e57a000-0000-4000-8000-00000000000c', 'pi_pgtap_c', 45000, 'usd', true, '{}')
    ->> 'outcome',
  'refunded',
  'a full refund of a booking still waiting for payment refunds it'
);
select is(
  payments.record_stripe_event('evt_pgtap_c1', 'payment_intent.succeeded', '2026-11-26 10:00+00',
    false, 'paid', '7e57a000-0000-4000-8000-00000000000c', 'pi_pgtap_c', 45000, 'usd', false, '{}')
    ->> 'outcome',
  'stale',
  'the late success for a refunded booking is stale'
);
select is(
  (select status from public.bookings where id = '7e57a000-0000-4000-8000-00000000000c'),
  'refunded',
  'the booking stays refunded'
);

-- Refunds of a confirmed booking: partial → partial_refund (booking unchanged; alerting is in
-- 21_stripe_money_cases), another PaymentIntent → ignored, full → refunded.
select is(
  payments.record_stripe_event('evt_pgtap_a3', 'charge.refunded', now(), false, 'refund',
    '7e57a000-0000-4000-8000-00000000000a', 'pi_pgtap_a', 10000, 'usd', false, '{}') ->> 'outcome',
  'partial_refund',
  'a partial refund is recorded as partial_refund'
);
select is(
  payments.record_stripe_event('evt_pgtap_a4', 'charge.refunded', now(), false, 'refund',
    '7e57a000-0000-4000-8000-00000000000a', 'pi_pgtap_someone_else', 45000, 'usd', true, '{}')
    ->> 'outcome',
  'ignored',
  'a full refund of another PaymentIntent does not refund this booking'
);
select is(
  payments.record_stripe_event('evt_pgtap_a5', 'charge.refunded', now(), false, 'refund',
    null, 'pi_pgtap_a', 45000, 'usd', true, '{}') ->> 'booking_status',
  'refunded',
  'a full refund without a booking id finds the booking by its PaymentIntent and refunds it'
);

-- Payment failure: recorded, booking untouched.
select is(
  payments.record_stripe_event('evt_pgtap_d1', 'payment_intent.payment_failed', now(), false,
    'payment_failed', '7e57a000-0000-4000-8000-00000000000d', 'pi_pgtap_d', 45000, 'usd', false,
    '{}'),
  '{"duplicate": false, "outcome": "payment_failed", "booking_id": "7e57a000-0000-4000-8000-00000000000d", "booking_status": "pending_payment"}'::jsonb,
  'a payment failure is recorded and the booking keeps waiting for payment'
);

-- Unknown booking, other types, cancelled bookings.
select is(
  payments.record_stripe_event('evt_pgtap_u1', 'payment_intent.succeeded', now(), false, 'paid',
    '7e57a000-0000-4000-8000-0000000000ff', 'pi_pgtap_u', 45000, 'usd', false, '{}') ->> 'outcome',
  'unmatched',
  'an unknown booking id is unmatched'
);
select results_eq(
  $$ select outcome, booking_id, error from payments.stripe_events where id = 'evt_pgtap_u1' $$,
  $$ values ('unmatched'::text, null::uuid,
             'booking 7e57a000-0000-4000-8000-0000000000ff does not exist'::text) $$,
  'the unmatched event is recorded without a booking, with the reason'
);
select is(
  payments.record_stripe_event('evt_pgtap_x1', 'customer.created', now(), false, 'none',
    null, null, null, null, false, '{}') ->> 'outcome',
  'ignored',
  'other event types are ignored'
);
update public.bookings set status = 'cancelled' where id = '7e57a000-0000-4000-8000-00000000000e';
select is(
  payments.record_stripe_event('evt_pgtap_e1', 'payment_intent.succeeded', now(), false, 'paid',
    '7e57a000-0000-4000-8000-00000000000e', 'pi_pgtap_e', 45000, 'usd', false, '{}')
    ->> 'booking_status',
  'cancelled',
  'a payment never brings a cancelled booking back'
);
select throws_ok(
  $$ select payments.record_stripe_event('evt_pgtap_bad', 't', now(), false, 'confirm', null,
       null, null, null, false, '{}') $$,
  '22023', null,
  'an unknown action is refused'
);
select throws_ok(
  $$ select payments.record_stripe_event('evt_pgtap_str', 't', now(), false, 'none', null,
       null, null, null, false, to_jsonb('{"id": "evt"}'::text)) $$,
  '23514', null,
  'a payload that is a JSON string (double-encoded) is refused'
);

select * from finish();
rollback;
