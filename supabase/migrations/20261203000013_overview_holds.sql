-- The operator's overview counts holds too (GUESTLY_HOLD_MINUTES): bookings waiting for payment
-- whose hold is being placed, is held, or was refused because the nights are taken. New columns
-- at the end (create or replace keeps the rest as 20261202000075 defined it).
create or replace view public.guestly_sync_overview
  with (security_invoker = true)
  as
select
  count(*) filter (where b.status <> 'pending_payment' and b.guestly_sync_status = 'pending')
    as pending,
  count(*) filter (where b.status <> 'pending_payment' and b.guestly_sync_status = 'synced')
    as synced,
  count(*) filter (where b.status <> 'pending_payment' and b.guestly_sync_status = 'failed')
    as failed,
  count(*) filter (where b.status <> 'pending_payment' and b.guestly_sync_status = 'failed'
                     and b.guestly_sync_gave_up_at is not null) as failed_final,
  count(*) filter (where b.status = 'pending_payment') as awaiting_payment,
  min(coalesce(b.guestly_sync_pending_since, b.updated_at))
    filter (where b.status <> 'pending_payment' and b.guestly_sync_status = 'pending')
    as oldest_pending_since,
  (select count(*) from guestly.admin_alerts a where a.sent_at is not null) as alerts_sent,
  (select count(*) from guestly.admin_alerts a where a.sent_at is null and a.last_error is null)
    as alerts_waiting,
  (select count(*) from guestly.admin_alerts a where a.sent_at is null and a.last_error is not null)
    as alerts_failing,
  (select min(a.created_at) from guestly.admin_alerts a where a.sent_at is null)
    as oldest_unsent_alert_at,
  (select a.last_error from guestly.admin_alerts a
    where a.sent_at is null and a.last_error is not null
    order by a.next_attempt_at desc nulls last limit 1) as last_alert_error,
  now() as as_of,
  count(*) filter (where b.status <> 'pending_payment' and b.guestly_sync_status = 'failed'
                     and b.guestly_sync_error_kind = 'conflict') as failed_conflict,
  -- Money Stripe took or gave back that Guestly does not show yet, for bookings in Guestly (a
  -- booking not created there yet records its money after the create).
  (select count(*) from guestly.payments m join public.bookings r on r.id = m.booking_id
    where m.status = 'pending' and r.guestly_reservation_id is not null) as payments_pending,
  (select count(*) from guestly.payments m where m.status = 'recorded') as payments_recorded,
  count(*) filter (where b.status = 'pending_payment' and b.guestly_hold_status = 'placing')
    as holds_placing,
  count(*) filter (where b.status = 'pending_payment' and b.guestly_hold_status = 'held')
    as holds_held,
  count(*) filter (where b.status = 'pending_payment' and b.guestly_hold_status = 'unavailable')
    as holds_unavailable
from public.bookings b;
