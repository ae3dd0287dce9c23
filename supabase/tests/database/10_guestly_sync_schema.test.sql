-- The sync columns on bookings, their constraint and indexes, the trigger, the cron job, and
-- who may touch the private guestly schema.
begin;
select plan(36);

select has_column('public', 'bookings', 'guestly_reservation_id', 'reservation id column');
select col_type_is('public', 'bookings', 'guestly_reservation_id', 'text', 'reservation id is text');
select col_is_null('public', 'bookings', 'guestly_reservation_id', 'reservation id is nullable');
select col_type_is('public', 'bookings', 'guestly_sync_status', 'text', 'sync status is text');
select col_default_is('public', 'bookings', 'guestly_sync_status', 'pending', 'sync status defaults to pending');
select col_type_is('public', 'bookings', 'guestly_sync_error', 'text', 'sync error is text');
select col_type_is('public', 'bookings', 'guestly_synced_at', 'timestamp with time zone', 'synced_at is timestamptz');
select col_type_is('public', 'bookings', 'guestly_sync_attempts', 'integer', 'attempts is int');
select col_default_is('public', 'bookings', 'guestly_sync_attempts', '0', 'attempts default 0');

-- CHECK holds the allowed states.
insert into public.bookings (id, property_id, guest_first_name, guest_last_name, guest_email,
  check_in, check_out, guests_count, amount_total, currency)
values ('00000000-0000-4000-8000-00000000a001', '0b0e7f3a-0000-4000-8000-000000000001', 'T', 'T',
  't@example.com', '2027-01-01', '2027-01-02', 1, 100, 'usd');
select throws_ok(
  $$update public.bookings set guestly_sync_status = 'done' where id = '00000000-0000-4000-8000-00000000a001'$$,
  '23514', null, 'CHECK rejects an unknown sync status');
select lives_ok(
  $$update public.bookings set guestly_sync_status = 'failed' where id = '00000000-0000-4000-8000-00000000a001'$$,
  'CHECK accepts failed');

select has_index('public', 'bookings', 'bookings_guestly_reservation_id_idx', 'index on reservation id');
select index_is_unique('public', 'bookings', 'bookings_guestly_reservation_id_idx',
  'one Guestly reservation can never be recorded for two bookings');
select has_index('public', 'bookings', 'bookings_guestly_sync_status_idx', 'index on sync status');
select has_index('public', 'bookings', 'bookings_guestly_sync_due_idx', 'partial index for the sweep');

-- The trigger: a non-status UPDATE adds no pg_net request, a status change adds exactly one.
create temp table queue_mark as select coalesce(max(id), 0) as max_id from net.http_request_queue;
update public.bookings set guest_phone = '+15555550100' where id = '00000000-0000-4000-8000-00000000a001';
select is((select count(*)::int from net.http_request_queue where id > (select max_id from queue_mark)), 0,
  'an UPDATE that does not change status enqueues nothing');
update public.bookings set status = 'confirmed' where id = '00000000-0000-4000-8000-00000000a001';
select is((select count(*)::int from net.http_request_queue where id > (select max_id from queue_mark)), 1,
  'a change to confirmed enqueues one guestly-sync call');
select is((select guestly_sync_status from public.bookings where id = '00000000-0000-4000-8000-00000000a001'),
  'pending', 'the trigger sets the sync status to pending');
select ok((select guestly_sync_next_attempt_at > now() from public.bookings
           where id = '00000000-0000-4000-8000-00000000a001'),
  'the sweep will come back if the request is lost');
update public.bookings set status = 'confirmed' where id = '00000000-0000-4000-8000-00000000a001';
select is((select count(*)::int from net.http_request_queue where id > (select max_id from queue_mark)), 1,
  'setting the same status again enqueues nothing');
select has_trigger('public', 'bookings', 'tg_bookings__enqueue_guestly_sync', 'the sync trigger exists');

-- The attempt log names every request the sync sends, the guest's read among them.
select lives_ok(
  $$insert into guestly.sync_attempts (booking_id, attempt, operation, started_at, duration_ms, outcome)
    values ('00000000-0000-4000-8000-00000000a001', 1, 'get_guest', now(), 1, 'success')$$,
  'the attempt log takes the guest read (get_guest)');
select throws_ok(
  $$insert into guestly.sync_attempts (booking_id, attempt, operation, started_at, duration_ms, outcome)
    values ('00000000-0000-4000-8000-00000000a001', 2, 'get_everything', now(), 1, 'success')$$,
  '23514', null, 'the attempt log refuses an operation it does not name');

-- The cron job.
select is((select count(*)::int from cron.job where jobname = 'guestly-sync-sweep'), 1,
  'the sweep is scheduled once, by name');
select matches((select command from cron.job where jobname = 'guestly-sync-sweep'),
  'guestly\.sweep_due_syncs', 'the job runs the sweep function');

-- The sweep's selection can use the partial index (bench/ shows the plan at 1M rows).
create function pg_temp.plan_of(query text) returns text language plpgsql as $f$
declare
  line record;
  plan text := '';
begin
  for line in execute 'explain ' || query loop
    plan := plan || line."QUERY PLAN" || E'\n';
  end loop;
  return plan;
end;
$f$;
set local enable_seqscan = off;
select matches(pg_temp.plan_of($q$
  select id from public.bookings
   where guestly_sync_next_attempt_at <= now()
     and (guestly_sync_status = 'pending' or guestly_sync_attempts < 12)
   order by guestly_sync_next_attempt_at limit 200 for update skip locked$q$),
  'Index Scan using bookings_guestly_sync_due_idx|Bitmap Index Scan on bookings_guestly_sync_due_idx',
  'the sweep query reads the partial index');
reset enable_seqscan;

-- Privileges: the API roles cannot touch the private schema or the state functions.
select ok(not has_schema_privilege('anon', 'guestly', 'usage'), 'anon has no usage on guestly');
select ok(not has_schema_privilege('authenticated', 'guestly', 'usage'), 'authenticated has no usage on guestly');
select ok(not has_table_privilege('anon', 'guestly.sync_attempts', 'select'), 'anon cannot read the attempt log');
select ok(not has_table_privilege('authenticated', 'guestly.api_tokens', 'select'), 'authenticated cannot read tokens');
select ok(not has_function_privilege('anon', 'guestly.claim_sync(uuid, integer)', 'execute'), 'anon cannot claim');
select ok(not has_function_privilege('authenticated',
  'guestly.record_failure(uuid, uuid, text, boolean, integer, integer, timestamp with time zone, jsonb, text, text, jsonb, jsonb)', 'execute'),
  'authenticated cannot record a failure');
select ok(has_function_privilege('service_role', 'guestly.record_success(uuid, uuid, text, text, jsonb, boolean)', 'execute'),
  'service_role may record a success');
select ok(not has_function_privilege('anon', 'public.guestly_retry_sync(uuid, boolean)', 'execute'),
  'anon cannot start a retry');
set local role anon;
select throws_ok($$select guestly.claim_sync('00000000-0000-4000-8000-00000000a001')$$, '42501', null,
  'a real call as anon is refused');
reset role;
select ok(not has_table_privilege('anon', 'public.bookings', 'select'), 'anon cannot read bookings');

select * from finish();
rollback;
