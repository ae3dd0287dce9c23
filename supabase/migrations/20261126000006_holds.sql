-- Guestly holds while the guest pays: hold minutes and deadline, the triggers that request a
-- hold on a pending booking and release one never placed, the hold's state functions, release
-- when the Checkout ends unpaid (trigger on the Stripe ledger), expiry, and a lapsed hold let go
-- of (forget_lapsed_hold). Concern: holds.
-- Depends on 20261126000001 (hold columns), 20261126000002 (sync state functions, invoke) and
-- 20261126000004 (payments.stripe_events).

-- ---- Hold minutes, deadline and the request trigger functions

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

-- A booking cancelled before its hold ever reached Guestly (no attempt, no lease): the status
-- trigger marks it synced without a request (it fires first: BEFORE triggers run in name
-- order), and the hold is released with it. Also when it was confirmed meanwhile and nothing was
-- sent yet (a payment and a refund made before it was matched, applied in one transaction).
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

-- ---- Hold state and failure

-- A hold's failure. Not an admin's business: the website learns `unavailable` and does not take
-- the payment; anything else leaves the booking to sync as usual once paid (and alert then, if
-- it must). A booking that changed meanwhile (paid, cancelled) is due again at once.
create function guestly.record_hold_failure(
  booking_id uuid,
  lease_id uuid,
  error text,
  permanent boolean,
  error_kind text default null,
  retry_not_before timestamptz default null
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  b public.bookings;
  releasing boolean;
  final boolean;
  retry_at timestamptz;
  hold text;
  tries int;
begin
  select * into b from public.bookings where id = record_hold_failure.booking_id for update;
  if not found or b.guestly_sync_lease_id is distinct from record_hold_failure.lease_id then
    return jsonb_build_object('recorded', false, 'reason', 'lease_lost');
  end if;
  if b.status <> 'pending_payment' then
    -- Paid or cancelled while the hold's request ran: that is the work now, at once.
    update public.bookings
       set guestly_sync_status = 'pending',
           guestly_sync_next_attempt_at = greatest(now(), record_hold_failure.retry_not_before),
           guestly_sync_lease_id = null,
           guestly_sync_lease_until = null
     where id = record_hold_failure.booking_id;
    perform guestly.invoke_function('guestly-sync', jsonb_build_object('bookingId', b.id));
    return jsonb_build_object('recorded', true, 'final', false, 'moved_on', true,
                              'next_attempt_at', greatest(now(), record_hold_failure.retry_not_before));
  end if;
  releasing := b.guestly_hold_status = 'releasing';
  hold := b.guestly_hold_status;
  tries := greatest(1, coalesce(b.guestly_sync_attempts, 0) - b.guestly_sync_episode_base);
  retry_at := greatest(now() + make_interval(secs => least(60, power(2, least(tries, 6)))),
                       record_hold_failure.retry_not_before);
  if record_hold_failure.error_kind = 'conflict' and not releasing then
    final := true;
    hold := 'unavailable';
  elsif record_hold_failure.permanent then
    -- A release Guestly refuses for good: its hold still stops blocking at its end
    -- (expire_holds marks it then).
    final := true;
    hold := case when releasing then 'releasing' else 'failed' end;
  elsif retry_at >= guestly.hold_deadline(b) then
    final := true;
    hold := case when releasing then 'expired' else 'failed' end;
  else
    final := false;
  end if;
  update public.bookings
     set guestly_sync_status = 'pending',
         guestly_sync_error = left(record_hold_failure.error, 2000),
         guestly_sync_next_attempt_at = case when final then null else retry_at end,
         guestly_sync_lease_id = null,
         guestly_sync_lease_until = null,
         guestly_hold_status = hold,
         guestly_hold_error = left(record_hold_failure.error, 2000)
   where id = record_hold_failure.booking_id;
  return jsonb_build_object('recorded', true, 'final', final, 'moved_on', false,
                            'hold_status', hold,
                            'next_attempt_at', case when final then null else retry_at end);
end;
$$;

-- ---- Release and expiry

-- A hold never blocks nights nobody pays for. The Checkout ended without payment (session
-- expired, or its delayed payment failed for good) → the hold is cancelled in Guestly at once,
-- through the sync path. A booking cancelled before payment releases its hold through the status
-- trigger like any cancellation. A hold whose time ran out is marked expired (Guestly stopped
-- blocking the nights by itself at reservedUntil; nothing to send).

create function guestly.release_hold(booking_id uuid) returns boolean
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  update public.bookings b
     set guestly_hold_status = 'releasing',
         guestly_sync_status = 'pending',
         guestly_sync_next_attempt_at = now() + interval '1 minute'
   where b.id = release_hold.booking_id and b.status = 'pending_payment'
     and b.guestly_hold_status in ('placing', 'held');
  if not found then
    return false;
  end if;
  perform guestly.invoke_function('guestly-sync', jsonb_build_object('bookingId', release_hold.booking_id));
  return true;
end;
$$;

create function payments.tg_stripe_events__release_guestly_hold() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  perform guestly.release_hold(new.booking_id);
  return null;
end;
$$;

-- Holds past their end, still unpaid: expired. A hold being placed right now is left to its
-- round (record_success gives a hold placed late its own full time).
create function guestly.expire_holds(as_of timestamptz default now()) returns int
  language sql
  security definer
  set search_path = ''
  as $$
  with expired as (
    update public.bookings b
       set guestly_hold_status = 'expired',
           guestly_sync_next_attempt_at = null
     where b.status = 'pending_payment'
       and b.guestly_hold_status in ('placing', 'held', 'releasing')
       and guestly.hold_deadline(b) <= expire_holds.as_of
       and (b.guestly_sync_lease_until is null or b.guestly_sync_lease_until < expire_holds.as_of)
    returning 1
  )
  select count(*)::int from expired
$$;

-- ---- A hold the host cancelled, and the payment after it

-- The host cancelled the booking's hold in Guestly (or Guestly declined it) while Guestly held
-- only that hold: it is not the booking's reservation any more (kept on record in
-- guestly_hold_reservation_id, hold `cancelled`, so guestly-hold answers `unavailable`). Called
-- by guestly_events.apply_guestly_change (the webhook, the reconciliation: lease_id null) and by
-- the sync, which reads the hold before the payment confirms it (its lease: a cancellation whose
-- webhook never came must not be undone by our confirm). False if the binding (or the lease)
-- changed. The sync creates the paid stay's reservation anew; tg_bookings__alert_paid_after_…
-- below tells the admin.
create function guestly.forget_cancelled_hold(
  booking_id uuid,
  lease_id uuid,
  reservation_id text,
  canceled_by text default null
) returns boolean
  language sql
  security definer
  set search_path = ''
  as $$
  with forgotten as (
    update public.bookings b
       set guestly_reservation_id = null,
           guestly_synced_status = null,
           guestly_synced_state = null,
           guestly_hold_status = 'cancelled',
           guestly_hold_reservation_id = forget_cancelled_hold.reservation_id,
           guestly_hold_error = 'cancelled in Guestly'
                                || coalesce(' by ' || forget_cancelled_hold.canceled_by, ''),
           guestly_sync_next_attempt_at = case when b.status = 'confirmed'
                                               then b.guestly_sync_next_attempt_at end
     where b.id = forget_cancelled_hold.booking_id
       and b.guestly_reservation_id = forget_cancelled_hold.reservation_id
       and b.guestly_synced_status = 'pending_payment'
       and b.status in ('pending_payment', 'confirmed')
       -- Our own release cancelled it: a lapsed hold (forget_lapsed_hold), no host's doing.
       and b.guestly_hold_status is distinct from 'releasing'
       and (forget_cancelled_hold.lease_id is null
            or b.guestly_sync_lease_id = forget_cancelled_hold.lease_id)
    returning 1
  )
  select exists (select 1 from forgotten)
