-- Money that arrives before its booking is known (issue 24, item 1): a payment or refund Stripe
-- reported that matched no booking is re-matched when a booking gets its PaymentIntent (Stripe's
-- retry of the Checkout event, or an operator confirming by hand), so the booking and Guestly end
-- with the money Stripe actually holds; an unmatched refund alerts; a partial refund of a booking
-- still waiting for payment reaches Guestly once the payment does; a booking confirmed by hand
-- takes its late Checkout payment as its own. Everything rolls back.
begin;
set local role postgres;
select plan(59);

-- Shorthand: the 13-argument call; created an hour ago (after every grace window).
create function pg_temp.ev(
  id text, type text, action text, booking uuid, pi text, amount bigint,
  refunded_in_full boolean default false, details jsonb default '{}'
) returns jsonb language sql as $$
  select payments.record_stripe_event(id, type, now() - interval '1 hour', false, action, booking,
    pi, amount, 'usd', refunded_in_full, '{}'::jsonb, details, 600);
$$;
create function pg_temp.booking(n int) returns uuid language sql as $$
  select ('7e57b220-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid
$$;
create function pg_temp.money(n int) returns text language sql as $$
  select coalesce(string_agg(kind || ' ' || amount || ' ' || reference, ', ' order by kind, amount), '')
    from guestly.payments where booking_id = pg_temp.booking(n)
$$;
create function pg_temp.ledger(event_id text) returns text language sql as $$
  select outcome || ' ' || coalesce(booking_id::text, '-') from payments.stripe_events where id = event_id
$$;
create function pg_temp.late_alerts(n int) returns setof guestly.admin_alerts language sql as $$
  select * from guestly.admin_alerts where kind = 'money_matched_late' and booking_id = pg_temp.booking(n)
$$;

-- Bookings of 45000 usd, all waiting for payment: 1–10 as below.
insert into public.properties (id, name, guestly_listing_id)
values ('7e57b220-0000-4000-8000-000000000000', 'pgTAP early refund cottage', 'pgtap-early-refund');
insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
                             check_in, check_out, guests_count, amount_total, currency)
select pg_temp.booking(n), '7e57b220-0000-4000-8000-000000000000', 'Pg', 'Early',
       'pgtap-early@example.com', '2029-03-01', '2029-03-04', 2, 45000, 'usd'
  from generate_series(1, 10) n;

select ok(
  (select count(*) = 2 from guestly.alert_kinds where kind in ('refund_unmatched', 'money_matched_late')),
  'the refund_unmatched and money_matched_late alert kinds exist');

-- ---------------------------------------------------------------------------------------------
-- 1. The issue's sequence: the PaymentIntent event names no booking (unmatched, alerted), the
-- admin refunds it in full as told, then Stripe's retry of the Checkout event names the booking.
select is(pg_temp.ev('evt_r_1a', 'payment_intent.succeeded', 'paid', null, 'pi_r_1', 45000) ->> 'outcome',
  'unmatched', '1: the payment without a booking is unmatched');
select is(pg_temp.ev('evt_r_1b', 'charge.refunded', 'refund', null, 'pi_r_1', 45000, true,
                     '{"charge_amount": 45000, "charge_id": "ch_r_1"}') ->> 'outcome',
  'unmatched', '1: its full refund matches no booking either');
select results_eq(
  $$ select kind, booking_id, details ->> 'payment_intent_id', (details ->> 'amount')::int,
            details ->> 'charge_id' from guestly.admin_alerts where details ->> 'event_id' = 'evt_r_1b' $$,
  $$ values ('refund_unmatched'::text, null::uuid, 'pi_r_1'::text, 45000, 'ch_r_1'::text) $$,
  '1: the unmatched refund alerts (it was silent)');
select ok(exists (select 1 from public.stripe_events_needing_attention where event_id = 'evt_r_1b'),
  '1: and is listed as needing attention');
select is(
  pg_temp.ev('evt_r_1c', 'checkout.session.completed', 'paid', pg_temp.booking(1), 'pi_r_1', 45000)
    - 'duplicate',
  jsonb_build_object('outcome', 'confirmed', 'booking_id', pg_temp.booking(1), 'booking_status', 'refunded'),
  '1: the late Checkout event applies the payment, then the refund made before it: the booking ends refunded');
select results_eq(
  $$ select status, stripe_payment_intent_id from public.bookings where id = pg_temp.booking(1) $$,
  $$ values ('refunded'::text, 'pi_r_1'::text) $$,
  '1: never a paid, confirmed stay for money the guest has back');
select is(pg_temp.ledger('evt_r_1a'), 'confirmed ' || pg_temp.booking(1),
  '1: the unmatched payment event is matched to the booking');
select is(pg_temp.ledger('evt_r_1b'), 'refunded ' || pg_temp.booking(1),
  '1: the unmatched refund is matched and applied');
