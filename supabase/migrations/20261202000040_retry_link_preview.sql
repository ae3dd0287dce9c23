-- The retry link's confirmation page (GET) shows what the retry would do, and must change
-- nothing: mail scanners open links. This read-only function answers what
-- guestly.redeem_retry_link would answer, without marking the link used or starting anything.
-- Only the POST of the page's button calls redeem_retry_link.
create function guestly.preview_retry_link(link_id uuid, booking_id uuid) returns jsonb
  language plpgsql
  stable
  security definer
  set search_path = ''
  as $$
declare
  used timestamptz;
  b public.bookings;
begin
  select u.used_at into used from guestly.used_retry_links u
   where u.link_id = preview_retry_link.link_id;
  if found then
    return jsonb_build_object('ok', false, 'reason', 'link_used', 'used_at', used);
  end if;
  select * into b from public.bookings where id = preview_retry_link.booking_id;
  if not found then
    return jsonb_build_object('ok', false, 'reason', 'not_found');
  end if;
  -- The same checks, in the same order, as guestly.begin_manual_retry.
  if b.status = 'pending_payment' then
    return jsonb_build_object('ok', false, 'reason', 'not_paid');
  end if;
  if b.guestly_sync_status = 'synced' and b.guestly_synced_status is not distinct from b.status then
    return jsonb_build_object('ok', false, 'reason', 'already_synced',
                              'reservation_id', b.guestly_reservation_id);
  end if;
  return jsonb_build_object(
    'ok', true,
    'booking_status', b.status,
    'sync_status', b.guestly_sync_status,
    'last_error', b.guestly_sync_error,
    'attempts', coalesce(b.guestly_sync_attempts, 0),
    'next_attempt_at', b.guestly_sync_next_attempt_at,
    'gave_up_at', b.guestly_sync_gave_up_at);
end;
$$;

revoke all on function guestly.preview_retry_link(uuid, uuid) from public, anon, authenticated;
grant execute on function guestly.preview_retry_link(uuid, uuid) to service_role;
