-- Local stand-in for supabase/pg_net 0.14: same schema, tables, columns, function names,
-- argument names, types and defaults. Requests wait in an UNLOGGED queue (a crash loses them,
-- as with the real extension); local/pg_net/worker.ts sends each one once after commit.
create schema if not exists net;

create domain net.http_method as text
  check (value ilike 'get' or value ilike 'post' or value ilike 'delete');

create unlogged table net.http_request_queue (
  id bigserial primary key,
  method net.http_method not null,
  url text not null,
  headers jsonb not null,
  body bytea,
  timeout_milliseconds int not null
);

create unlogged table net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out bool,
  error_msg text,
  created timestamptz not null default now()
);
create index on net._http_response (created);

-- The real worker is woken by net.wake(); NOTIFY is only delivered on commit, which gives the
-- stand-in the same "nothing is sent before COMMIT, nothing after ROLLBACK" behaviour.
create function net._notify_worker() returns trigger
  language plpgsql
  as $$
begin
  perform pg_notify('pg_net_local_wake', '');
  return null;
end;
$$;
create trigger wake_worker after insert on net.http_request_queue
  for each statement execute function net._notify_worker();

create function net.wake() returns void
  language sql
  as $$ select pg_notify('pg_net_local_wake', '') $$;

create function net._urlencode_string(string varchar) returns text
  language sql immutable strict
  as $$
    select coalesce(string_agg(
      case when ch ~ '[A-Za-z0-9_.~-]' then ch
           else (select string_agg('%' || upper(lpad(to_hex(b), 2, '0')), '')
                   from (select get_byte(convert_to(ch, 'UTF8'), i) as b
                           from generate_series(0, octet_length(convert_to(ch, 'UTF8')) - 1) as i) bytes)
      end, '' order by ord), '')
    from regexp_split_to_table(string, '') with ordinality as chars(ch, ord)
  $$;

create function net._encode_url_with_params_array(url text, params_array text[]) returns text
  language sql immutable strict
  as $$
    select case when cardinality(params_array) = 0 then url
                when position('?' in url) > 0 then url || '&' || array_to_string(params_array, '&')
                else url || '?' || array_to_string(params_array, '&') end
  $$;

-- The query-string parameters are collected inside each function, as in pg_net's own SQL: a
-- plpgsql statement keeps its plan for the session, where a separate SQL function (this
-- stand-in had one) is planned again on every call — 0.2 ms per request that the real
-- extension does not spend (its encoders are C).
create function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds int default 5000
) returns bigint
  strict volatile parallel safe
  language plpgsql
  security definer
  set search_path = net
  as $$
declare
  request_id bigint;
  params_array text[];
begin
  select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
    into params_array
    from jsonb_each_text(params);
  insert into net.http_request_queue (method, url, headers, timeout_milliseconds)
  values ('GET', net._encode_url_with_params_array(url, params_array), headers,
          timeout_milliseconds)
  returning id into request_id;
  return request_id;
end;
$$;

create function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds int default 5000
) returns bigint
  volatile parallel safe
  language plpgsql
  security definer
  set search_path = net
  as $$
declare
  request_id bigint;
  params_array text[];
  content_type text;
begin
  select header_value into content_type
  from jsonb_each_text(coalesce(headers, '{}'::jsonb)) as h(header_name, header_value)
  where lower(header_name) = 'content-type'
  limit 1;

  if content_type is null then
    select headers || '{"Content-Type": "application/json"}'::jsonb into headers;
  end if;

  if content_type is not null and content_type <> 'application/json' then
    raise exception 'Content-Type header must be "application/json"';
  end if;

  select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
    into params_array
    from jsonb_each_text(coalesce(params, '{}'::jsonb));

  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values ('POST', net._encode_url_with_params_array(url, params_array), headers,
          convert_to(body::text, 'UTF8'), timeout_milliseconds)
  returning id into request_id;
  return request_id;
end;
$$;

create function net.http_delete(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds int default 5000,
  body jsonb default null
) returns bigint
  volatile parallel safe
  language plpgsql
  security definer
  set search_path = net
  as $$
declare
  request_id bigint;
  params_array text[];
begin
  select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
    into params_array
    from jsonb_each_text(coalesce(params, '{}'::jsonb));
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values ('DELETE', net._encode_url_with_params_array(url, params_array), headers,
          case when body is null then null else convert_to(body::text, 'UTF8') end,
          timeout_milliseconds)
  returning id into request_id;
  return request_id;
end;
$$;

revoke all on schema net from public;
revoke all on all functions in schema net from public;