select is(pg_temp.money(1), 'payment 45000 pi_r_1, refund 45000 pi_r_1#refund-45000',
  '1: Guestly is owed the payment and its refund');
select results_eq(
  $$ select details ->> 'payment_intent_id', (details ->> 'amount')::int,
            (details ->> 'refunded_amount')::int, (details ->> 'refunded_in_full')::boolean,
            details ->> 'booking_status_before', details ->> 'booking_status',
            details ->> 'matched_by', jsonb_array_length(details -> 'events')
       from pg_temp.late_alerts(1) $$,
  $$ values ('pi_r_1'::text, 45000, 45000, true, 'confirmed'::text, 'refunded'::text,
             'evt_r_1c'::text, 2) $$,
  '1: one money_matched_late alert: paid, refunded in full, the booking now refunded, and why');
select ok(
  exists (select 1 from public.stripe_events_needing_attention where event_id = 'evt_r_1b')
  and not exists (select 1 from public.stripe_events_needing_attention where event_id = 'evt_r_1a'),
  '1: the refund that undid a stay stays listed; the payment it matched does not');
select is(
  pg_temp.ev('evt_r_1c', 'checkout.session.completed', 'paid', pg_temp.booking(1), 'pi_r_1', 45000) ->> 'duplicate',
  'true', '1: the Checkout event delivered again is a duplicate');
select is((select count(*)::int from pg_temp.late_alerts(1)), 1, '1: and alerts no second time');

-- ---------------------------------------------------------------------------------------------
-- 2. The same with a partial refund: the stay stays confirmed, Guestly gets the payment and the
-- refund.
select pg_temp.ev('evt_r_2a', 'payment_intent.succeeded', 'paid', null, 'pi_r_2', 45000);
select is(pg_temp.ev('evt_r_2b', 'charge.refunded', 'refund', null, 'pi_r_2', 10000, false,
                     '{"charge_amount": 45000}') ->> 'outcome',
  'unmatched', '2: a partial refund before the match is unmatched');
select is((select kind from guestly.admin_alerts where details ->> 'event_id' = 'evt_r_2b'),
  'refund_unmatched', '2: and alerts');
select is(
  pg_temp.ev('evt_r_2c', 'checkout.session.completed', 'paid', pg_temp.booking(2), 'pi_r_2', 45000)
    ->> 'booking_status',
  'confirmed', '2: the late Checkout event confirms the booking');
select is(pg_temp.ledger('evt_r_2b'), 'partial_refund ' || pg_temp.booking(2),
  '2: the partial refund is matched to it');
select is(pg_temp.money(2), 'payment 45000 pi_r_2, refund 10000 pi_r_2#refund-10000',
  '2: Guestly is owed the payment and the partial refund');
select results_eq(
  $$ select (details ->> 'amount')::int, (details ->> 'refunded_amount')::int,
            (details ->> 'refunded_in_full')::boolean, details ->> 'booking_status'
       from pg_temp.late_alerts(2) $$,
  $$ values (45000, 10000, false, 'confirmed'::text) $$,
  '2: one money_matched_late alert with the partial refund');
select ok(exists (select 1 from public.stripe_events_needing_attention where event_id = 'evt_r_2b'),
  '2: the partial refund is listed as every partial refund is');

-- ---------------------------------------------------------------------------------------------
-- 3. A partial refund of a booking still waiting for payment (the Charge names the booking):
-- recorded in Guestly once the payment arrives.
select is(pg_temp.ev('evt_r_3a', 'charge.refunded', 'refund', pg_temp.booking(3), 'pi_r_3', 5000, false,
                     '{"charge_amount": 45000}') ->> 'outcome',
  'partial_refund', '3: a partial refund of a pending booking is a partial_refund');
select is(pg_temp.money(3), '', '3: nothing for Guestly yet (no payment to refund from)');
select is(pg_temp.ev('evt_r_3b', 'payment_intent.succeeded', 'paid', pg_temp.booking(3), 'pi_r_3', 45000)
            ->> 'booking_status',
  'confirmed', '3: the payment confirms the booking');
select is(pg_temp.money(3), 'payment 45000 pi_r_3, refund 5000 pi_r_3#refund-5000',
  '3: and the earlier partial refund is recorded with it');
select is(pg_temp.ev('evt_r_3c', 'charge.refunded', 'refund', pg_temp.booking(3), 'pi_r_3', 15000, false,
                     '{"charge_amount": 45000}') ->> 'outcome',
  'partial_refund', '3: a later partial refund (cumulative 15000)');
select is(pg_temp.money(3),
  'payment 45000 pi_r_3, refund 5000 pi_r_3#refund-5000, refund 10000 pi_r_3#refund-15000',
  '3: adds only what it refunded on top');

