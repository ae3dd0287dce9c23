-- Payments follow the reservation they belong on: every path that replaces a booking's
-- reservation (the reconciliation's heal of a reservation deleted in Guestly, a lapsed hold let
-- go, an operator clearing the id after a 404) makes the payments and refunds recorded on the
-- old one due again, in the same transaction, for the new one, oldest first, each looked up
-- before it is sent (the next reservation may show it already); the heal says so; an answer
-- about the old reservation that comes in late changes nothing; a request of unknown outcome
-- keeps its settle delay; re-binding the same reservation requeues nothing.
begin;
select plan(18);

insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency, status, stripe_payment_intent_id)
values ('00000000-0000-4000-8000-0000000ff001', '0b0e7f3a-0000-4000-8000-000000000001', 'F', 'F',
  'f1@example.com', '2035-01-01', '2035-01-05', 2, 40000, 'usd', 'confirmed', 'pi_ff001'),
       ('00000000-0000-4000-8000-0000000ff002', '0b0e7f3a-0000-4000-8000-000000000001', 'F', 'F',
  'f2@example.com', '2035-02-01', '2035-02-05', 2, 40000, 'usd', 'confirmed', 'pi_ff002'),
       ('00000000-0000-4000-8000-0000000ff003', '0b0e7f3a-0000-4000-8000-000000000001', 'F', 'F',
  'f3@example.com', '2035-03-01', '2035-03-05', 2, 40000, 'usd', 'confirmed', 'pi_ff003');
-- All three are in Guestly as the booking says; ff002's reservation is a hold it placed while
-- the guest paid (the confirm is still to be sent).
update public.bookings b
   set guestly_reservation_id = 'res-' || right(b.id::text, 5),
       guestly_synced_status = case when b.id::text like '%ff002' then 'pending_payment'
                                    else 'confirmed' end,
       guestly_synced_state = guestly.desired_state(b), guestly_sync_status = 'synced',
       guestly_sync_next_attempt_at = null
 where b.id::text like '00000000-0000-4000-8000-0000000ff00%';
-- Each has its payment (and ff001 a partial refund) recorded on that reservation.
insert into guestly.payments (booking_id, kind, amount, currency, reference, created_at)
select b.id, 'payment', 40000, 'usd', b.stripe_payment_intent_id, now() - interval '2 hours'
  from public.bookings b where b.id::text like '00000000-0000-4000-8000-0000000ff00%';
insert into guestly.payments (booking_id, kind, amount, currency, reference, created_at)
values ('00000000-0000-4000-8000-0000000ff001', 'refund', 10000, 'usd', 'pi_ff001#refund-10000',
        now() - interval '1 hour');
create function pg_temp.claim(id uuid) returns uuid
  language sql as $$ select (guestly.claim_sync(claim.id) ->> 'lease_id')::uuid $$;
create temp table leases (n int, lease uuid);
insert into leases select 1, pg_temp.claim('00000000-0000-4000-8000-0000000ff001');
select guestly.record_payment_outcome('00000000-0000-4000-8000-0000000ff001',
         (select lease from leases where n = 1), p.id, 'recorded', 'gp-' || p.kind)
  from guestly.payments p where p.booking_id = '00000000-0000-4000-8000-0000000ff001';
select guestly.record_success('00000000-0000-4000-8000-0000000ff001',
  (select lease from leases where n = 1), 'res-ff001', 'confirmed');
update guestly.payments set status = 'recorded', recorded_at = now(), guestly_payment_id = 'gp-x'
 where booking_id in ('00000000-0000-4000-8000-0000000ff002', '00000000-0000-4000-8000-0000000ff003');
delete from net.http_request_queue;

create function pg_temp.money(id uuid) returns text
  language sql as $$
  select string_agg(p.kind || ':' || p.status || ':' || coalesce(p.guestly_payment_id, '-'), ' '
                    order by p.created_at)
    from guestly.payments p where p.booking_id = money.id $$;

select is(pg_temp.money('00000000-0000-4000-8000-0000000ff001'),
  'payment:recorded:gp-payment refund:recorded:gp-refund', 'ff001''s money is in Guestly');

-- The nightly reconciliation finds ff001's reservation deleted in Guestly and heals it.
create temp table run as
  select (guestly_reconcile.begin_run('cli', true) ->> 'run_id')::uuid as id;
create temp table healed as
  select guestly_reconcile.heal_missing((select id from run), '00000000-0000-4000-8000-0000000ff001',
           'res-ff001') as v;
select is((select v ->> 'healed' from healed), 'true', 'the deleted reservation is healed');
select is(pg_temp.money('00000000-0000-4000-8000-0000000ff001'),
  'payment:pending:- refund:pending:-',
  'in the same transaction, the payment and the refund recorded on it are due again');
select is((select bool_and(p.unknown_at = timestamptz 'epoch' and p.guestly_reservation_id is null)
             from guestly.payments p where p.booking_id = '00000000-0000-4000-8000-0000000ff001'),
  true, 'each to be looked up on the next reservation before it is sent, with no settle delay');
select alike((select action_detail from guestly_reconcile.drift_items
              where run_id = (select id from run)
                and booking_id = '00000000-0000-4000-8000-0000000ff001'),
  '%its 1 payment(s) and 1 refund(s) are being recorded on the new reservation%',
  'the heal says the money is being recorded again (the email shows it)');

