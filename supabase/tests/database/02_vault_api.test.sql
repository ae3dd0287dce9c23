-- The local Vault stand-in has supabase_vault's API: vault.create_secret / vault.update_secret and
-- the view vault.decrypted_secrets, unique names, and no access at all for anon/authenticated.
-- Everything here rolls back.
begin;
set local role postgres;
select plan(27);

select has_extension('supabase_vault', 'supabase_vault is installed');
select has_schema('vault', 'schema vault exists');
select has_table('vault', 'secrets', 'table vault.secrets exists');
select has_view('vault', 'decrypted_secrets', 'view vault.decrypted_secrets exists');
select is(
  pg_get_function_arguments('vault.create_secret(text,text,text,uuid)'::regprocedure),
  $$new_secret text, new_name text DEFAULT NULL::text, new_description text DEFAULT ''::text, new_key_id uuid DEFAULT NULL::uuid$$,
  'vault.create_secret arguments match supabase_vault'
);
select is(
  pg_get_function_arguments('vault.update_secret(uuid,text,text,text,uuid)'::regprocedure),
  $$secret_id uuid, new_secret text DEFAULT NULL::text, new_name text DEFAULT NULL::text, new_description text DEFAULT NULL::text, new_key_id uuid DEFAULT NULL::uuid$$,
  'vault.update_secret arguments match supabase_vault'
);
select columns_are(
  'vault', 'decrypted_secrets',
  array['id', 'name', 'description', 'secret', 'decrypted_secret', 'key_id', 'nonce', 'created_at', 'updated_at'],
  'vault.decrypted_secrets has the supabase_vault columns'
);

-- create_secret → uuid → readable in clear through decrypted_secrets.
create temp table _s (k text primary key, v text) on commit drop;
insert into _s values ('name', 'pgtap_secret_' || replace(gen_random_uuid()::text, '-', ''));
insert into _s values ('name2', 'pgtap_secret_' || replace(gen_random_uuid()::text, '-', ''));
insert into _s
select 'id', vault.create_secret('s3cr3t-v1', (select v from _s where k = 'name'), 'pgTAP test secret')::text;

select is(
  pg_typeof(vault.create_secret('another', null, 'unnamed'))::text,
  'uuid',
  'vault.create_secret returns a uuid'
);
select results_eq(
  $$ select decrypted_secret, name, description from vault.decrypted_secrets
     where id = (select v::uuid from _s where k = 'id') $$,
  $$ select 's3cr3t-v1'::text, (select v from _s where k = 'name'), 'pgTAP test secret'::text $$,
  'the secret, its name and description are readable through vault.decrypted_secrets'
);
select is(
  (select decrypted_secret from vault.decrypted_secrets where name = (select v from _s where k = 'name')),
  's3cr3t-v1',
  'a secret can be looked up by name'
);
select is(
  (select count(*)::int from vault.secrets where id = (select v::uuid from _s where k = 'id')),
  1,
  'postgres can read vault.secrets'
);

-- update_secret changes only what it is given.
select lives_ok(
  $$ select vault.update_secret((select v::uuid from _s where k = 'id'), 's3cr3t-v2') $$,
  'vault.update_secret(id, new_secret) runs'
);
select results_eq(
  $$ select decrypted_secret, name, description from vault.decrypted_secrets
     where id = (select v::uuid from _s where k = 'id') $$,
  $$ select 's3cr3t-v2'::text, (select v from _s where k = 'name'), 'pgTAP test secret'::text $$,
  'update_secret changed the secret and kept the name and description'
);
select lives_ok(
  $$ select vault.update_secret((select v::uuid from _s where k = 'id'),
                                new_name => (select v from _s where k = 'name2'),
                                new_description => 'renamed') $$,
  'vault.update_secret(id, new_name, new_description) runs'
);
select results_eq(
  $$ select decrypted_secret, name, description from vault.decrypted_secrets
     where id = (select v::uuid from _s where k = 'id') $$,
  $$ select 's3cr3t-v2'::text, (select v from _s where k = 'name2'), 'renamed'::text $$,
  'update_secret renamed the secret and kept its value'
);

-- Names are unique (unnamed secrets are allowed more than once).
select throws_ok(
  $$ select vault.create_secret('dup', (select v from _s where k = 'name2')) $$,
  '23505',
  null,
  'a second secret with the same name is rejected'
);
select lives_ok(
  $$ select vault.create_secret('x'), vault.create_secret('y') $$,
  'several unnamed secrets are allowed'
);

-- anon and authenticated cannot see the Vault at all.
select ok(
  not has_schema_privilege('anon', 'vault', 'usage')
  and not has_schema_privilege('authenticated', 'vault', 'usage'),
  'anon and authenticated have no usage on schema vault'
);
select ok(
  not has_table_privilege('anon', 'vault.decrypted_secrets', 'select')
  and not has_table_privilege('authenticated', 'vault.decrypted_secrets', 'select')
  and not has_table_privilege('anon', 'vault.secrets', 'select')
  and not has_table_privilege('authenticated', 'vault.secrets', 'select'),
  'anon and authenticated cannot select vault.secrets or vault.decrypted_secrets'
);
select ok(
  not has_function_privilege('anon', 'vault.create_secret(text,text,text,uuid)', 'execute')
  and not has_function_privilege('authenticated', 'vault.create_secret(text,text,text,uuid)', 'execute')
  and not has_function_privilege('anon', 'vault.update_secret(uuid,text,text,text,uuid)', 'execute')
  and not has_function_privilege('authenticated', 'vault.update_secret(uuid,text,text,text,uuid)', 'execute'),
  'anon and authenticated cannot execute vault.create_secret / vault.update_secret'
);
-- Each statement runs in throws_ok's subtransaction, so the role switch is undone with it.
select throws_ok(
  $$ set local role anon; select decrypted_secret from vault.decrypted_secrets $$,
  '42501', null,
  'as anon, reading vault.decrypted_secrets is denied'
);
select throws_ok(
  $$ set local role authenticated; select decrypted_secret from vault.decrypted_secrets $$,
  '42501', null,
  'as authenticated, reading vault.decrypted_secrets is denied'
);
select throws_ok(
  $$ set local role anon; select secret from vault.secrets $$,
  '42501', null,
  'as anon, reading vault.secrets is denied'
);
select throws_ok(
  $$ set local role authenticated; select vault.create_secret('evil', 'evil') $$,
  '42501', null,
  'as authenticated, vault.create_secret is denied'
);
select throws_ok(
  $$ set local role anon; select vault.update_secret('00000000-0000-0000-0000-000000000000', 'evil') $$,
  '42501', null,
  'as anon, vault.update_secret is denied'
);
select is(current_user::text, 'postgres', 'the role switches above were undone');
select is(
  (select decrypted_secret from vault.decrypted_secrets where id = (select v::uuid from _s where k = 'id')),
  's3cr3t-v2',
  'the secret is unchanged after the denied attempts'
);

select * from finish();
rollback;
