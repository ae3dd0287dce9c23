-- Operator view public.stripe_events_needing_attention: the Stripe events a human should look
-- at. Concern: money, seen by an operator. Depends on 20261126000001 and 20261126000004.

-- ---- stripe_events_needing_attention

-- The operator's view of Stripe events that need a person, with the money outcomes
-- (20261126000004). An `unmatched` payment or refund is listed until it is matched: when a
-- booking gets its PaymentIntent, payments.match_unmatched_stripe_events applies it and it takes
-- the outcome it would have had (a refund that then undid a stay stays listed: `refunded`,
-- "refunded before its payment was matched"). What is not listed:
--   * an `unmatched` payment failure (no money arrived; the guest may try again);
--   * a `stale` event for a cancelled booking that is the booking's own payment arriving late.
-- Rows written before that migration keep their old outcomes: a second payment was `confirmed`
-- with a note ("booking already confirmed by …"; a free Checkout's note is not one), a payment
-- for a cancelled booking `stale` with another PaymentIntent.
create view public.stripe_events_needing_attention
  with (security_invoker = true)
  as
select e.id as event_id,
       e.type,
       e.outcome,
       e.booking_id,
       e.payment_intent_id,
       e.amount,
       e.currency,
       e.error,
       e.created as event_created_at,
       e.received_at
  from payments.stripe_events e
  left join public.bookings b on b.id = e.booking_id
 where (e.outcome = 'unmatched'
        and e.type not in ('payment_intent.payment_failed', 'checkout.session.async_payment_failed'))
    or (e.outcome = 'refunded' and e.error like 'refunded before its payment was matched%')
    or e.outcome in ('amount_mismatch', 'duplicate_payment', 'payment_for_cancelled_booking',
                     'partial_refund', 'disputed')
    or (e.outcome = 'stale' and b.status = 'cancelled'
        and e.payment_intent_id is distinct from b.stripe_payment_intent_id)
    or (e.outcome = 'confirmed' and e.error like 'booking already confirmed by %');
