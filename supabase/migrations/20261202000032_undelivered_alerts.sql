-- The alert path must not depend on the thing that is broken. When notify-admin cannot be
-- reached (its pg_net calls answer 401/5xx or nothing) or cannot send (Resend refuses), the
-- alerts stay in the outbox; this view and `npm run sync:status` show them with the reason, read
-- straight from the database (nothing here needs a function to run).

-- Why the latest calls to notify-admin did not deliver, from what the database can see: the
-- newest call that has an outcome (an HTTP answer, a pg_net error, or a call that could not be
-- made). Null problem: notify-admin was reached and answered 2xx.
create function guestly.alert_delivery_problem()
  returns table (problem text, http_status int, body text, answered_at timestamptz,
                 last_called_at timestamptz)
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  with last_outcome as (
    select i.request_id, i.error as call_error, i.invoked_at, r.status_code, r.timed_out,
           r.error_msg, left(r.content, 300) as body, r.created
      from guestly.function_invocations i
      left join net._http_response r on r.id = i.request_id
     where i.function_name = 'notify-admin'
       and (i.request_id is null or r.id is not null)
     order by i.id desc
     limit 1
  ), last_call as (
    select max(i.invoked_at) as at from guestly.function_invocations i
     where i.function_name = 'notify-admin'
  )
  select
    case
      when o.invoked_at is null and c.at is null then
        'notify-admin has never been called by this database (is the pg_cron job ' ||
        'guestly-notify-admin-sweep active?)'
      when o.invoked_at is null then
        'notify-admin was called but has not answered yet (pg_net worker running?)'
      when o.request_id is null then
        'the database could not call notify-admin: ' || coalesce(o.call_error, 'unknown error')
      when o.status_code in (401, 403) then
        'notify-admin answered HTTP ' || o.status_code || ': the key the database sends (Vault ' ||
        'secret service_role_key) is not accepted — set it to the project''s service_role key'
      when o.status_code = 404 then
        'notify-admin answered HTTP 404: it is not deployed at the Vault secret project_url'
      when o.status_code >= 500 then
        'notify-admin answered HTTP ' || o.status_code || ' (its start-up or configuration ' ||
        'failed, see its logs): ' || coalesce(o.body, '')
      when o.status_code is null then
        'the call to notify-admin got no HTTP answer: ' ||
        coalesce(o.error_msg, case when o.timed_out then 'timed out' end, 'unknown error') ||
        ' — check the Vault secret project_url'
      when o.status_code >= 300 then
        'notify-admin answered HTTP ' || o.status_code || ': ' || coalesce(o.body, '')
    end,
    o.status_code,
    o.body,
    coalesce(o.created, o.invoked_at),
    c.at
  from last_call c
  left join last_outcome o on true;
$$;

create view public.guestly_undelivered_alerts
  with (security_invoker = true)
  as
select
  a.id as alert_id,
  a.kind,
  a.booking_id,
  a.created_at,
  date_trunc('second', now() - a.created_at) as waiting_for,
  a.send_attempts,
  a.next_attempt_at,
  a.last_error,
  coalesce(
    d.problem,
    case when a.last_error is not null then 'sending failed (Resend): ' || a.last_error end,
    case when a.send_attempts = 0
         then 'written, not picked up by notify-admin yet'
         else 'notify-admin claimed it but has not marked it sent (due again ' ||
              coalesce(to_char(a.next_attempt_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '-') ||
              ' UTC)' end) as why,
  d.http_status as notify_admin_http_status,
  d.answered_at as notify_admin_answered_at,
  d.last_called_at as notify_admin_last_called_at
from guestly.admin_alerts a
cross join guestly.alert_delivery_problem() d
where a.sent_at is null;

revoke all on function guestly.alert_delivery_problem() from public, anon, authenticated;
grant execute on function guestly.alert_delivery_problem() to service_role;
revoke all on public.guestly_undelivered_alerts from public, anon, authenticated;
grant select on public.guestly_undelivered_alerts to service_role;