-- The sync looks up, creates the new reservation; its next pass is handed the money, in order.
insert into leases select 2, pg_temp.claim('00000000-0000-4000-8000-0000000ff001');
select is((guestly.record_success('00000000-0000-4000-8000-0000000ff001',
            (select lease from leases where n = 2), 'res-ff001-new', 'confirmed') ->> 'more_work'),
  'true', 'the new reservation made, the money is still to do');
select is(guestly.payment_record_due(b), true, 'money work is due on the new reservation')
  from public.bookings b where b.id = '00000000-0000-4000-8000-0000000ff001';
create temp table claim3 as
  select guestly.claim_sync('00000000-0000-4000-8000-0000000ff001') as c;
select is((select jsonb_path_query_array(c, '$.booking.guestly_pending_payments[*].kind')::text
             from claim3),
  '["payment", "refund"]', 'the claim carries the payment, then the refund after it');
select guestly.record_payment_outcome('00000000-0000-4000-8000-0000000ff001',
         (select (c ->> 'lease_id')::uuid from claim3), p.id, 'recorded', 'gp2-' || p.kind,
         'res-ff001-new')
  from guestly.payments p where p.booking_id = '00000000-0000-4000-8000-0000000ff001';
select is((select string_agg(p.status || '@' || p.guestly_reservation_id, ' ' order by p.created_at)
             from guestly.payments p where p.booking_id = '00000000-0000-4000-8000-0000000ff001'),
  'recorded@res-ff001-new recorded@res-ff001-new', 'recorded once, on the new reservation');
-- (Its reference set and seen on it: nothing else is owed.)
select guestly.record_success('00000000-0000-4000-8000-0000000ff001',
  (select (c ->> 'lease_id')::uuid from claim3), 'res-ff001-new', 'confirmed', reference_set => true);
select is((select guestly_sync_status from public.bookings
            where id = '00000000-0000-4000-8000-0000000ff001'),
  'synced', 'and then nothing more is due (the same reservation bound again requeues nothing)');
select is(pg_temp.money('00000000-0000-4000-8000-0000000ff001'),
  'payment:recorded:gp2-payment refund:recorded:gp2-refund', 'still recorded');

-- A late answer about the old reservation writes nothing.
insert into guestly.payments (booking_id, kind, amount, currency, reference)
values ('00000000-0000-4000-8000-0000000ff001', 'refund', 5000, 'usd', 'pi_ff001#refund-15000');
insert into leases select 4, pg_temp.claim('00000000-0000-4000-8000-0000000ff001');
select is(guestly.record_payment_outcome('00000000-0000-4000-8000-0000000ff001',
            (select lease from leases where n = 4),
            (select id from guestly.payments where reference = 'pi_ff001#refund-15000'),
            'recorded', 'gp-late', 'res-ff001'),
  false, 'an outcome for a reservation the booking no longer holds is refused');
select is((select status from guestly.payments where reference = 'pi_ff001#refund-15000'),
  'pending', 'the refund stays due for the booking''s reservation');
select guestly.release_sync('00000000-0000-4000-8000-0000000ff001', (select lease from leases where n = 4));

-- A hold that lapsed and lost its nights is let go of; money recorded on it comes along.
update public.bookings set guestly_sync_status = 'pending'
 where id = '00000000-0000-4000-8000-0000000ff002';
insert into leases select 5, pg_temp.claim('00000000-0000-4000-8000-0000000ff002');
select is(guestly.forget_lapsed_hold('00000000-0000-4000-8000-0000000ff002',
            (select lease from leases where n = 5), 'res-ff002'), true, 'the lapsed hold is let go of');
select is(pg_temp.money('00000000-0000-4000-8000-0000000ff002'), 'payment:pending:-',
  'its payment is due again, for the reservation the sync creates next');

-- The documented fix for a 404 on a reservation deleted in Guestly, done by hand.
update public.bookings set guestly_reservation_id = null
 where id = '00000000-0000-4000-8000-0000000ff003';
select is(pg_temp.money('00000000-0000-4000-8000-0000000ff003'), 'payment:pending:-',
  'clearing the reservation id by hand makes its payment due again');

-- A request of unknown outcome to the old reservation: it may still land (if the sync binds that
-- one again), so its settle delay holds.
update public.bookings set guestly_reservation_id = 'res-ff003-b'
 where id = '00000000-0000-4000-8000-0000000ff003';
update guestly.payments set unknown_at = now() - interval '5 seconds',
                            guestly_reservation_id = 'res-ff003-b'
 where booking_id = '00000000-0000-4000-8000-0000000ff003';
update public.bookings set guestly_reservation_id = 'res-ff003-c'
 where id = '00000000-0000-4000-8000-0000000ff003';
select is((select row(status, unknown_at = now() - interval '5 seconds', guestly_reservation_id)::text
             from guestly.payments where booking_id = '00000000-0000-4000-8000-0000000ff003'),
  '(pending,t,)', 'a request of unknown outcome is due again and keeps its settle delay');

-- Only the rows on the replaced reservation move.
update guestly.payments set status = 'recorded', guestly_reservation_id = 'res-other'
 where booking_id = '00000000-0000-4000-8000-0000000ff003';
update public.bookings set guestly_reservation_id = 'res-ff003-d'
 where id = '00000000-0000-4000-8000-0000000ff003';
select is((select status from guestly.payments
            where booking_id = '00000000-0000-4000-8000-0000000ff003'),
  'recorded', 'a row recorded on another reservation is left as it is');

select * from finish();
rollback;
