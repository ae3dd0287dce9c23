-- Stripe ledger and money outcomes: the private `payments` schema, the event ledger
-- payments.stripe_events, payments.record_stripe_event (the one call the stripe-webhook makes
-- per verified event), and guestly.payments — the money still to be recorded in Guestly — with
-- the trigger that fills it from the ledger, the function that records its outcome, and the
-- trigger that makes it due again when the booking's reservation is replaced.
-- Concern: money. Depends on 20261126000001 (bookings) and 20261126000002 (guestly schema).

-- ---- The payments schema and the event ledger

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
                       'amount_mismatch', 'stale', 'duplicate_payment',
                       'payment_for_cancelled_booking', 'partial_refund', 'disputed')),
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

-- Operators look here first: what needs a human (the stripe_events_needing_attention view reads
-- these outcomes).
create index stripe_events_attention_idx on payments.stripe_events (received_at)
  where outcome in ('unmatched', 'amount_mismatch', 'duplicate_payment',
                    'payment_for_cancelled_booking', 'partial_refund', 'disputed');

alter table payments.stripe_events enable row level security;

-- ---- payments.record_stripe_event

-- payments.record_stripe_event, with every money case answered:
--   * a payment (or a free Checkout) that matches no booking is deferred during a grace window
--     after event.created (the booking row may not have committed yet): nothing is recorded and
--     the webhook answers 503, so Stripe delivers it again; after the window it is recorded as
--     `unmatched` with a `payment_unmatched` alert;
--   * a payment for a cancelled/refunded booking → `payment_for_cancelled_booking` + alert;
--   * a second, different payment for a confirmed booking → `duplicate_payment` + alert; but a
--     booking confirmed without any payment (by hand) takes a payment of its amount as its own;
--   * a refund that matches no booking → `unmatched` + a `refund_unmatched` alert;
--   * charge.dispute.created → `disputed` + a `payment_disputed` alert (amount, reason);
--   * a partial refund → `partial_refund` + alert; the booking stays as it is;
--   * a Checkout session with payment_status `no_payment_required` (100 % coupon) confirms only
--     when its own totals show the discount covered the booking's amount; otherwise
--     `amount_mismatch` + alert.
-- Money recorded `unmatched` is applied when a booking gets its PaymentIntent, by this function's
-- own update or by an operator's (payments.match_unmatched_stripe_events, below).
-- One alert per payment and kind: the Checkout session event and the PaymentIntent event of one
-- payment share the PaymentIntent id, and the second one writes no second alert. A repeated event
-- id is still a no-op, so a redelivery never doubles an alert.
--
-- The signature gains `details` (what only the alert shows: dispute reason, charge amount, the
-- booking reference as sent) and `unmatched_grace_seconds`. The 11-argument form (below) is a
-- wrapper without a grace window; no function code calls it (stripe-webhook uses these 13), the
-- pgTAP files assert and call it.

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
  payload jsonb,
  details jsonb,
  unmatched_grace_seconds int
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
  alert_kind text;
  alert_details jsonb;
  extra jsonb := coalesce(record_stripe_event.details, '{}'::jsonb);
  money_in boolean := record_stripe_event.action in ('paid', 'no_payment_required');
  grace_until timestamptz := record_stripe_event.event_created
    + make_interval(secs => greatest(coalesce(record_stripe_event.unmatched_grace_seconds, 0), 0));
