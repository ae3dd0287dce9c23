-- Local compat only: makes a plain PostgreSQL 15 cluster look like a Supabase database before
-- any migration runs. Run once, as the superuser supabase_admin, on a fresh cluster.
-- On Supabase all of this already exists; nothing here is ever deployed.
\set ON_ERROR_STOP on

-- Roles as Supabase creates them. postgres is deliberately NOT a superuser, so a migration that
-- needs superuser powers fails here exactly as it would on the platform.
create role postgres login createrole createdb replication bypassrls password 'postgres';
create role anon nologin noinherit;
create role authenticated nologin noinherit;
create role service_role nologin noinherit bypassrls;
create role authenticator login noinherit password 'postgres';
grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres with admin option;

alter database postgres owner to postgres;
alter schema public owner to postgres;
grant usage on schema public to anon, authenticated, service_role;

-- Supabase's default privileges: whatever postgres or supabase_admin create in public is granted
-- to the API roles, so RLS and explicit revokes are what keep data private.
alter default privileges for role postgres in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public grant all on sequences to anon, authenticated, service_role;

create schema extensions;
grant usage on schema extensions to postgres, anon, authenticated, service_role;
alter default privileges in schema extensions grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges in schema extensions grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges in schema extensions grant all on sequences to postgres, anon, authenticated, service_role;
alter database postgres set search_path = "$user", public, extensions;

create extension if not exists pgcrypto with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;

-- Extensions a Supabase project enables from the dashboard. Creating them here as the superuser
-- makes a migration's `create extension if not exists …` a no-op, as on the platform.
create extension if not exists pg_cron with schema pg_catalog;
grant usage on schema cron to postgres with grant option;
grant all on all tables in schema cron to postgres with grant option;
grant all on all sequences in schema cron to postgres with grant option;
grant all on all functions in schema cron to postgres with grant option;

create extension if not exists pg_net with schema extensions;
grant usage on schema net to postgres, service_role;
grant execute on all functions in schema net to postgres, service_role;
grant select on all tables in schema net to postgres, service_role;
grant delete on net.http_request_queue to postgres;
grant delete on net._http_response to postgres;

create schema if not exists vault;
create extension if not exists supabase_vault with schema vault;
grant usage on schema vault to postgres, service_role;
grant select, delete on vault.secrets to postgres, service_role;
grant select on vault.decrypted_secrets to postgres, service_role;
grant execute on all functions in schema vault to postgres, service_role;

-- Test and lint tooling (`supabase test db` and `db lint` expect them).
create extension if not exists pgtap with schema extensions;
-- (The Postgres 17 suite runs without plpgsql_check: `psql -v without_plpgsql_check=1`.)
\if :{?without_plpgsql_check}
\else
create extension if not exists plpgsql_check with schema extensions;
\endif

-- The Supabase CLI records applied migrations here.
create schema if not exists supabase_migrations authorization postgres;
