-- A hold while the guest pays (GUESTLY_HOLD_MINUTES, default 0 = off). A booking inserted as
-- `pending_payment` places a `reserved` reservation in Guestly that blocks its nights for the
-- hold minutes; the payment confirms that same reservation. The hold is the booking's Guestly
-- work while it waits for payment: it goes through the same trigger → pg_net → guestly-sync path,
-- the same lease, attempt log and lookup rules as a paid booking's sync (next migration).
--
-- guestly_hold_status (null: no hold asked for):
--   placing     the hold is being placed (or retried after Guestly was slow or down)
--   held        Guestly holds the nights until guestly_hold_until
--   unavailable Guestly refused: the nights are taken (the website should not take payment)
--   failed      Guestly refused for another reason, or could not be reached before the hold
--               would have run out; the booking syncs as usual once paid
--   releasing   the Checkout ended without payment: the hold is being cancelled in Guestly
--   released    cancelled in Guestly (or never placed) — nobody blocks the nights any more
--   expired     the hold's time ran out before payment; Guestly stopped blocking the nights
--   confirmed   the payment confirmed the held reservation
alter table public.bookings
  add column guestly_hold_status text,
  add column guestly_hold_minutes int,
  add column guestly_hold_requested_at timestamptz,
  add column guestly_hold_until timestamptz,
  add column guestly_hold_reservation_id text,
  add column guestly_hold_error text,
  add constraint bookings_guestly_hold_status_check
    check (guestly_hold_status in ('placing', 'held', 'unavailable', 'failed', 'releasing',
                                   'released', 'expired', 'confirmed')),
  add constraint bookings_guestly_hold_minutes_check
    check (guestly_hold_minutes is null or guestly_hold_minutes > 0);

create index bookings_guestly_hold_open_idx on public.bookings (guestly_hold_requested_at)
  where guestly_hold_status in ('placing', 'held', 'releasing');

-- The hold minutes guestly-sync runs with (it reports its settings, as for the stall detector:
-- the database cannot read a function's environment). 0 when sync is off or in test mode.
create function guestly.hold_minutes() returns int
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  select coalesce((
    select (s.settings ->> 'hold_minutes')::int
      from guestly.function_state s
     where s.function_name = 'guestly-sync' and s.enabled and not s.test_mode), 0)
$$;

-- When a hold stops blocking in Guestly: its recorded end, or (not placed yet) the request
-- time plus its minutes — trying to place it later than that is pointless.
create function guestly.hold_deadline(b public.bookings) returns timestamptz
  language sql
  immutable
  set search_path = ''
  as $$
  select coalesce(b.guestly_hold_until,
                  b.guestly_hold_requested_at + make_interval(mins => b.guestly_hold_minutes))
$$;

-- A booking born waiting for payment asks for its hold. A row that arrives with hold state
-- already set (an import, a restore) is left as it is.
create function public.tg_bookings__request_guestly_hold() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  minutes int := guestly.hold_minutes();
begin
  if minutes <= 0 then
    return new;
  end if;
  new.guestly_hold_status := 'placing';
  new.guestly_hold_minutes := minutes;
  new.guestly_hold_requested_at := now();
  new.guestly_sync_status := 'pending';
  -- Safety net: pg_net's queue is unlogged and never retried; the sweep comes back if needed.
  new.guestly_sync_next_attempt_at := now() + interval '1 minute';
  perform guestly.invoke_function('guestly-sync', jsonb_build_object('bookingId', new.id));
  return new;
end;
$$;

create trigger tg_bookings__request_guestly_hold
  before insert on public.bookings
  for each row
  when (new.status = 'pending_payment' and new.guestly_hold_status is null
        and new.guestly_reservation_id is null)
  execute function public.tg_bookings__request_guestly_hold();

-- A booking cancelled before its hold ever reached Guestly (no attempt, no lease): the status
-- trigger marks it synced without a request (it fires first: BEFORE triggers run in name
-- order), and the hold is released with it.
create function public.tg_bookings__release_unplaced_hold() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  if new.guestly_reservation_id is null and new.guestly_sync_status = 'synced' then
    new.guestly_hold_status := 'released';
  end if;
  return new;
end;
$$;

create trigger tg_bookings__release_unplaced_hold
  before update of status on public.bookings
  for each row
  when (new.status in ('cancelled', 'refunded') and old.status = 'pending_payment'
        and new.guestly_hold_status in ('placing', 'releasing'))
  execute function public.tg_bookings__release_unplaced_hold();

-- What the website asks before sending the guest to Stripe (guestly-hold answers from it).
create function guestly.hold_state(booking_id uuid) returns jsonb
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  select coalesce((
    select jsonb_build_object(
             'found', true,
             'status', b.status,
             'hold_status', b.guestly_hold_status,
             'hold_until', b.guestly_hold_until,
             'reservation_id', coalesce(b.guestly_hold_reservation_id, b.guestly_reservation_id),
             'error', b.guestly_hold_error)
      from public.bookings b where b.id = hold_state.booking_id),
    jsonb_build_object('found', false))
$$;

revoke all on function guestly.hold_minutes() from public, anon, authenticated;
grant execute on function guestly.hold_minutes() to service_role;
revoke all on function guestly.hold_deadline(public.bookings) from public, anon, authenticated;
grant execute on function guestly.hold_deadline(public.bookings) to service_role;
revoke all on function guestly.hold_state(uuid) from public, anon, authenticated;
grant execute on function guestly.hold_state(uuid) to service_role;
revoke all on function public.tg_bookings__request_guestly_hold()
  from public, anon, authenticated, service_role;
revoke all on function public.tg_bookings__release_unplaced_hold()
  from public, anon, authenticated, service_role;
