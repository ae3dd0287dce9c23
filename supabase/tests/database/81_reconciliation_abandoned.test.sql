-- A reconciliation run that never finished (the platform's wall clock ended the function before
-- it recorded a result) is marked failed and alerted within minutes, once: a run inside the
-- function is dead 10 minutes after it began (the wall clock is 400 s at most); a run without a
-- budget (the CLI's own process) after an hour. The next begin_run alerts one it finds too, and
-- the pg_cron job runs the check every 5 minutes.
begin;
select plan(17);

delete from net.http_request_queue;

create function pg_temp.alerts_for(run_id uuid) returns int language sql as $$
  select count(*)::int from guestly.admin_alerts a
   where a.kind = 'reconciliation_abandoned' and a.details ->> 'run_id' = run_id::text
$$;

-- A run in the function (budget 120 s), killed by the wall clock: started_at 9 minutes ago is
-- not dead for sure yet, 11 minutes ago is.
create temp table fn_run as
  select (guestly_reconcile.begin_run('cron', true, 120) ->> 'run_id')::uuid as id;
select is((select time_budget_seconds from guestly_reconcile.runs where id = (select id from fn_run)),
  120, 'a run in the function records its time budget');
insert into guestly_reconcile.drift_items (run_id, kind, action, details)
  select id, 'status_differs', 'healed', '{}' from fn_run;
update guestly_reconcile.runs set started_at = now() - interval '9 minutes'
 where id = (select id from fn_run);
select is(guestly_reconcile.abandon_dead_runs(now()), 0,
  'a run in the function 9 minutes old may still be finishing: left alone');
select is((select status from guestly_reconcile.runs where id = (select id from fn_run)), 'running',
  'and still running');
update guestly_reconcile.runs set started_at = now() - interval '11 minutes'
 where id = (select id from fn_run);
select is(guestly_reconcile.abandon_dead_runs(now()), 1,
  '11 minutes after it began (past the 400 s wall clock) it is dead: one alert');
select alike((select status || ': ' || error from guestly_reconcile.runs where id = (select id from fn_run)),
  'failed: abandoned: no result 10 minutes after it began%', 'marked failed: abandoned');
select is(pg_temp.alerts_for((select id from fn_run)), 1, 'one reconciliation_abandoned alert');
select is((select alert_id from guestly_reconcile.runs where id = (select id from fn_run)),
  (select a.id from guestly.admin_alerts a where a.kind = 'reconciliation_abandoned'
      and a.details ->> 'run_id' = (select id from fn_run)::text),
  'the run names its alert');
select is((select a.details ->> 'triggered_by' || ' ' || (a.details ->> 'time_budget_seconds') || ' '
                  || (a.details ->> 'drift_recorded') || ' ' || (a.details ->> 'healed')
             from guestly.admin_alerts a where a.kind = 'reconciliation_abandoned'
              and a.details ->> 'run_id' = (select id from fn_run)::text),
  'cron 120 1 1', 'the alert says who ran it, its budget and what it had done before it died');
select is((select count(*)::int from net.http_request_queue where url like '%/notify-admin'), 1,
  'notify-admin is woken');
select is(guestly_reconcile.abandon_dead_runs(now()), 0, 'checking again alerts nothing');
select is(pg_temp.alerts_for((select id from fn_run)), 1, 'still one alert for the run');

-- A run without a budget (npm run sync:reconcile in its own process): an hour.
create temp table cli_run as
  select (guestly_reconcile.begin_run('cli', false) ->> 'run_id')::uuid as id;
update guestly_reconcile.runs set started_at = now() - interval '30 minutes'
 where id = (select id from cli_run);
select is(guestly_reconcile.abandon_dead_runs(now()), 0,
  'a run without a budget 30 minutes old is left alone (no wall clock)');
update guestly_reconcile.runs set started_at = now() - interval '61 minutes'
 where id = (select id from cli_run);
select is(guestly_reconcile.abandon_dead_runs(now()), 1, 'after an hour it is abandoned and alerted');
select is((select error from guestly_reconcile.runs where id = (select id from cli_run)),
  'abandoned: no result within an hour', 'with the hour as its reason');

-- The next begin_run finds a dead run before the check does: it alerts too, once.
create temp table late_run as
  select (guestly_reconcile.begin_run('cron', true, 120) ->> 'run_id')::uuid as id;
update guestly_reconcile.runs set started_at = now() - interval '2 hours'
 where id = (select id from late_run);
select is(guestly_reconcile.begin_run('cli', true) ->> 'started', 'true',
  'a dead run does not block the next one');
select is(pg_temp.alerts_for((select id from late_run)), 1,
  'and the run begin_run let go of is alerted (it used to be marked failed silently)');

-- The job
select is((select command from cron.job where jobname = 'guestly-reconcile-abandoned-check'),
  'select guestly_reconcile.abandon_dead_runs()', 'pg_cron runs the check');

select * from finish();
rollback;
