-- Privilege audit over everything the migrations create: the API roles (anon, authenticated)
-- hold nothing, every table in an exposed schema has RLS on, every SECURITY DEFINER function
-- pins its search_path. Supabase's default privileges grant all of public to the API roles, so
-- each migration must revoke; this file fails the day one forgets.
begin;
select plan(6);

-- Schemas this project owns (created by migrations as postgres), plus public.
create temp view audited_schemas as
  select n.oid, n.nspname from pg_namespace n
   where n.nspname = 'public'
      or (pg_get_userbyid(n.nspowner) = 'postgres' and n.nspname not like 'pg\_%'
          and n.nspname not in ('supabase_migrations', 'extensions'));

select is_empty($$
  select s.nspname || '.' || c.relname || ' (' || c.relkind::text || ') grants ' || r.rolname || ' ' || p.privilege_type
    from pg_class c
    join audited_schemas s on s.oid = c.relnamespace
    cross join (values ('anon'), ('authenticated')) r(rolname)
    cross join lateral (select unnest(array['SELECT','INSERT','UPDATE','DELETE','TRUNCATE','REFERENCES','TRIGGER']) as privilege_type) p
   where c.relkind in ('r', 'p', 'v', 'm', 'f')
     and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
     and has_table_privilege(r.rolname, c.oid, p.privilege_type) $$,
  'anon and authenticated hold no privilege on any table or view');

select is_empty($$
  select s.nspname || '.' || c.relname || ' grants ' || r.rolname
    from pg_class c
    join audited_schemas s on s.oid = c.relnamespace
    cross join (values ('anon'), ('authenticated')) r(rolname)
   where c.relkind = 'S'
     and (has_sequence_privilege(r.rolname, c.oid, 'USAGE')
          or has_sequence_privilege(r.rolname, c.oid, 'SELECT')
          or has_sequence_privilege(r.rolname, c.oid, 'UPDATE')) $$,
  'anon and authenticated hold no privilege on any sequence');

select is_empty($$
  select p.oid::regprocedure::text || ' executable by ' || r.rolname
    from pg_proc p
    join audited_schemas s on s.oid = p.pronamespace
    cross join (values ('anon'), ('authenticated')) r(rolname)
   where not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
     and has_function_privilege(r.rolname, p.oid, 'EXECUTE') $$,
  'anon and authenticated can execute no function');

select is_empty($$
  select s.nspname || ' usable by ' || r.rolname
    from audited_schemas s
    cross join (values ('anon'), ('authenticated')) r(rolname)
   where s.nspname <> 'public' and has_schema_privilege(r.rolname, s.oid, 'USAGE') $$,
  'anon and authenticated cannot use any private schema');

select is_empty($$
  select s.nspname || '.' || c.relname
    from pg_class c
    join audited_schemas s on s.oid = c.relnamespace
   where c.relkind in ('r', 'p') and not c.relrowsecurity $$,
  'row level security is on for every table');

select is_empty($$
  select p.oid::regprocedure::text
    from pg_proc p
    join audited_schemas s on s.oid = p.pronamespace
   where p.prosecdef
     and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%') $$,
  'every SECURITY DEFINER function pins its search_path');

select * from finish();
rollback;