begin
  if record_stripe_event.action not in ('paid', 'no_payment_required', 'payment_failed', 'refund',
                                        'dispute', 'none') then
    raise exception 'payments.record_stripe_event: unknown action %', record_stripe_event.action
      using errcode = 'invalid_parameter_value';
  end if;
  if jsonb_typeof(extra) <> 'object' then
    raise exception 'payments.record_stripe_event: details must be a JSON object'
      using errcode = 'invalid_parameter_value';
  end if;

  -- The events of one payment (Checkout session, PaymentIntent, Charge) are applied one at a time,
  -- so "was this payment already alerted?" below cannot race a parallel delivery. Taken before the
  -- ledger row and the booking row, in that order, by every caller: no deadlock.
  if record_stripe_event.payment_intent_id is not null then
    perform pg_advisory_xact_lock(
      hashtextextended('payments.stripe_payment_intent:' || record_stripe_event.payment_intent_id, 0));
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
  -- (a Charge or a Dispute does not always carry the booking id in its metadata).
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

  elsif record_stripe_event.action = 'dispute' then
    -- Matched or not, a dispute has a deadline: always one alert per dispute event.
    result_outcome := 'disputed';
    if not found_booking then
      result_error := 'dispute of a payment no booking knows ('
                      || coalesce(record_stripe_event.payment_intent_id, 'no payment intent') || ')';
    end if;
    alert_kind := 'payment_disputed';

  elsif not found_booking then
    if money_in and now() < grace_until then
      -- The booking row may not have committed yet (the site creates it and the Checkout session
      -- in parallel): record nothing, and let the webhook answer 503 so Stripe delivers again.
      delete from payments.stripe_events e where e.id = record_stripe_event.event_id;
      return jsonb_build_object(
        'duplicate', false,
        'outcome', 'deferred',
        'booking_id', null,
        'booking_status', null,
        'retry_until', grace_until);
    end if;
    result_outcome := 'unmatched';
    result_error := case
      when record_stripe_event.booking_id is null
        then 'the event names no booking (metadata.booking_id / client_reference_id missing or not a UUID)'
      else 'booking ' || record_stripe_event.booking_id || ' does not exist'
    end;
    if money_in then
      alert_kind := 'payment_unmatched';
    elsif record_stripe_event.action = 'refund' then
      -- Money went back for a payment no booking took (often one an admin refunded after its
      -- payment_unmatched alert): kept `unmatched` until a booking gets its PaymentIntent
      -- (payments.match_unmatched_stripe_events), and alerted now.
      alert_kind := 'refund_unmatched';
    end if;

  elsif money_in then
    if b.status = 'confirmed' then
      result_outcome := 'confirmed';
      if record_stripe_event.action = 'paid' and b.stripe_payment_intent_id is null
         and record_stripe_event.payment_intent_id is not null
         and record_stripe_event.amount is not distinct from b.amount_total
         and lower(record_stripe_event.currency) is not distinct from b.currency
         and not exists (select 1 from payments.stripe_events e
                          where e.booking_id = b.id and e.outcome = 'confirmed') then
        -- Confirmed without any payment (by hand, e.g. after a payment_unmatched alert), and
        -- this payment is of its amount: it is the booking's only payment, not a second one.
        result_error := 'booking was confirmed without a payment; this payment is its payment';
        update public.bookings s
           set stripe_payment_intent_id = record_stripe_event.payment_intent_id
         where s.id = b.id;
        select s.status into b.status from public.bookings s where s.id = b.id;
      elsif record_stripe_event.action = 'paid'
         and b.stripe_payment_intent_id is distinct from record_stripe_event.payment_intent_id then
        result_outcome := 'duplicate_payment';
        result_error := 'booking already confirmed by ' || coalesce(b.stripe_payment_intent_id, '(no payment intent)')
                        || '; this payment is a second one';
        alert_kind := 'duplicate_payment';
      end if;
    elsif b.status in ('cancelled', 'refunded') then
      if record_stripe_event.action = 'paid'
         and b.stripe_payment_intent_id is distinct from record_stripe_event.payment_intent_id then
        result_outcome := 'payment_for_cancelled_booking';
        result_error := 'booking is ' || b.status || '; this payment was not applied';
        alert_kind := 'payment_for_cancelled_booking';
      else
        -- A late event of the payment the booking already knows (e.g. a refund overtook it).
        result_outcome := 'stale';
        result_error := 'booking is ' || b.status || '; a payment never brings it back';
      end if;
    elsif record_stripe_event.action = 'no_payment_required'
          and (extra ->> 'checkout_amount_subtotal') is not distinct from b.amount_total::text
          and (extra ->> 'checkout_amount_discount') is not distinct from b.amount_total::text
          and coalesce(record_stripe_event.amount, 0) = 0
          and lower(record_stripe_event.currency) is not distinct from b.currency then
      -- A 100 % discount: Stripe collected nothing, and the Checkout's own totals show the
      -- discount covered the booking's whole amount (its subtotal is the booking's price).
      result_outcome := 'confirmed';
      result_error := 'no payment required (Checkout discount covers the whole amount)';
      new_status := 'confirmed';
    elsif record_stripe_event.action = 'no_payment_required' then
      -- Nothing was paid, and nothing shows the booking's price was forgiven (a setup-mode
      -- Checkout, a session for another price): never a confirmation; the admin decides.
      result_outcome := 'amount_mismatch';
      result_error := format('a Checkout that collected nothing (subtotal %s, discount %s %s) '
                             || 'for a booking of %s %s: not confirmed',
                             coalesce(extra ->> 'checkout_amount_subtotal', '(none)'),
                             coalesce(extra ->> 'checkout_amount_discount', '(none)'),
                             coalesce(lower(record_stripe_event.currency), '(none)'),
                             b.amount_total, b.currency);
      alert_kind := 'payment_mismatch';
      alert_details := jsonb_build_object(
        'event_id', record_stripe_event.event_id,
        'event_type', record_stripe_event.event_type,
        'payment_intent_id', record_stripe_event.payment_intent_id,
        'expected_amount', b.amount_total,
        'expected_currency', b.currency,
        'received_amount', coalesce(record_stripe_event.amount, 0),
        'received_currency', lower(record_stripe_event.currency),
        'checkout_amount_subtotal', extra ->> 'checkout_amount_subtotal',
        'checkout_amount_discount', extra ->> 'checkout_amount_discount');
    elsif record_stripe_event.amount is distinct from b.amount_total
          or lower(record_stripe_event.currency) is distinct from b.currency then
      result_outcome := 'amount_mismatch';
      result_error := format('expected %s %s, received %s %s', b.amount_total, b.currency,
                             coalesce(record_stripe_event.amount::text, '(none)'),
                             coalesce(lower(record_stripe_event.currency), '(none)'));
      alert_kind := 'payment_mismatch';
      alert_details := jsonb_build_object(
        'event_id', record_stripe_event.event_id,
        'event_type', record_stripe_event.event_type,
        'payment_intent_id', record_stripe_event.payment_intent_id,
        'expected_amount', b.amount_total,
        'expected_currency', b.currency,
        'received_amount', record_stripe_event.amount,
        'received_currency', lower(record_stripe_event.currency));
    else
      result_outcome := 'confirmed';
      new_status := 'confirmed';
    end if;

  elsif record_stripe_event.action = 'payment_failed' then
    -- The guest may retry with another card: the booking keeps waiting for payment.
    result_outcome := 'payment_failed';

  elsif record_stripe_event.action = 'refund' then
    if not coalesce(record_stripe_event.refunded_in_full, false) then
      -- amount is Stripe's cumulative amount_refunded; only a full refund changes the booking.
      result_outcome := 'partial_refund';
      result_error := format('partial refund (%s of %s %s refunded so far): the booking stays as it is',
                             coalesce(record_stripe_event.amount::text, '(unknown)'),
                             coalesce(extra ->> 'charge_amount', '(unknown)'),
                             coalesce(lower(record_stripe_event.currency), ''));
      alert_kind := 'partial_refund';
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

  -- One alert per payment and kind: the other event of the same payment (Checkout session and
  -- PaymentIntent) finds the first one's ledger row and writes none. Disputes and partial refunds
  -- are one alert per event (each is a new dispute or a new refund).
  if alert_kind in ('payment_unmatched', 'payment_for_cancelled_booking', 'duplicate_payment')
     and record_stripe_event.payment_intent_id is not null
     and exists (select 1 from payments.stripe_events e
                  where e.payment_intent_id = record_stripe_event.payment_intent_id
                    and e.id <> record_stripe_event.event_id
                    and e.outcome = result_outcome) then
    alert_kind := null;
  end if;

  if alert_kind is not null then
    insert into guestly.admin_alerts (booking_id, kind, details)
    values (case when found_booking then b.id end, alert_kind, coalesce(alert_details,
      jsonb_strip_nulls(jsonb_build_object(
        'event_id', record_stripe_event.event_id,
        'event_type', record_stripe_event.event_type,
        'event_created', record_stripe_event.event_created,
        'livemode', record_stripe_event.livemode,
        'payment_intent_id', record_stripe_event.payment_intent_id,
        'amount', record_stripe_event.amount,
        'currency', lower(record_stripe_event.currency),
        'booking_status', case when found_booking then b.status end,
        'booking_payment_intent_id', case when found_booking then b.stripe_payment_intent_id end,
        'reason', result_error)) || extra));
    -- Never raises; the outbox row is delivered by the cron sweep even if this wake-up is lost.
    perform guestly.invoke_function('notify-admin', '{}'::jsonb);
  end if;

  if new_status is not null then
    update public.bookings s
       set status = new_status,
           stripe_payment_intent_id = coalesce(record_stripe_event.payment_intent_id,
                                               s.stripe_payment_intent_id)
     where s.id = b.id;
    -- Read back: money that arrived before this booking got its PaymentIntent is applied by the
    -- bookings trigger of that update (a full refund leaves the booking refunded).
    select s.status into b.status from public.bookings s where s.id = b.id;
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