-- ---------------------------------------------------------------------------------------------
-- 4. Confirmed by hand with the PaymentIntent, after the payment and a partial refund went
-- unmatched: both are matched by that update.
select pg_temp.ev('evt_r_4a', 'payment_intent.succeeded', 'paid', null, 'pi_r_4', 45000);
select pg_temp.ev('evt_r_4b', 'charge.refunded', 'refund', null, 'pi_r_4', 20000, false,
                  '{"charge_amount": 45000}');
update public.bookings set status = 'confirmed', stripe_payment_intent_id = 'pi_r_4'
 where id = pg_temp.booking(4);
select is(pg_temp.ledger('evt_r_4a') || ' / ' || pg_temp.ledger('evt_r_4b'),
  'confirmed ' || pg_temp.booking(4) || ' / partial_refund ' || pg_temp.booking(4),
  '4: confirming by hand with the PaymentIntent matches its payment and refund');
select is(pg_temp.money(4), 'payment 45000 pi_r_4, refund 20000 pi_r_4#refund-20000',
  '4: Guestly is owed both');
select results_eq(
  $$ select details ->> 'matched_by', (details ->> 'refunded_amount')::int, details ->> 'booking_status'
       from pg_temp.late_alerts(4) $$,
  $$ values ('booking_update'::text, 20000, 'confirmed'::text) $$,
  '4: one money_matched_late alert, matched by the booking''s update');
select is(pg_temp.ev('evt_r_4c', 'checkout.session.completed', 'paid', pg_temp.booking(4), 'pi_r_4', 45000)
            ->> 'outcome',
  'confirmed', '4: the late Checkout event is the booking''s own payment');
select ok(not exists (select 1 from guestly.admin_alerts
                       where booking_id = pg_temp.booking(4) and kind = 'duplicate_payment'),
  '4: not a duplicate');
select is(pg_temp.money(4), 'payment 45000 pi_r_4, refund 20000 pi_r_4#refund-20000',
  '4: nothing recorded twice');
select is((select count(*)::int from pg_temp.late_alerts(4)), 1, '4: and no second alert');

-- ---------------------------------------------------------------------------------------------
-- 5. Confirmed by hand without a PaymentIntent: the late Checkout event of the matching amount
-- is the booking's only payment, not a second one.
update public.bookings set status = 'confirmed' where id = pg_temp.booking(5);
select is(pg_temp.ev('evt_r_5a', 'checkout.session.completed', 'paid', pg_temp.booking(5), 'pi_r_5', 45000)
            ->> 'outcome',
  'confirmed', '5: the late Checkout payment of a booking confirmed by hand is its payment');
select ok(not exists (select 1 from guestly.admin_alerts
                       where booking_id = pg_temp.booking(5) and kind = 'duplicate_payment'),
  '5: no duplicate_payment alert asking to refund the only payment');
select is((select stripe_payment_intent_id from public.bookings where id = pg_temp.booking(5)),
  'pi_r_5', '5: the booking now knows its PaymentIntent');
select is(pg_temp.money(5), 'payment 45000 pi_r_5', '5: Guestly is owed the payment');
select is(pg_temp.ev('evt_r_5b', 'payment_intent.succeeded', 'paid', pg_temp.booking(5), 'pi_r_5', 45000)
            ->> 'outcome',
  'confirmed', '5: the PaymentIntent event of the same payment is a no-op');
select is(pg_temp.ev('evt_r_5c', 'payment_intent.succeeded', 'paid', pg_temp.booking(5), 'pi_r_5x', 45000)
            ->> 'outcome',
  'duplicate_payment', '5: a really different payment after it is still a duplicate');
select is((select details ->> 'booking_payment_intent_id' from guestly.admin_alerts
            where booking_id = pg_temp.booking(5) and kind = 'duplicate_payment'),
  'pi_r_5', '5: naming the payment the booking took');

-- 6. Confirmed by hand without a PaymentIntent, and a payment of another amount: not taken as
-- its payment (the admin decides).
update public.bookings set status = 'confirmed' where id = pg_temp.booking(6);
select is(pg_temp.ev('evt_r_6a', 'payment_intent.succeeded', 'paid', pg_temp.booking(6), 'pi_r_6', 30000)
            ->> 'outcome',
  'duplicate_payment', '6: a payment of another amount for a booking confirmed by hand still alerts');
select is((select stripe_payment_intent_id from public.bookings where id = pg_temp.booking(6)),
  null, '6: and is not bound to it');

-- 7. Confirmed by a free Checkout (no PaymentIntent): a later real charge is a second payment.
select pg_temp.ev('evt_r_7a', 'checkout.session.completed', 'no_payment_required', pg_temp.booking(7),
                  null, 0, false, '{"checkout_amount_subtotal": 45000, "checkout_amount_discount": 45000}');
