-- The database is Supabase-shaped: the roles and their attributes are Supabase's, `postgres` is
-- not a superuser, and the migrations were applied as `postgres` (everything they created is
-- owned by it), as `supabase db push` does on the platform.
begin;
select plan(21);

-- Superuser: only supabase_admin.
select is_superuser('supabase_admin', 'supabase_admin is a superuser');
select isnt_superuser('postgres', 'postgres is NOT a superuser (as on Supabase)');
select is_empty(
  $$ select rolname from pg_roles
     where rolsuper and rolname not in ('supabase_admin') $$,
  'no role other than supabase_admin is a superuser'
);

-- The API roles exist with Supabase's attributes.
select has_role('anon', 'role anon exists');
select has_role('authenticated', 'role authenticated exists');
select has_role('service_role', 'role service_role exists');
select has_role('authenticator', 'role authenticator exists');
select results_eq(
  $$ select rolname, rolcanlogin, rolinherit, rolbypassrls, rolsuper
     from pg_roles
     where rolname in ('anon', 'authenticated', 'service_role', 'authenticator')
     order by rolname $$,
  $$ values ('anon'::name, false, false, false, false),
            ('authenticated', false, false, false, false),
            ('authenticator', true, false, false, false),
            ('service_role', false, false, true, false) $$,
  'anon/authenticated/service_role are NOLOGIN NOINHERIT, service_role BYPASSRLS, authenticator LOGIN NOINHERIT'
);
select results_eq(
  $$ select rolcanlogin, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolsuper
     from pg_roles where rolname = 'postgres' $$,
  $$ values (true, true, true, true, true, false) $$,
  'postgres: LOGIN CREATEROLE CREATEDB REPLICATION BYPASSRLS, but not SUPERUSER'
);
select is_member_of('anon', array['authenticator', 'postgres'], 'authenticator and postgres can switch to anon');
select is_member_of('authenticated', array['authenticator', 'postgres'], 'authenticator and postgres can switch to authenticated');
select is_member_of('service_role', array['authenticator', 'postgres'], 'authenticator and postgres can switch to service_role');

-- The Supabase CLI recorded the migrations, as postgres.
select has_table('supabase_migrations', 'schema_migrations', 'supabase_migrations.schema_migrations exists');
select table_owner_is(
  'supabase_migrations', 'schema_migrations', 'postgres',
  'schema_migrations was created by the CLI connected as postgres'
);
select ok(
  exists (select 1 from supabase_migrations.schema_migrations where version = '20261126000001'),
  'the baseline migration 20261126000001 is recorded'
);
select is_empty(
  $$ select version from supabase_migrations.schema_migrations
     where version !~ '^[0-9]{14}$' or name is null or name = ''
        or statements is null or cardinality(statements) = 0 $$,
  'every recorded migration has a 14-digit version, a name and its statements'
);

-- Everything the migrations created is owned by postgres: they ran as the non-superuser postgres.
-- (Extension members -- net.*, vault.*, cron.* -- belong to supabase_admin, as on Supabase.)
select is_empty(
  $$ select n.nspname || '.' || c.relname || ' owned by ' || pg_get_userbyid(c.relowner)
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
       and c.relowner <> 'postgres'::regrole
       and not exists (select 1 from pg_depend d
                       where d.classid = 'pg_class'::regclass and d.objid = c.oid
                         and d.deptype = 'e') $$,
  'every table, view and sequence in public is owned by postgres'
);
select is_empty(
  $$ select p.oid::regprocedure::text || ' owned by ' || pg_get_userbyid(p.proowner)
     from pg_proc p
     where p.pronamespace = 'public'::regnamespace and p.proowner <> 'postgres'::regrole
       and not exists (select 1 from pg_depend d
                       where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                         and d.deptype = 'e') $$,
  'every function in public is owned by postgres'
);
select ok(
  (select count(*) from pg_class
   where relnamespace = 'public'::regnamespace and relkind = 'r') > 0,
  'the migrations created tables in public'
);
-- The same holds in every other schema the migrations created.
select is_empty(
  $$ select n.nspname || ' owned by ' || pg_get_userbyid(n.nspowner)
     from pg_namespace n
     where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast', 'extensions', 'vault')
       and n.nspname !~ '^pg_(toast_)?temp_'
       and n.nspowner <> 'postgres'::regrole
       and not exists (select 1 from pg_depend d
                       where d.classid = 'pg_namespace'::regclass and d.objid = n.oid
                         and d.deptype = 'e') $$,
  'every schema that is not a system or extension schema is owned by postgres'
);
select is_empty(
  $$ select n.nspname || '.' || c.relname || ' owned by ' || pg_get_userbyid(c.relowner)
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast', 'extensions', 'vault')
       and n.nspname !~ '^pg_(toast_)?temp_'
       and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
       and c.relowner <> 'postgres'::regrole
       and not exists (select 1 from pg_depend d
                       where d.classid = 'pg_class'::regclass and d.objid = c.oid
                         and d.deptype = 'e')
     union all
     select p.oid::regprocedure::text || ' owned by ' || pg_get_userbyid(p.proowner)
     from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname not in ('pg_catalog', 'information_schema', 'extensions', 'vault')
       and n.nspname !~ '^pg_(toast_)?temp_'
       and p.proowner <> 'postgres'::regrole
       and not exists (select 1 from pg_depend d
                       where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                         and d.deptype = 'e') $$,
  'no non-extension relation or function in any user schema is owned by anyone but postgres'
);

select * from finish();
rollback;
