-- The reconciliation's admin email also goes out when a run failed, with or without drift: a
-- search Guestly refused, a run that found no send slot, or one stopped early would otherwise
-- look like a day without drift, and the daily check could be dead for weeks unnoticed. Else as
-- in 20261203000203.
create or replace function guestly_reconcile.finish_run(
  run_id uuid,
  reservations_seen int,
  bookings_checked int,
  requests_used int,
  error text default null
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  r guestly_reconcile.runs;
  drift int;
  new_alert uuid;
  summary jsonb;
begin
  update guestly_reconcile.runs x
     set finished_at = now(),
         status = case when finish_run.error is null then 'finished' else 'failed' end,
         reservations_seen = finish_run.reservations_seen,
         bookings_checked = finish_run.bookings_checked,
         requests_used = finish_run.requests_used,
         error = left(finish_run.error, 2000)
   where x.id = finish_run.run_id and x.status = 'running'
  returning * into r;
  if not found then
    raise exception 'no running reconciliation run %', finish_run.run_id
      using errcode = 'no_data_found';
  end if;
  select count(*) into drift from guestly_reconcile.drift_items d where d.run_id = r.id;
  -- A run that failed (Guestly refused the search, no send slot for its patience, stopped
  -- early) alerts too, drift or not: else a dead daily check looks like a quiet one.
  if drift > 0 or r.error is not null then
    summary := guestly_reconcile.run_result(r.id);
    insert into guestly.admin_alerts (booking_id, kind, details)
    values (null, 'reconciliation_drift', jsonb_build_object(
      'run_id', r.id,
      'started_at', r.started_at,
      'finished_at', r.finished_at,
      'fix', r.fix,
      'triggered_by', r.triggered_by,
      'run_status', r.status,
      'error', r.error,
      'reservations_seen', r.reservations_seen,
      'bookings_checked', r.bookings_checked,
      'requests_used', r.requests_used,
      'drift', drift,
      'counts', summary -> 'counts',
      'actions', summary -> 'actions',
      -- The email lists at most 50; sync:status and the table have them all.
      'items', (select coalesce(jsonb_agg(i.item), '[]'::jsonb) from (
                  select jsonb_build_object('kind', d.kind, 'booking_id', d.booking_id,
                                            'reservation_id', d.reservation_id,
                                            'action', d.action, 'action_detail', d.action_detail,
                                            'details', d.details) as item
                    from guestly_reconcile.drift_items d where d.run_id = r.id
                   order by d.action = 'healed', d.id limit 50) i)))
    returning id into new_alert;
    update guestly_reconcile.runs x set alert_id = new_alert where x.id = r.id;
    perform guestly.invoke_function('notify-admin', '{}'::jsonb);
  end if;
  return jsonb_build_object('run_id', r.id, 'status', r.status, 'drift', drift,
                            'alert_id', new_alert);
end;
$$;