-- The short form: no details and no grace window (an unmatched payment is recorded at once).
-- The stripe-webhook calls the 13-argument function; nothing is deployed yet, but the pgTAP
-- suites (20_stripe_ledger, 21_stripe_money_cases, 60_content_and_money) assert this signature,
-- its grants and SECURITY DEFINER, and call it 36 times, so it stays.
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
  language sql
  security definer
  set search_path = ''
  as $$
  select payments.record_stripe_event(event_id, event_type, event_created, livemode, action,
    booking_id, payment_intent_id, amount, currency, refunded_in_full, payload, '{}'::jsonb, 0);
$$;

-- ---- guestly.payments: money still to record in Guestly

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
  -- The reservation the row's request went to (`sending`, `unknown`) or that shows it
  -- (`recorded`); null while nothing was sent. Always the booking's reservation: when that is
  -- replaced, the rows on the old one are due again for the new one (the trigger below).
  guestly_reservation_id text,
  guestly_payment_id text,
  recorded_at timestamptz,
  created_at timestamptz not null default now(),
  unique (booking_id, reference)
);

create index payments_pending_idx on guestly.payments (booking_id) where status = 'pending';

alter table guestly.payments enable row level security;

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

-- The refund row Guestly is owed for a PaymentIntent of a booking: what Stripe's cumulative
-- `refunded_so_far` adds to the refunds already known, and only for a payment we record (Guestly
-- takes a refund on the payment it returns money from). Returns the rows added (0 or 1).
create function payments.add_guestly_refund(
  for_booking uuid,
  for_payment_intent text,
  refunded_so_far bigint,
  refund_currency text,
  from_event text
) returns int
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  refunded_before bigint;
  added int := 0;
