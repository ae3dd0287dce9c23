-- Local compat only: pg_cron 1.6's job catalogue and schedule API as plain SQL, so migrations
-- that schedule jobs apply unchanged on a Postgres without the pg_cron library (the npm
-- Postgres 17 binaries). Nothing runs the jobs: tests call the jobs' SQL functions directly,
-- exactly as the Postgres 15 suite does.
create schema cron;

create table cron.job (
  jobid bigserial primary key,
  schedule text not null,
  command text not null,
  nodename text not null default 'localhost',
  nodeport int not null default 5432,
  database text not null default current_database(),
  username text not null default current_user,
  active boolean not null default true,
  jobname text,
  unique (jobname, username)
);

create table cron.job_run_details (
  jobid bigint,
  runid bigserial primary key,
  job_pid int,
  database text,
  username text,
  command text,
  status text,
  return_message text,
  start_time timestamptz,
  end_time timestamptz
);

-- pg_cron validates the schedule; so does this, for the forms the project uses (five fields).
create function cron.schedule(job_name text, schedule text, command text) returns bigint
  language plpgsql
  as $$
declare
  id bigint;
begin
  if array_length(regexp_split_to_array(trim(schedule), '\s+'), 1) <> 5 then
    raise exception 'invalid schedule: %', schedule;
  end if;
  insert into cron.job (jobname, schedule, command) values (job_name, schedule, command)
  on conflict (jobname, username) do update set schedule = excluded.schedule, command = excluded.command
  returning jobid into id;
  return id;
end;
$$;

create function cron.schedule(schedule text, command text) returns bigint
  language sql
  as $$ select cron.schedule(null, schedule, command) $$;

create function cron.unschedule(job_name text) returns boolean
  language plpgsql
  as $$
begin
  delete from cron.job where jobname = job_name and username = current_user;
  if not found then raise exception 'could not find valid entry for job ''%''', job_name; end if;
  return true;
end;
$$;

create function cron.unschedule(job_id bigint) returns boolean
  language plpgsql
  as $$
begin
  delete from cron.job where jobid = job_id;
  if not found then raise exception 'could not find valid entry for job %', job_id; end if;
  return true;
end;
$$;