$$;

-- The host cancelled the hold in Guestly (guestly_events.apply_guestly_change, from the webhook
-- or the reconciliation) and the guest paid anyway — before the cancellation reached us or after:
-- the sync creates a new reservation for the stay instead of confirming the cancelled one, and
-- the admin hears of it once, since the host may have meant the stay not to happen.
create function public.tg_bookings__alert_paid_after_hold_cancelled() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  insert into guestly.admin_alerts (booking_id, kind, details)
  values (new.id, 'hold_cancelled_in_guestly', jsonb_build_object(
    'hold_reservation_id', new.guestly_hold_reservation_id,
    'hold_error', new.guestly_hold_error,
    -- Paid after the cancellation had reached us (else: the payment came first).
    'paid_after_cancellation', old.status = 'pending_payment',
    'payment_intent_id', new.stripe_payment_intent_id,
    'amount', new.amount_total,
    'currency', new.currency))
  on conflict (booking_id) where kind = 'hold_cancelled_in_guestly' do nothing;
  if found then
    perform guestly.invoke_function('notify-admin', '{}'::jsonb);
  end if;
  return null;
end;
$$;

-- ---- Triggers on bookings

create trigger tg_bookings__alert_paid_after_hold_cancelled
  after update of status, guestly_hold_status on public.bookings
  for each row
  when (new.status = 'confirmed' and new.guestly_hold_status = 'cancelled'
        and (old.status is distinct from new.status
             or old.guestly_hold_status is distinct from new.guestly_hold_status))
  execute function public.tg_bookings__alert_paid_after_hold_cancelled();

