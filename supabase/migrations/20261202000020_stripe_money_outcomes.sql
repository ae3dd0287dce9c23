-- Money nobody applied reaches an admin: the alert kinds the Stripe webhook writes, and the ledger
-- outcomes that name each money case (instead of `stale` / `ignored` / `confirmed` with a note).
insert into guestly.alert_kinds (kind, description) values
  ('payment_unmatched',
   'Stripe reported money received (or a free Checkout) that names no booking we have, after the grace window.'),
  ('payment_for_cancelled_booking',
   'Stripe reported a payment for a booking that is cancelled or refunded: the money was not applied.'),
  ('duplicate_payment',
   'Stripe reported a second, different payment for a booking that was already paid.'),
  ('payment_disputed',
   'A guest disputed a charge (charge.dispute.created): evidence is due before the deadline.'),
  ('partial_refund',
   'A charge was partly refunded; the booking stays confirmed and Guestly is not changed.');

alter table payments.stripe_events
  drop constraint stripe_events_outcome_check,
  add constraint stripe_events_outcome_check
    check (outcome in ('confirmed', 'refunded', 'payment_failed', 'ignored', 'unmatched',
                       'amount_mismatch', 'stale', 'duplicate_payment',
                       'payment_for_cancelled_booking', 'partial_refund', 'disputed'));

-- The operator's first look (stripe_events_needing_attention) reads these outcomes.
drop index payments.stripe_events_attention_idx;
create index stripe_events_attention_idx on payments.stripe_events (received_at)
  where outcome in ('unmatched', 'amount_mismatch', 'duplicate_payment',
                    'payment_for_cancelled_booking', 'partial_refund', 'disputed');
