-- The key the database calls Edge Functions with (Vault secret `service_role_key`) may be the
-- legacy service_role JWT or a secret key (`sb_secret_…`, what new projects have).
--
-- A secret key is not a JWT: Supabase documents it in the `apikey` header, never as
-- `Authorization: Bearer` (the platform's verify_jwt check would reject it there, and the
-- functions that take it run with verify_jwt = false and check the key themselves). A legacy
-- JWT keeps its Bearer header as well, so a function still deployed with verify_jwt = true keeps
-- working while the key is changed (see docs/operations.md, "Rotating the database's key").
-- Unchanged otherwise: never raises, a missing secret is a warning and no call, and every call
-- (made or not) is logged in guestly.function_invocations for the stall detector.
create or replace function guestly.invoke_function(function_name text, body jsonb) returns bigint
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  project_url text;
  service_key text;
  headers jsonb;
  request_id bigint;
  problem text;
begin
  begin
    select decrypted_secret into project_url from vault.decrypted_secrets where name = 'project_url';
    select decrypted_secret into service_key from vault.decrypted_secrets where name = 'service_role_key';
    service_key := btrim(service_key);
    if project_url is null or service_key is null or service_key = '' then
      problem := 'Vault secrets project_url/service_role_key missing';
      raise warning 'guestly: % ; % not called', problem, function_name;
    else
      headers := jsonb_build_object('Content-Type', 'application/json', 'apikey', service_key);
      -- sb_secret_…, sb_publishable_… and any later sb_ key are API keys, not JWTs.
      if service_key not like 'sb\_%' then
        headers := headers || jsonb_build_object('Authorization', 'Bearer ' || service_key);
      end if;
      request_id := net.http_post(
        url := rtrim(project_url, '/') || '/functions/v1/' || function_name,
        body := body,
        headers := headers,
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
