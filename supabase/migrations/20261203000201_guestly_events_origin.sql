-- A change made in Guestly whose webhook never arrived is found by the reconciliation and
-- applied exactly as the webhook would have been (guestly_events.apply_guestly_change). It is
-- recorded in the same ledger, marked by where it came from, so the events view, sync:status and
-- the attempt history show it next to the delivered ones.

alter table guestly_events.events
  add column origin text not null default 'webhook'
    constraint events_origin_check check (origin in ('webhook', 'reconciliation'));

-- Same view as before (20261202000101), with where each event came from.
create or replace view public.guestly_changes_from_guestly
  with (security_invoker = true)
  as
select
  e.received_at,
  e.event_type,
  e.reservation_id,
  e.published_at,
  e.sub_types,
  e.outcome,
  e.reason,
  e.booking_id,
  e.changes,
  e.applied_at,
  e.apply_attempts,
  e.last_error,
  e.message_id,
  e.origin
from guestly_events.events e;

revoke all on public.guestly_changes_from_guestly from public, anon, authenticated;
grant select on public.guestly_changes_from_guestly to service_role;
