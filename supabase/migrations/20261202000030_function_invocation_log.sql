-- Which call the database made to which Edge Function, and its pg_net request id. pg_net keeps
-- only anonymous responses (net._http_response: id, status, body), so without this log nobody can
-- tell that the calls for one booking answer 401 or 500 while it waits. Read by the stall
-- detector (20261202000032) and the undelivered-alerts view (20261202000033).
create table guestly.function_invocations (
  id bigint generated always as identity primary key,
  function_name text not null,
  -- No foreign key: the insert trigger calls guestly-sync before its booking row exists.
  booking_id uuid,
  -- pg_net request id (net._http_response.id); null = the call could not be made (see error)
  request_id bigint,
  error text,
  invoked_at timestamptz not null default now()
);
create index function_invocations_booking_idx on guestly.function_invocations (booking_id, id)
  where booking_id is not null;
create index function_invocations_function_idx on guestly.function_invocations (function_name, id);
create index function_invocations_invoked_at_idx on guestly.function_invocations (invoked_at);
alter table guestly.function_invocations enable row level security;
revoke all on guestly.function_invocations from public, anon, authenticated;
grant select on guestly.function_invocations to service_role;

-- Same contract as before (never raises, returns the request id or null); now also logs the call.
create or replace function guestly.invoke_function(function_name text, body jsonb) returns bigint
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  project_url text;
  service_key text;
  request_id bigint;
  problem text;
begin
  begin
    select decrypted_secret into project_url from vault.decrypted_secrets where name = 'project_url';
    select decrypted_secret into service_key from vault.decrypted_secrets where name = 'service_role_key';
    if project_url is null or service_key is null then
      problem := 'Vault secrets project_url/service_role_key missing';
      raise warning 'guestly: % ; % not called', problem, function_name;
    else
      request_id := net.http_post(
        url := rtrim(project_url, '/') || '/functions/v1/' || function_name,
        body := body,
        headers := jsonb_build_object('Content-Type', 'application/json',
                                      'Authorization', 'Bearer ' || service_key),
        timeout_milliseconds := 150000);
    end if;
  exception when others then
    problem := sqlerrm;
    raise warning 'guestly: could not call %: %', function_name, problem;
  end;
  begin
    insert into guestly.function_invocations (function_name, booking_id, request_id, error)
    values (invoke_function.function_name,
            case when body ->> 'bookingId' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                 then (body ->> 'bookingId')::uuid end,
            request_id, problem);
  exception when others then
    raise warning 'guestly: could not log the call to %: %', function_name, sqlerrm;
  end;
  return request_id;
end;
$$;

revoke all on function guestly.invoke_function(text, jsonb) from public, anon, authenticated;
grant execute on function guestly.invoke_function(text, jsonb) to service_role;
