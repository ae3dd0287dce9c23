-- Stripe webhook: the private `payments` schema with the event ledger, and the one SQL function
-- the stripe-webhook Edge Function calls per verified event. Recording the event, the booking's
-- state change and any admin alert happen in one transaction, so a crash or a database error
-- leaves nothing half-done: the function answers 500 and Stripe delivers the event again.
--
-- Booking states only move forward (pending_payment → confirmed → refunded, or pending_payment →
-- refunded), so events arriving late or out of order can never bring an old state back; the
-- Stripe event id makes a repeated delivery a no-op. The booking's status change fires the
-- existing trigger that enqueues the Guestly sync; nothing here talks to Guestly.

create schema payments;
revoke all on schema payments from public;
grant usage on schema payments to service_role;

create table payments.stripe_events (
  -- Stripe's event id (evt_…): the idempotency key of every delivery.
  id text primary key,
  type text not null,
  -- event.created: when Stripe created the event (deliveries may arrive in any order).
  created timestamptz not null,
  livemode boolean not null,
  -- null when the event names no booking we know (outcome unmatched) or none at all.
  booking_id uuid null references public.bookings (id) on delete set null,
  outcome text not null
    constraint stripe_events_outcome_check
    check (outcome in ('confirmed', 'refunded', 'payment_failed', 'ignored', 'unmatched',
                       'amount_mismatch', 'stale')),
  payment_intent_id text,
  amount bigint,
  currency text,
  -- The event exactly as Stripe sent it, for audits and replays.
  payload jsonb not null
    -- The event object itself, never the JSON text of it wrapped in a jsonb string.
    constraint stripe_events_payload_check check (jsonb_typeof(payload) = 'object'),
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  error text
);
create index stripe_events_booking_id_idx on payments.stripe_events (booking_id);
create index stripe_events_payment_intent_id_idx on payments.stripe_events (payment_intent_id);
-- Operators look here first: what needs a human.
create index stripe_events_attention_idx on payments.stripe_events (received_at)
  where outcome in ('unmatched', 'amount_mismatch');

alter table payments.stripe_events enable row level security;
revoke all on payments.stripe_events from public, anon, authenticated;
grant select on payments.stripe_events to service_role;

