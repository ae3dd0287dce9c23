-- guestly.invoke_function sends the Vault key the way Supabase accepts it: a secret key
-- (sb_secret_…) in the `apikey` header only (it is not a JWT, so never as Bearer); the legacy
-- service_role JWT in both `apikey` and `Authorization: Bearer`. Everything here rolls back
-- (the queued requests too: pg_net sends only after commit).
begin;
set local role postgres;
select plan(8);

create temp table _r (k text primary key, id bigint) on commit drop;

-- The stack may or may not have the secrets yet (a bare database in the Postgres 17 suite).
select vault.create_secret('http://127.0.0.1:1', 'project_url', 'pgTAP')
 where not exists (select 1 from vault.secrets where name = 'project_url');
select vault.create_secret('placeholder', 'service_role_key', 'pgTAP')
 where not exists (select 1 from vault.secrets where name = 'service_role_key');

create function pg_temp.use_key(k text) returns void language sql as $$
  select vault.update_secret((select id from vault.secrets where name = 'service_role_key'), k);
$$;

select pg_temp.use_key('sb_secret_pgtapSECRETkey0123456_abcd1234');
insert into _r select 'secret', guestly.invoke_function('guestly-sync', '{"bookingId":"x"}');
select pg_temp.use_key('eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.pgtap');
insert into _r select 'legacy', guestly.invoke_function('notify-admin', '{}');
select pg_temp.use_key('  sb_secret_pgtapPADDEDkey0123456_abcd1234  ');
insert into _r select 'padded', guestly.invoke_function('guestly-sync', '{}');

select is(
  (select q.headers->>'apikey' from net.http_request_queue q join _r on _r.id = q.id where _r.k = 'secret'),
  'sb_secret_pgtapSECRETkey0123456_abcd1234',
  'a secret key goes in the apikey header'
);
select ok(
  not (select q.headers ? 'Authorization' from net.http_request_queue q join _r on _r.id = q.id where _r.k = 'secret'),
  'a secret key is never sent as Authorization: Bearer (it is not a JWT)'
);
select is(
  (select q.headers->>'Content-Type' from net.http_request_queue q join _r on _r.id = q.id where _r.k = 'secret'),
  'application/json',
  'the body is JSON'
);
select is(
  (select q.headers->>'Authorization' from net.http_request_queue q join _r on _r.id = q.id where _r.k = 'legacy'),
  'Bearer eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.pgtap',
  'the legacy service_role JWT keeps its Bearer header (verify_jwt functions accept it)'
);
select is(
  (select q.headers->>'apikey' from net.http_request_queue q join _r on _r.id = q.id where _r.k = 'legacy'),
  'eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.pgtap',
  'and is in apikey too'
);
select is(
  (select q.headers->>'apikey' from net.http_request_queue q join _r on _r.id = q.id where _r.k = 'padded'),
  'sb_secret_pgtapPADDEDkey0123456_abcd1234',
  'whitespace pasted around the key in Vault is trimmed'
);
select is(
  (select q.url from net.http_request_queue q join _r on _r.id = q.id where _r.k = 'legacy'),
  rtrim((select decrypted_secret from vault.decrypted_secrets where name = 'project_url'), '/')
    || '/functions/v1/notify-admin',
  'the URL is the project URL from Vault'
);

select pg_temp.use_key('');
select is(guestly.invoke_function('guestly-sync', '{}'), null, 'an empty key: no call (warning only)');

select * from finish();
rollback;
