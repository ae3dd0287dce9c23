-- Money Stripe took (or gave back) that Guestly must show: one row per payment or refund, written
-- when the Stripe ledger applies an event, recorded in Guestly by guestly-sync once the booking's
-- reservation exists. The row's reference (the PaymentIntent id, or the PaymentIntent id with the
-- cumulative refunded amount) is what guestly-sync sends as the payment's note and looks for after
-- an unknown outcome, so a payment is recorded in Guestly exactly once.
create table guestly.payments (
  id uuid primary key default gen_random_uuid(),
  booking_id uuid not null references public.bookings (id) on delete cascade,
  kind text not null check (kind in ('payment', 'refund')),
  -- Positive minor units (cents), in the currency Stripe charged.
  amount bigint not null check (amount > 0),
  currency text not null check (currency ~ '^[a-z]{3}$'),
  reference text not null,
  stripe_event_id text,
  status text not null default 'pending' check (status in ('pending', 'recorded')),
  -- When a request recording it had an unknown outcome: look it up before sending again.
  unknown_at timestamptz,
  guestly_payment_id text,
  recorded_at timestamptz,
  created_at timestamptz not null default now(),
  unique (booking_id, reference)
);
create index payments_pending_idx on guestly.payments (booking_id) where status = 'pending';
alter table guestly.payments enable row level security;
revoke all on guestly.payments from public, anon, authenticated;
grant select on guestly.payments to service_role;

-- Money work: a payment or refund not yet in Guestly, for a booking whose reservation exists.
create function guestly.payment_record_due(b public.bookings) returns boolean
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  select b.guestly_reservation_id is not null
     and exists (select 1 from guestly.payments p where p.booking_id = b.id and p.status = 'pending')
$$;

-- Stripe's ledger gives each event its outcome in a second statement (it is inserted as
-- `ignored` first): the money rows follow that outcome. `confirmed` is the booking's payment;
-- `refunded` and `partial_refund` carry Stripe's cumulative amount_refunded, so the refund to
-- record is what that adds to the refunds already known for this PaymentIntent.
create function payments.tg_stripe_events__guestly_payments() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  refunded_before bigint;
  added int;
begin
  if new.booking_id is null or new.amount is null or new.currency is null then
    return null;
  end if;
  if new.outcome = 'confirmed' then
    if new.amount > 0 then
      insert into guestly.payments (booking_id, kind, amount, currency, reference, stripe_event_id)
      values (new.booking_id, 'payment', new.amount, new.currency,
              coalesce(new.payment_intent_id, new.id), new.id)
      on conflict (booking_id, reference) do nothing;
      get diagnostics added = row_count;
    end if;
  elsif exists (select 1 from guestly.payments p
                 where p.booking_id = new.booking_id and p.kind = 'payment'
                   and p.reference = new.payment_intent_id) then
    -- Only a refund of a payment we record: Guestly takes a refund on the payment it returns
    -- money from. (A booking paid before this migration, or a second PaymentIntent the booking
    -- never applied, has no payment row; its refund stays in Stripe's ledger and alerts.)
    select coalesce(sum(p.amount), 0) into refunded_before from guestly.payments p
     where p.booking_id = new.booking_id and p.kind = 'refund'
       and left(p.reference, length(new.payment_intent_id) + 8) = new.payment_intent_id || '#refund-';
    if new.amount > refunded_before then
      insert into guestly.payments (booking_id, kind, amount, currency, reference, stripe_event_id)
      values (new.booking_id, 'refund', new.amount - refunded_before, new.currency,
              new.payment_intent_id || '#refund-' || new.amount, new.id)
      on conflict (booking_id, reference) do nothing;
      get diagnostics added = row_count;
    end if;
  end if;
  -- A partial refund changes nothing else on the booking: wake its sync here (a payment or a
  -- full refund changes the status, whose trigger already does). Only a synced booking: one
  -- that failed is retried by the sweep (its claim carries the money), and one that failed for
  -- good waits for an operator — a refund must not re-run a double booking and alert again.
  if coalesce(added, 0) > 0 then
    update public.bookings b
       set guestly_sync_status = 'pending',
           guestly_sync_episode_base = coalesce(b.guestly_sync_attempts, 0),
           guestly_sync_next_attempt_at = now() + interval '2 minutes'
     where b.id = new.booking_id and b.guestly_sync_status = 'synced'
       and b.guestly_reservation_id is not null;
    if found then
      perform guestly.invoke_function('guestly-sync', jsonb_build_object('bookingId', new.booking_id));
    end if;
  end if;
  return null;
end;
$$;

create trigger tg_stripe_events__guestly_payments
  after update of outcome on payments.stripe_events
  for each row
  when (new.outcome in ('confirmed', 'refunded', 'partial_refund')
        and old.outcome is distinct from new.outcome)
  execute function payments.tg_stripe_events__guestly_payments();

-- What is known of a payment row's request. `sending`: written right before the request leaves
-- (if the invocation dies before it learns the answer, the next one looks it up first);
-- `recorded` (Guestly's payment id when known); `unknown` (an answer lost: look it up before
-- sending again); `not_sent` (a definite refusal: nothing reached Guestly). Lease holder only.
create function guestly.record_payment_outcome(
  booking_id uuid,
  lease_id uuid,
  payment_id uuid,
  outcome text,
  guestly_payment_id text default null
) returns boolean
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  if record_payment_outcome.outcome not in ('sending', 'recorded', 'unknown', 'not_sent') then
    raise exception 'outcome must be sending, recorded, unknown or not_sent, not %',
      record_payment_outcome.outcome using errcode = 'invalid_parameter_value';
  end if;
  perform 1 from public.bookings b
   where b.id = record_payment_outcome.booking_id
     and b.guestly_sync_lease_id = record_payment_outcome.lease_id
     for update;
  if not found then
    return false;
  end if;
  update guestly.payments p
     set status = case when record_payment_outcome.outcome = 'recorded' then 'recorded' else p.status end,
         -- sending/unknown: the settle delay counts from the latest request that may have landed.
         unknown_at = case record_payment_outcome.outcome
                        when 'not_sent' then null
                        when 'recorded' then p.unknown_at
                        else now() end,
         guestly_payment_id = coalesce(record_payment_outcome.guestly_payment_id, p.guestly_payment_id),
         recorded_at = case when record_payment_outcome.outcome = 'recorded' then now() end
   where p.id = record_payment_outcome.payment_id
     and p.booking_id = record_payment_outcome.booking_id;
  return found;
end;
$$;

revoke all on function guestly.payment_record_due(public.bookings) from public, anon, authenticated;
grant execute on function guestly.payment_record_due(public.bookings) to service_role;
revoke all on function payments.tg_stripe_events__guestly_payments()
  from public, anon, authenticated, service_role;
revoke all on function guestly.record_payment_outcome(uuid, uuid, uuid, text, text)
  from public, anon, authenticated;
grant execute on function guestly.record_payment_outcome(uuid, uuid, uuid, text, text) to service_role;