-- action is what the Edge Function made of the event (see _shared/stripe/event.ts):
--   'paid'           payment_intent.succeeded, or a Checkout session whose payment_status is paid
--   'payment_failed' payment_intent.payment_failed
--   'refund'         charge.refunded (refunded_in_full tells a full refund from a partial one)
--   'none'           anything else: recorded as ignored
-- Returns {duplicate, outcome, booking_id, booking_status}. A repeated event id changes nothing
-- and answers with the outcome of the first delivery.
create function payments.record_stripe_event(
  event_id text,
  event_type text,
  event_created timestamptz,
  livemode boolean,
  action text,
  booking_id uuid,
  payment_intent_id text,
  amount bigint,
  currency text,
  refunded_in_full boolean,
  payload jsonb
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  b public.bookings;
  found_booking boolean := false;
  result_outcome text;
  result_error text;
  first_outcome text;
  first_booking uuid;
  new_status text;
begin
  if record_stripe_event.action not in ('paid', 'payment_failed', 'refund', 'none') then
    raise exception 'payments.record_stripe_event: unknown action %', record_stripe_event.action
      using errcode = 'invalid_parameter_value';
  end if;

  -- Claim the event id first. A concurrent delivery of the same event waits here on the primary
  -- key until this transaction ends, then sees the row and reports a duplicate. The provisional
  -- outcome is overwritten below, in this same transaction, so nobody ever reads it.
  insert into payments.stripe_events
    (id, type, created, livemode, outcome, payment_intent_id, amount, currency, payload)
  values (record_stripe_event.event_id, record_stripe_event.event_type,
          record_stripe_event.event_created, record_stripe_event.livemode, 'ignored',
          record_stripe_event.payment_intent_id, record_stripe_event.amount,
          lower(record_stripe_event.currency), record_stripe_event.payload)
  on conflict (id) do nothing;
  if not found then
    select e.outcome, e.booking_id into first_outcome, first_booking
      from payments.stripe_events e where e.id = record_stripe_event.event_id;
    return jsonb_build_object(
      'duplicate', true,
      'outcome', first_outcome,
      'booking_id', first_booking,
      'booking_status', (select s.status from public.bookings s where s.id = first_booking));
  end if;

  -- The booking named by the event; failing that, the one already paid by this PaymentIntent
  -- (a Charge does not always carry the booking id in its metadata).
  if record_stripe_event.booking_id is not null then
    select * into b from public.bookings s where s.id = record_stripe_event.booking_id for update;
    found_booking := found;
  end if;
  if not found_booking and record_stripe_event.payment_intent_id is not null then
    select * into b from public.bookings s
     where s.stripe_payment_intent_id = record_stripe_event.payment_intent_id
     order by s.created_at limit 1
       for update;
    found_booking := found;
  end if;

  if record_stripe_event.action = 'none' then
    result_outcome := 'ignored';
  elsif not found_booking then
    result_outcome := 'unmatched';
    result_error := case
      when record_stripe_event.booking_id is null
        then 'the event names no booking (metadata.booking_id / client_reference_id missing or not a UUID)'
      else 'booking ' || record_stripe_event.booking_id || ' does not exist'
    end;

  elsif record_stripe_event.action = 'paid' then
    if b.status = 'confirmed' then
      result_outcome := 'confirmed';
      if b.stripe_payment_intent_id is distinct from record_stripe_event.payment_intent_id then
        -- Not an error of this webhook, but money a human may need to give back.
        result_error := 'booking already confirmed by ' || coalesce(b.stripe_payment_intent_id, '(none)')
                        || '; this payment is a second one';
      end if;
    elsif b.status in ('cancelled', 'refunded') then
      result_outcome := 'stale';
      result_error := 'booking is ' || b.status || '; a payment never brings it back';
    elsif record_stripe_event.amount is distinct from b.amount_total
          or lower(record_stripe_event.currency) is distinct from b.currency then
      result_outcome := 'amount_mismatch';
      result_error := format('expected %s %s, received %s %s', b.amount_total, b.currency,
                             coalesce(record_stripe_event.amount::text, '(none)'),
                             coalesce(lower(record_stripe_event.currency), '(none)'));
      insert into guestly.admin_alerts (booking_id, kind, details)
      values (b.id, 'payment_mismatch', jsonb_build_object(
        'event_id', record_stripe_event.event_id,
        'event_type', record_stripe_event.event_type,
        'payment_intent_id', record_stripe_event.payment_intent_id,
        'expected_amount', b.amount_total,
        'expected_currency', b.currency,
        'received_amount', record_stripe_event.amount,
        'received_currency', lower(record_stripe_event.currency)));
      -- Never raises; the outbox row is delivered by the sweep even if this wake-up is lost.
      perform guestly.invoke_function('notify-admin', '{}'::jsonb);
    else
      result_outcome := 'confirmed';
      new_status := 'confirmed';
    end if;

  elsif record_stripe_event.action = 'payment_failed' then
    -- The guest may retry with another card: the booking keeps waiting for payment.
    result_outcome := 'payment_failed';

  elsif record_stripe_event.action = 'refund' then
    if not coalesce(record_stripe_event.refunded_in_full, false) then
      result_outcome := 'ignored';
      result_error := 'partial refund: the booking stays as it is';
    elsif b.stripe_payment_intent_id is not null
          and record_stripe_event.payment_intent_id is distinct from b.stripe_payment_intent_id then
      result_outcome := 'ignored';
      result_error := 'refund of ' || coalesce(record_stripe_event.payment_intent_id, '(no payment intent)')
                      || ', but the booking was paid by ' || b.stripe_payment_intent_id;
    elsif b.status in ('confirmed', 'pending_payment') then
      -- pending_payment: the refund overtook the success event, which will then be stale.
      result_outcome := 'refunded';
      new_status := 'refunded';
    else
      result_outcome := 'refunded';
      if b.status = 'cancelled' then
        result_error := 'booking is cancelled; status left unchanged';
      end if;
    end if;
  end if;

  if new_status is not null then
    update public.bookings s
       set status = new_status,
           stripe_payment_intent_id = coalesce(record_stripe_event.payment_intent_id,
                                               s.stripe_payment_intent_id)
     where s.id = b.id
    returning s.status into b.status;
  end if;

  update payments.stripe_events e
     set outcome = result_outcome,
         booking_id = case when found_booking then b.id end,
         error = result_error,
         processed_at = now()
   where e.id = record_stripe_event.event_id;

  return jsonb_build_object(
    'duplicate', false,
    'outcome', result_outcome,
    'booking_id', case when found_booking then b.id end,
    'booking_status', case when found_booking then b.status end);
end;
$$;

revoke all on function payments.record_stripe_event(
  text, text, timestamptz, boolean, text, uuid, text, bigint, text, boolean, jsonb
) from public, anon, authenticated;
grant execute on function payments.record_stripe_event(
  text, text, timestamptz, boolean, text, uuid, text, bigint, text, boolean, jsonb
) to service_role;