begin
  -- A booking paid before this migration, or a second PaymentIntent the booking never applied,
  -- has no payment row; its refund stays in Stripe's ledger (and alerted there).
  if not exists (select 1 from guestly.payments p
                  where p.booking_id = add_guestly_refund.for_booking and p.kind = 'payment'
                    and p.reference = add_guestly_refund.for_payment_intent) then
    return 0;
  end if;
  select coalesce(sum(p.amount), 0) into refunded_before from guestly.payments p
   where p.booking_id = add_guestly_refund.for_booking and p.kind = 'refund'
     and left(p.reference, length(add_guestly_refund.for_payment_intent) + 8)
         = add_guestly_refund.for_payment_intent || '#refund-';
  if add_guestly_refund.refunded_so_far > refunded_before then
    insert into guestly.payments (booking_id, kind, amount, currency, reference, stripe_event_id)
    values (add_guestly_refund.for_booking, 'refund',
            add_guestly_refund.refunded_so_far - refunded_before, add_guestly_refund.refund_currency,
            add_guestly_refund.for_payment_intent || '#refund-' || add_guestly_refund.refunded_so_far,
            add_guestly_refund.from_event)
    on conflict (booking_id, reference) do nothing;
    get diagnostics added = row_count;
  end if;
  return added;
end;
$$;

