-- The daily reconciliation: pg_cron asks guestly-reconcile (through pg_net, like every other
-- function call from the database) to run and heal. The function answers at once and works in
-- the background, at Guestly priority `background`, so live syncs keep their share of the limits.
-- 03:17 UTC: a quiet hour for the website, and off the full hour other jobs like.

create function guestly_reconcile.request_run(fix boolean default true) returns bigint
  language sql
  security definer
  set search_path = ''
  as $$
  select guestly.invoke_function('guestly-reconcile',
                                 jsonb_build_object('fix', fix, 'triggeredBy', 'cron'))
$$;

revoke all on function guestly_reconcile.request_run(boolean) from public, anon, authenticated;
grant execute on function guestly_reconcile.request_run(boolean) to service_role;

-- Idempotent by job name.
select cron.schedule('guestly-reconcile-daily', '17 3 * * *',
                     'select guestly_reconcile.request_run(true)');
