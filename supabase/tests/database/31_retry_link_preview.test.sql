-- The retry link's read-only preview and the alerts after a link retry (migration
-- 20261126000005_alerts_outbox.sql). One transaction that rolls back; rows are this file's own.
begin;
set local role postgres;
select plan(12);

select ok(
  not has_function_privilege('anon', 'guestly.preview_retry_link(uuid, uuid)', 'execute')
  and not has_function_privilege('authenticated', 'guestly.preview_retry_link(uuid, uuid)', 'execute')
  and has_function_privilege('service_role', 'guestly.preview_retry_link(uuid, uuid)', 'execute'),
  'preview_retry_link: service_role only');

insert into public.properties (id, name, guestly_listing_id)
values ('0b0e7f3a-0000-4000-8000-0000000031f0', 'pgTAP Preview Villa', 'listing-pgtap-31');
insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency)
values ('b0000000-0000-4000-8000-0000000031f1', '0b0e7f3a-0000-4000-8000-0000000031f0',
  'Ada', 'Lovelace', 'ada-pgtap-31@example.com', '2027-03-01', '2027-03-05', 2, 64000, 'eur');

select is(
  guestly.preview_retry_link('a1e70000-0000-4000-8000-0000000031e1', 'b0000000-0000-4000-8000-0000000031f1') ->> 'reason',
  'not_paid', 'a booking awaiting payment: not_paid');
select is(
  guestly.preview_retry_link('a1e70000-0000-4000-8000-0000000031e1', 'b0000000-0000-4000-8000-00000000dead') ->> 'reason',
  'not_found', 'an unknown booking: not_found (no exception)');

update public.bookings set status = 'confirmed' where id = 'b0000000-0000-4000-8000-0000000031f1';
update public.bookings
   set guestly_sync_status = 'failed', guestly_sync_error = 'Guestly HTTP 422: guest.email',
       guestly_sync_attempts = 4, guestly_sync_next_attempt_at = null, guestly_sync_gave_up_at = now()
 where id = 'b0000000-0000-4000-8000-0000000031f1';
select is(
  guestly.preview_retry_link('a1e70000-0000-4000-8000-0000000031e1', 'b0000000-0000-4000-8000-0000000031f1')
    - 'gave_up_at',
  jsonb_build_object('ok', true, 'booking_status', 'confirmed', 'sync_status', 'failed',
                     'last_error', 'Guestly HTTP 422: guest.email', 'attempts', 4,
                     'next_attempt_at', null),
  'a failed booking: what the retry would start from');

-- Previewing changes nothing: no link is used, the booking is not moved.
select is_empty(
  $$ select 1 from guestly.used_retry_links where link_id = 'a1e70000-0000-4000-8000-0000000031e1' $$,
  'a preview does not use the link up');
select is(
  (select guestly_sync_status || '/' || coalesce(guestly_sync_next_attempt_at::text, 'none')
     from public.bookings where id = 'b0000000-0000-4000-8000-0000000031f1'),
  'failed/none', 'a preview does not start a retry');

-- Redeeming spends the link; the preview then says so, with the time.
select is(
  guestly.redeem_retry_link('a1e70000-0000-4000-8000-0000000031e1', 'b0000000-0000-4000-8000-0000000031f1') ->> 'ok',
  'true', 'redeem starts the retry');
select is(
  guestly.preview_retry_link('a1e70000-0000-4000-8000-0000000031e1', 'b0000000-0000-4000-8000-0000000031f1'),
  jsonb_build_object('ok', false, 'reason', 'link_used', 'used_at', now()),
  'after redeeming, the preview says the link was used and when');

-- An alert right after a link-started retry carries no retry_link = false marker any more.
insert into guestly.admin_alerts (id, kind, booking_id, details)
values ('a1e70000-0000-4000-8000-0000000031e2', 'sync_failed', 'b0000000-0000-4000-8000-0000000031f1', '{}');
select ok(
  not ((select details from guestly.admin_alerts where id = 'a1e70000-0000-4000-8000-0000000031e2') ? 'retry_link'),
  'an alert after a link retry is not stripped of its link');
select ok(
  (select details from guestly.admin_alerts where id = 'a1e70000-0000-4000-8000-0000000031e2') ? 'last_attempt_id',
  'the alert is still stamped with its last attempt');

update public.bookings set guestly_sync_status = 'synced', guestly_synced_status = 'confirmed',
       guestly_reservation_id = 'res-pgtap-31'
 where id = 'b0000000-0000-4000-8000-0000000031f1';
select is(
  guestly.preview_retry_link('a1e70000-0000-4000-8000-0000000031e3', 'b0000000-0000-4000-8000-0000000031f1'),
  jsonb_build_object('ok', false, 'reason', 'already_synced', 'reservation_id', 'res-pgtap-31'),
  'a synced booking: already_synced with the reservation');
select is(
  (select provolatile::text from pg_proc where oid = 'guestly.preview_retry_link(uuid, uuid)'::regprocedure),
  's', 'preview_retry_link is declared stable (read-only)');

select * from finish();
rollback;