create trigger tg_bookings__request_guestly_hold
  before insert on public.bookings
  for each row
  when (new.status = 'pending_payment' and new.guestly_hold_status is null
        and new.guestly_reservation_id is null)
  execute function public.tg_bookings__request_guestly_hold();

create trigger tg_bookings__release_unplaced_hold
  before update of status on public.bookings
  for each row
  when (new.status in ('cancelled', 'refunded') and old.status in ('pending_payment', 'confirmed')
        and new.guestly_hold_status in ('placing', 'releasing'))
  execute function public.tg_bookings__release_unplaced_hold();

-- ---- Trigger on the Stripe ledger

-- record_stripe_event writes the booking id in the same UPDATE that sets the final outcome.
create trigger tg_stripe_events__release_guestly_hold
  after update of outcome on payments.stripe_events
  for each row
  when (new.type in ('checkout.session.expired', 'checkout.session.async_payment_failed')
        and new.booking_id is not null and old.booking_id is null)
  execute function payments.tg_stripe_events__release_guestly_hold();

-- ---- A lapsed hold, forgotten

-- A hold that ran out before the guest paid, whose nights a channel took meanwhile: Guestly
-- refuses to confirm it (the calendar), so it is not the booking's reservation any more.
-- guestly.forget_lapsed_hold unbinds it (the hold stays on record in guestly_hold_reservation_id,
-- marked expired) and the sync creates the booking's reservation anew in the same round: refused
-- as a double booking (the alert's ways out then work: moved dates create on the new nights, a
-- forced retry creates with ignoreCalendar), or made if the nights were free again. Without
-- this, every round asked Guestly to confirm the lapsed hold on its old nights and the conflict
-- never moved. Exactly once holds: the hold is not live in Guestly (Guestly just said so by
-- refusing it; a lookup binds only live reservations), and no create of this booking is pending.
-- record_success (20261126000002) calls a placed hold confirmed only when the
-- confirmed reservation is the hold. Money recorded on the hold is due again for the new
-- reservation (guestly.tg_bookings__payments_follow_reservation, 20261126000004).

create function guestly.forget_lapsed_hold(booking_id uuid, lease_id uuid, reservation_id text)
  returns boolean
  language sql
  security definer
  set search_path = ''
  as $$
  with forgotten as (
    update public.bookings b
       set guestly_reservation_id = null,
           guestly_synced_status = null,
           guestly_synced_state = null,
           guestly_hold_status = 'expired'
     where b.id = forget_lapsed_hold.booking_id
       and b.guestly_sync_lease_id = forget_lapsed_hold.lease_id
       and b.guestly_reservation_id = forget_lapsed_hold.reservation_id
       and b.guestly_synced_status = 'pending_payment'
    returning 1
  )
  select exists (select 1 from forgotten)
$$;
