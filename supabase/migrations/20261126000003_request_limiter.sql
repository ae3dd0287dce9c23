-- Request limiter: guestly.request_slots and guestly.reserve_request_slot, the account-wide send
-- slots with priorities that every Guestly request reserves first (Guestly's limits are per
-- account, shared by all tokens). Concern: Guestly rate limits. Depends on
-- 20261126000002 (the guestly schema).

-- Send times reserved by every invocation: one shared limiter for the whole account.
create table guestly.request_slots (slot_at timestamptz not null);

create index request_slots_slot_at_idx on guestly.request_slots (slot_at);

alter table guestly.request_slots enable row level security;

-- ---- Send slots with priorities

create function guestly.reserve_request_slot(
  per_second int default 15,
  per_minute int default 120,
  per_hour int default 5000,
  max_wait_ms int default 60000,
  priority text default 'live'
) returns timestamptz
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  slot timestamptz;
  share numeric;
  limits int[];
  windows interval[] := array[interval '1 second', interval '1 minute', interval '1 hour'];
  oldest_in_window timestamptz;
  changed boolean := true;
begin
  share := case reserve_request_slot.priority
             when 'live' then 1.0 when 'hold' then 0.6 when 'background' then 0.3 end;
  if share is null then
    raise exception 'priority must be live, hold or background, not %', reserve_request_slot.priority
      using errcode = 'invalid_parameter_value';
  end if;
  limits := array[greatest(1, floor(per_second * share))::int,
                  greatest(1, floor(per_minute * share))::int,
                  greatest(1, floor(per_hour * share))::int];
  perform pg_advisory_xact_lock(hashtext('guestly.request_slots'));
  select greatest(clock_timestamp(), max(slot_at)) into slot from guestly.request_slots;
  while changed loop
    changed := false;
    for i in 1..3 loop
      select slot_at into oldest_in_window from guestly.request_slots
       order by slot_at desc offset limits[i] - 1 limit 1;
      -- Each window is counted 300 ms longer than Guestly's: a request reaches Guestly some time
      -- after its slot (a fresh TLS connection for a create, a pooled one for the rest, a busy
      -- runtime), and one that arrives later than the next window's first ones is counted in
      -- that window too. Slots come in bursts (a whole second's share at once), so the extra
      -- length is the spread of arrival delays we absorb without a 429 (send-slot.ts lets a
      -- request leave at most 50 ms after its slot, which leaves 250 ms for the way there).
      -- 100 ms was too little: on a busy machine creates reached the sandbox up to 170 ms after
      -- leaving, and the burst of 300 bookings met 429s.
      if oldest_in_window is not null and oldest_in_window + windows[i] + interval '300 ms' > slot then
        slot := oldest_in_window + windows[i] + interval '300 ms';
        changed := true;
      end if;
    end loop;
  end loop;
  if slot > clock_timestamp() + make_interval(secs => max_wait_ms / 1000.0) then
    return null;
  end if;
  insert into guestly.request_slots (slot_at) values (slot);
  delete from guestly.request_slots where slot_at < clock_timestamp() - interval '1 hour 1 minute';
  return slot;
end;
$$;