-- Stripe's ledger gives each event its outcome in a second statement (it is inserted as
-- `ignored` first): the money rows follow that outcome. `confirmed` is the booking's payment;
-- `refunded` and `partial_refund` carry Stripe's cumulative amount_refunded, so the refund to
-- record is what that adds to the refunds already known for this PaymentIntent. A refund that
-- reached the booking before its payment did (a partial refund of a booking still waiting for
-- payment, or one matched late) is recorded with the payment.
create function payments.tg_stripe_events__guestly_payments() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  added int := 0;
  earlier_refund payments.stripe_events;
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
    if added > 0 and new.payment_intent_id is not null then
      select * into earlier_refund from payments.stripe_events e
       where e.booking_id = new.booking_id and e.payment_intent_id = new.payment_intent_id
         and e.outcome in ('refunded', 'partial_refund') and e.amount is not null
       order by e.amount desc limit 1;
      if found then
        added := added + payments.add_guestly_refund(new.booking_id, new.payment_intent_id,
          earlier_refund.amount, earlier_refund.currency, earlier_refund.id);
      end if;
    end if;
  elsif new.payment_intent_id is not null then
    added := payments.add_guestly_refund(new.booking_id, new.payment_intent_id, new.amount,
                                         new.currency, new.id);
  end if;
  -- A partial refund changes nothing else on the booking: wake its sync here (a payment or a
  -- full refund changes the status, whose trigger already does). Only a synced booking: one
  -- that failed is retried by the sweep (its claim carries the money), and one that failed for
  -- good waits for an operator — a refund must not re-run a double booking and alert again.
  if added > 0 then
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

-- What is known of a payment row's request. `sending`: written right before the request leaves
-- (if the invocation dies before it learns the answer, the next one looks it up first);
-- `recorded` (Guestly's payment id when known); `unknown` (an answer lost: look it up before
-- sending again); `not_sent` (a definite refusal: nothing reached Guestly). Lease holder only.
-- reservation_id: the reservation the request went to. When the booking no longer holds it (the
-- reservation was replaced while the request was out), nothing is written and the answer is
-- false, as for a lost lease: the row stays due for the booking's new reservation.
create function guestly.record_payment_outcome(
  booking_id uuid,
  lease_id uuid,
  payment_id uuid,
  outcome text,
  guestly_payment_id text default null,
  reservation_id text default null
) returns boolean
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  current_reservation text;
begin
  if record_payment_outcome.outcome not in ('sending', 'recorded', 'unknown', 'not_sent') then
    raise exception 'outcome must be sending, recorded, unknown or not_sent, not %',
      record_payment_outcome.outcome using errcode = 'invalid_parameter_value';
  end if;
  select b.guestly_reservation_id into current_reservation from public.bookings b
   where b.id = record_payment_outcome.booking_id
     and b.guestly_sync_lease_id = record_payment_outcome.lease_id
     for update;
  if not found or current_reservation is distinct from
                  coalesce(record_payment_outcome.reservation_id, current_reservation) then
    return false;
  end if;
  update guestly.payments p
     set status = case when record_payment_outcome.outcome = 'recorded' then 'recorded' else p.status end,
         guestly_reservation_id = case when record_payment_outcome.outcome = 'not_sent' then null
                                       else current_reservation end,
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

-- ---- Payments follow the reservation they belong on

-- A booking's reservation replaced (deleted in Guestly and re-created by the reconciliation's
-- heal_missing, a lapsed hold let go, a released hold whose booking was paid meanwhile, an
-- operator clearing the id after a 404): Guestly's record of the money was on the old
-- reservation, so every payment and refund recorded (or in flight, or of unknown outcome) there
-- is due again, on whatever reservation the booking gets next, oldest first, as the first time.
-- Each is looked up before it is sent, as after an unknown outcome: the reservation the sync
-- binds next may show it already (the lookup by our reference found the old one after all, or
-- one re-created by hand with its payment), and recording is not idempotent in Guestly. A row
-- that was recorded landed long ago as far as the settle delay is concerned (unknown_at: the
-- epoch — only where it is, is unknown); a request still of unknown outcome keeps its time, so
-- its settle delay holds. Done by a trigger so that it happens in the very transaction that
-- replaces the id, whichever path (or hand) replaces it. Rows recorded before the reservation
-- was tracked (no guestly_reservation_id) were recorded on the only one the booking had.
create function guestly.tg_bookings__payments_follow_reservation() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  update guestly.payments p
     set status = 'pending',
         unknown_at = case when p.status = 'recorded' then timestamptz 'epoch'
                           else coalesce(p.unknown_at, timestamptz 'epoch') end,
         guestly_reservation_id = null,
         guestly_payment_id = null,
         recorded_at = null
   where p.booking_id = new.id
     and (p.guestly_reservation_id = old.guestly_reservation_id
          or (p.guestly_reservation_id is null and p.status = 'recorded'));
  return null;
