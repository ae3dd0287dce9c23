-- What an Edge Function says about itself. The database cannot read a function's environment,
-- so guestly-sync reports its settings here (on its first request and at most once a minute):
-- "GUESTLY_SYNC_ENABLED is not true" becomes something the stall detector can say plainly, and
-- GUESTLY_STALL_ALERT_MINUTES reaches the detector from the same place as every other setting.
create table guestly.function_state (
  function_name text primary key,
  enabled boolean not null,
  test_mode boolean not null,
  -- e.g. {"stall_alert_minutes": 15}
  settings jsonb not null default '{}'::jsonb,
  reported_at timestamptz not null default now()
);
alter table guestly.function_state enable row level security;
revoke all on guestly.function_state from public, anon, authenticated;
grant select on guestly.function_state to service_role;

create function guestly.report_function_state(
  function_name text,
  enabled boolean,
  test_mode boolean,
  settings jsonb default '{}'::jsonb
) returns void
  language sql
  security definer
  set search_path = ''
  as $$
  insert into guestly.function_state (function_name, enabled, test_mode, settings, reported_at)
  values (report_function_state.function_name, report_function_state.enabled,
          report_function_state.test_mode, coalesce(report_function_state.settings, '{}'::jsonb), now())
  on conflict (function_name) do update
     set enabled = excluded.enabled, test_mode = excluded.test_mode,
         settings = excluded.settings, reported_at = excluded.reported_at;
$$;

revoke all on function guestly.report_function_state(text, boolean, boolean, jsonb)
  from public, anon, authenticated;
grant execute on function guestly.report_function_state(text, boolean, boolean, jsonb) to service_role;
