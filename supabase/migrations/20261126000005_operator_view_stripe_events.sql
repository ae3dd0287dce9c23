-- The operator's view of Stripe events that need a human: payments for bookings we could not
-- find (unmatched) and payments whose amount or currency differ from the booking's. Both are
-- answered 200 so Stripe stops retrying; this is where they stay visible (`npm run sync:status`).
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
 where e.outcome in ('unmatched', 'amount_mismatch');

revoke all on public.stripe_events_needing_attention from public, anon, authenticated;
grant select on public.stripe_events_needing_attention to service_role;