end;
$$;

-- How many payments and refunds of a booking are still to record in Guestly (after its
-- reservation was replaced: all of them): what the reconciliation's heal says (and its email
-- repeats), so "healed" never hides money Guestly does not show yet.
create function guestly.money_to_record(booking_id uuid) returns jsonb
  language sql
  stable
  security definer
  set search_path = ''
  as $$
  select jsonb_build_object(
    'payments', count(*) filter (where p.kind = 'payment'),
    'refunds', count(*) filter (where p.kind = 'refund'))
    from guestly.payments p
   where p.booking_id = money_to_record.booking_id and p.status = 'pending'
$$;

create trigger tg_bookings__payments_follow_reservation
  after update of guestly_reservation_id on public.bookings
  for each row
  when (old.guestly_reservation_id is not null
        and old.guestly_reservation_id is distinct from new.guestly_reservation_id)
  execute function guestly.tg_bookings__payments_follow_reservation();

create trigger tg_stripe_events__guestly_payments
  after update of outcome on payments.stripe_events
  for each row
  when (new.outcome in ('confirmed', 'refunded', 'partial_refund')
        and old.outcome is distinct from new.outcome)
  execute function payments.tg_stripe_events__guestly_payments();

-- ---- Money that arrived before its booking

-- Stripe may report a payment, and even its refund, before anything ties it to a booking: the
-- Checkout session event failed and is retried hours later, the website left the booking id off
-- the PaymentIntent, the admin refunded a payment_unmatched payment as its email suggests. Those
-- events are recorded `unmatched`. When a booking gets their PaymentIntent — record_stripe_event
-- stores it on a confirmation, or an operator confirms the booking by hand — this applies them as
-- they would have been applied had the booking been known, in order (payments, then refunds by
-- Stripe's cumulative amount), so the booking and Guestly end with the money Stripe holds:
--   * a payment: `confirmed` when the booking is (or, if waiting, becomes) confirmed with its
--     amount; `amount_mismatch` when waiting with another amount; `stale` on a cancelled or
--     refunded booking (a payment never brings one back);
--   * a partial refund: `partial_refund`; the booking stays as it is;
--   * a full refund: `refunded`; a confirmed or waiting booking becomes `refunded`, so its
--     Guestly reservation is cancelled (or never created). Nobody paid for that stay any more; the
--     alert asks the admin to decide with the guest (who paid, and was paid back);
--   * a dispute already alerted: linked to the booking.
-- The money rows for Guestly follow from the outcomes (tg_stripe_events__guestly_payments), and
-- one `money_matched_late` alert says what was applied. Runs under the PaymentIntent's lock and
-- the booking's row lock, like record_stripe_event. Returns how many events it matched.
create function payments.match_unmatched_stripe_events(booking_id uuid, payment_intent_id text)
  returns int
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  b public.bookings;
  e payments.stripe_events;
  status_before text;
  new_outcome text;
  note text;
  in_full boolean;
  paid bigint;
  refunded bigint := 0;
  refunded_full boolean := false;
  money_events int := 0;
  matched jsonb := '[]'::jsonb;
  binding_event text;
  live boolean;
begin
  if match_unmatched_stripe_events.payment_intent_id is null then
    return 0;
  end if;
  perform pg_advisory_xact_lock(hashtextextended(
    'payments.stripe_payment_intent:' || match_unmatched_stripe_events.payment_intent_id, 0));
  select * into b from public.bookings s where s.id = match_unmatched_stripe_events.booking_id
     for update;
  if not found or b.stripe_payment_intent_id is distinct from match_unmatched_stripe_events.payment_intent_id then
    return 0;
  end if;
  status_before := b.status;

  for e in
    select * from payments.stripe_events s
     where s.payment_intent_id = match_unmatched_stripe_events.payment_intent_id
       and s.booking_id is null
       and ((s.outcome = 'unmatched'
             and s.type in ('payment_intent.succeeded', 'checkout.session.completed',
                            'checkout.session.async_payment_succeeded', 'charge.refunded'))
            or s.outcome = 'disputed')
     order by s.type = 'charge.refunded', s.amount nulls first, s.created, s.id
  loop
    note := null;
    if e.outcome = 'disputed' then
      update payments.stripe_events s set booking_id = b.id where s.id = e.id;
      continue;
    elsif e.type <> 'charge.refunded' then
      paid := greatest(paid, e.amount);
      if b.status = 'confirmed' then
        new_outcome := 'confirmed';
      elsif b.status = 'pending_payment'
            and e.amount is not distinct from b.amount_total
            and e.currency is not distinct from b.currency then
        new_outcome := 'confirmed';
        update public.bookings s set status = 'confirmed' where s.id = b.id;
        b.status := 'confirmed';
      elsif b.status = 'pending_payment' then
        new_outcome := 'amount_mismatch';
      else
        new_outcome := 'stale';
      end if;
      note := format('matched late to booking %s (%s): %s', b.id, b.status,
                     case new_outcome
                       when 'confirmed' then 'the booking''s payment'
                       when 'amount_mismatch' then format('expected %s %s, received %s %s',
                         b.amount_total, b.currency, coalesce(e.amount::text, '(none)'),
                         coalesce(e.currency, '(none)'))
                       else 'a payment never brings the booking back' end);
    else
      -- Stripe's own flag, or the cumulative refund reaching the charge (or the payment).
      in_full := case when jsonb_typeof(e.payload #> '{data,object,refunded}') = 'boolean'
                        then (e.payload #>> '{data,object,refunded}')::boolean
                      else false end
                 or e.amount >= coalesce(
                      case when jsonb_typeof(e.payload #> '{data,object,amount}') = 'number'
                             then (e.payload #>> '{data,object,amount}')::numeric::bigint end,
                      paid, b.amount_total);
      refunded := greatest(refunded, e.amount);
      refunded_full := refunded_full or in_full;
      if in_full then
        new_outcome := 'refunded';
        note := format('refunded before its payment was matched (%s %s): booking %s was %s',
                       e.amount, e.currency, b.id, b.status);
        if b.status in ('confirmed', 'pending_payment') then
          update public.bookings s set status = 'refunded' where s.id = b.id;
          b.status := 'refunded';
        end if;
      else
        new_outcome := 'partial_refund';
        note := format('partial refund (%s %s refunded so far) made before its payment was '
                       || 'matched: booking %s stays %s', e.amount, e.currency, b.id, b.status);
      end if;
    end if;
    update payments.stripe_events s
       set outcome = new_outcome, booking_id = b.id, error = note
     where s.id = e.id;
    money_events := money_events + 1;
    live := coalesce(live, e.livemode);
    matched := matched || jsonb_build_array(jsonb_build_object(
      'event_id', e.id, 'type', e.type, 'created', e.created,
      'amount', e.amount, 'outcome', new_outcome));
  end loop;

  if money_events > 0 then
    -- The event being recorded right now, if one bound the PaymentIntent (its row is provisional).
    select s.id into binding_event from payments.stripe_events s
     where s.payment_intent_id = match_unmatched_stripe_events.payment_intent_id
       and s.processed_at is null
     limit 1;
    insert into guestly.admin_alerts (booking_id, kind, details)
    values (b.id, 'money_matched_late', jsonb_strip_nulls(jsonb_build_object(
      'payment_intent_id', match_unmatched_stripe_events.payment_intent_id,
      'livemode', live,
      'amount', coalesce(paid, (select s.amount from payments.stripe_events s
                                 where s.id = binding_event), b.amount_total),
      'currency', b.currency,
      'refunded_amount', refunded,
      'refunded_in_full', refunded_full,
      'booking_status_before', status_before,
      'booking_status', b.status,
      'matched_by', coalesce(binding_event, 'booking_update'),
      'events', matched)));
    perform guestly.invoke_function('notify-admin', '{}'::jsonb);
  end if;
  return money_events;
end;
$$;

create function payments.tg_bookings__match_unmatched_stripe_events() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  perform payments.match_unmatched_stripe_events(new.id, new.stripe_payment_intent_id);
  return null;
end;
$$;

-- A booking gets a PaymentIntent: whatever Stripe reported of it before is applied now.
create trigger tg_bookings__match_unmatched_stripe_events
  after insert or update of stripe_payment_intent_id on public.bookings
  for each row
  when (new.stripe_payment_intent_id is not null)
  execute function payments.tg_bookings__match_unmatched_stripe_events();
