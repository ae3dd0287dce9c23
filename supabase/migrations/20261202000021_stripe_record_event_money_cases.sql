-- payments.record_stripe_event, with every money case answered (issue 11, part 4):
--   * a payment (or a free Checkout) that matches no booking is deferred during a grace window
--     after event.created (the booking row may not have committed yet): nothing is recorded and
--     the webhook answers 503, so Stripe delivers it again; after the window it is recorded as
--     `unmatched` with a `payment_unmatched` alert;
--   * a payment for a cancelled/refunded booking → `payment_for_cancelled_booking` + alert;
--   * a second, different payment for a confirmed booking → `duplicate_payment` + alert;
--   * charge.dispute.created → `disputed` + a `payment_disputed` alert (amount, reason);
--   * a partial refund → `partial_refund` + alert; the booking stays as it is;
--   * a Checkout session with payment_status `no_payment_required` (100 % coupon) confirms.
-- One alert per payment and kind: the Checkout session event and the PaymentIntent event of one
-- payment share the PaymentIntent id, and the second one writes no second alert. A repeated event
-- id is still a no-op, so a redelivery never doubles an alert.
--
-- The signature gains `details` (what only the alert shows: dispute reason, charge amount, the
-- booking reference as sent) and `unmatched_grace_seconds`. The old 11-argument function stays,
-- as a wrapper without a grace window, for a stripe-webhook deployed before this migration.

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
    end if;

  elsif money_in then
    if b.status = 'confirmed' then
      result_outcome := 'confirmed';
      if record_stripe_event.action = 'paid'
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
    elsif record_stripe_event.action = 'no_payment_required' then
      -- A 100 % discount: Stripe collected nothing and says nothing is owed. No amount to check.
      result_outcome := 'confirmed';
      result_error := 'no payment required (Checkout discount covers the whole amount)';
      new_status := 'confirmed';
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

-- The previous signature, for a stripe-webhook deployed before this migration: no details and no
-- grace window (it recorded unmatched payments at once, as before). Remove once every deployment
-- calls the 13-argument function.
create or replace function payments.record_stripe_event(
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

revoke all on function payments.record_stripe_event(
  text, text, timestamptz, boolean, text, uuid, text, bigint, text, boolean, jsonb, jsonb, int
) from public, anon, authenticated;
grant execute on function payments.record_stripe_event(
  text, text, timestamptz, boolean, text, uuid, text, bigint, text, boolean, jsonb, jsonb, int
) to service_role;
