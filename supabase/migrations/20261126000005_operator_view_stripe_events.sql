-- The operator's view of Stripe events that need a human — money received but not applied:
-- payments for bookings we could not find (unmatched), payments whose amount or currency
-- differ from the booking's (amount_mismatch), payments for a booking that is cancelled (stale;
-- a stale payment for a refunded booking is only a late event), and a second payment for a
-- booking already paid (confirmed, with a note). All are answered 200 so Stripe stops retrying; this is where they stay visible
-- (`npm run sync:status`).
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
 where e.outcome in ('unmatched', 'amount_mismatch')
    or (e.outcome = 'stale' and b.status = 'cancelled')
    or (e.outcome = 'confirmed' and e.error is not null);

revoke all on public.stripe_events_needing_attention from public, anon, authenticated;
grant select on public.stripe_events_needing_attention to service_role;