select is(pg_temp.ev('evt_r_7b', 'payment_intent.succeeded', 'paid', pg_temp.booking(7), 'pi_r_7', 45000)
            ->> 'outcome',
  'duplicate_payment', '7: a charge after a free Checkout confirmed the booking is a duplicate');

-- ---------------------------------------------------------------------------------------------
-- 8. A refund that never finds its booking: alerted once, listed until matched.
select is(pg_temp.ev('evt_r_8a', 'charge.refunded', 'refund', null, 'pi_r_8', 45000, true) ->> 'outcome',
  'unmatched', '8: a refund of a payment no booking knows is unmatched');
select is(pg_temp.ev('evt_r_8a', 'charge.refunded', 'refund', null, 'pi_r_8', 45000, true) ->> 'duplicate',
  'true', '8: delivered again, a duplicate');
select is((select count(*)::int from guestly.admin_alerts where details ->> 'event_id' = 'evt_r_8a'),
  1, '8: one refund_unmatched alert');
select is(pg_temp.ev('evt_r_8b', 'charge.refunded', 'refund', null, 'pi_r_8x', 45000, true, '{"booking_ref": "BK-8"}')
            ->> 'outcome',
  'unmatched', '8: another refund naming a booking we do not have');
select is((select details ->> 'booking_ref' from guestly.admin_alerts where details ->> 'event_id' = 'evt_r_8b'),
  'BK-8', '8: its alert shows the reference it sent');
-- A booking that carries the PaymentIntent without the refund being applied (a row written
-- before this change) does not hide it.
alter table public.bookings disable trigger tg_bookings__match_unmatched_stripe_events;
update public.bookings set status = 'confirmed', stripe_payment_intent_id = 'pi_r_8'
 where id = pg_temp.booking(8);
alter table public.bookings enable trigger tg_bookings__match_unmatched_stripe_events;
select ok(exists (select 1 from public.stripe_events_needing_attention where event_id = 'evt_r_8a'),
  '8: an unmatched refund stays listed until it is matched and applied');
select is(pg_temp.ledger('evt_r_8a'), 'unmatched -', '8: (it was not matched)');
select is((select count(*)::int from pg_temp.late_alerts(8)), 0, '8: nor alerted as matched');
select ok(
  not exists (select 1 from public.stripe_events_needing_attention
               where event_id in ('evt_r_5a', 'evt_r_5b')),
  '5: nothing of the hand-confirmed booking''s own payment is listed');

-- ---------------------------------------------------------------------------------------------
-- 9. The issue's sequence for a booking whose Guestly hold was asked for but never placed: the
-- refunded booking lets the hold go (nothing of it ever reached Guestly).
update public.bookings
   set guestly_hold_status = 'placing', guestly_hold_minutes = 10, guestly_hold_requested_at = now()
 where id = pg_temp.booking(9);
select pg_temp.ev('evt_r_9a', 'payment_intent.succeeded', 'paid', null, 'pi_r_9', 45000);
select pg_temp.ev('evt_r_9b', 'charge.refunded', 'refund', null, 'pi_r_9', 45000, true);
select is(
  pg_temp.ev('evt_r_9c', 'checkout.session.completed', 'paid', pg_temp.booking(9), 'pi_r_9', 45000)
    ->> 'booking_status',
  'refunded', '9: the late Checkout event of a payment refunded in full leaves the booking refunded');
select results_eq(
  $$ select guestly_hold_status, guestly_sync_status, guestly_reservation_id
       from public.bookings where id = pg_temp.booking(9) $$,
  $$ values ('released'::text, 'synced'::text, null::text) $$,
  '9: its hold, never placed, is released: nothing is left for Guestly');

-- 10. The refund names the booking (the PaymentIntent event did not): the full refund refunds
-- the waiting booking and binds its PaymentIntent, and the unmatched payment is matched as the
-- refunded booking's own, not applied.
select pg_temp.ev('evt_r_10a', 'payment_intent.succeeded', 'paid', null, 'pi_r_10', 45000);
select is(pg_temp.ev('evt_r_10b', 'charge.refunded', 'refund', pg_temp.booking(10), 'pi_r_10', 45000, true)
            ->> 'booking_status',
  'refunded', '10: a full refund naming a waiting booking refunds it');
select is(pg_temp.ledger('evt_r_10a'), 'stale ' || pg_temp.booking(10),
  '10: the unmatched payment is matched to it, stale (a payment never brings it back)');
select results_eq(
  $$ select details ->> 'booking_status', details -> 'events' -> 0 ->> 'outcome' from pg_temp.late_alerts(10) $$,
  $$ values ('refunded'::text, 'stale'::text) $$,
  '10: one money_matched_late alert saying so');
select is(pg_temp.money(10), '', '10: nothing for Guestly (the money went back)');

select * from finish();
rollback;
