-- A real change of what Guestly holds (dates, listing, guests, guest details) on a paid booking
-- follows it to Guestly through the same path as a status change: the trigger starts a sync
-- episode and calls guestly-sync through pg_net; the sweep is the safety net. An UPDATE that
-- changes none of these columns never runs the trigger function (the column list and WHEN clause
-- decide inside the executor), so its cost stays that of the UPDATE.
--
-- A change written together with the matching synced state (guestly-webhook applying what
-- Guestly itself changed) is not due: nothing is sent back.

-- The start of an episode, shared by the status and the content trigger.
create function guestly.start_sync_episode(b public.bookings) returns public.bookings
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  b.guestly_sync_pending_since := case when b.guestly_sync_status = 'pending'
                                       then coalesce(b.guestly_sync_pending_since, now()) else now() end;
  b.guestly_sync_status := 'pending';
  b.guestly_sync_error := null;
  b.guestly_sync_gave_up_at := null;
  b.guestly_sync_episode_base := coalesce(b.guestly_sync_attempts, 0);
  b.guestly_sync_episode_started_at := now();
  -- A forced create (--ignore-calendar) is for the operator's episode only, never a later change.
  b.guestly_ignore_calendar := false;
  -- Safety net: pg_net's queue is unlogged and never retried; the sweep comes back if needed.
  b.guestly_sync_next_attempt_at := now() + interval '2 minutes';
  perform guestly.invoke_function('guestly-sync', jsonb_build_object('bookingId', b.id));
  return b;
end;
$$;

-- Same trigger function as before (20261126000002), now through start_sync_episode, and quiet
-- when the writer also recorded that Guestly already holds the new status (no echo).
create or replace function public.tg_bookings__enqueue_guestly_sync() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  if new.guestly_sync_status = 'synced' and new.guestly_synced_status is not distinct from new.status
     and not guestly.content_change_due(new) then
    return new;
  end if;
  if new.status in ('cancelled', 'refunded') and new.guestly_reservation_id is null
     and coalesce(new.guestly_sync_attempts, 0) = 0
     -- No lease, not even an abandoned one: its holder may have created the reservation.
     and new.guestly_sync_lease_id is null
     and not new.guestly_sync_lookup_needed then
    -- Never reached Guestly: nothing to cancel there, and nothing is created just to cancel it.
    new.guestly_sync_status := 'synced';
    new.guestly_synced_status := new.status;
    new.guestly_sync_next_attempt_at := null;
    return new;
  end if;
  return guestly.start_sync_episode(new);
end;
$$;

create function public.tg_bookings__enqueue_guestly_change() returns trigger
  language plpgsql
  security definer
  set search_path = ''
  as $$
begin
  if new.guestly_reservation_id is null then
    -- Not in Guestly yet: the create carries the new content. A create that failed for good may
    -- succeed with it (an email Guestly refused, fixed; other dates after a double booking).
    if new.guestly_sync_status = 'failed' and new.guestly_sync_gave_up_at is not null then
      return guestly.start_sync_episode(new);
    end if;
    return new;
  end if;
  if guestly.content_change_due(new) then
    return guestly.start_sync_episode(new);
  end if;
  return new;
end;
$$;

-- Sorts before tg_bookings__track_guestly_pending and the episode triggers (BEFORE triggers fire
-- in name order). A status change fires the status trigger instead, whose round sees the rest.
create trigger tg_bookings__enqueue_guestly_change
  before update of check_in, check_out, guests_count, property_id, guest_first_name,
    guest_last_name, guest_email, guest_phone on public.bookings
  for each row
  when (old.status = 'confirmed' and new.status = 'confirmed'
        and (old.check_in, old.check_out, old.guests_count, old.property_id, old.guest_first_name,
             old.guest_last_name, old.guest_email, old.guest_phone)
            is distinct from
            (new.check_in, new.check_out, new.guests_count, new.property_id, new.guest_first_name,
             new.guest_last_name, new.guest_email, new.guest_phone))
  execute function public.tg_bookings__enqueue_guestly_change();

revoke all on function guestly.start_sync_episode(public.bookings) from public, anon, authenticated, service_role;
revoke all on function public.tg_bookings__enqueue_guestly_change()
  from public, anon, authenticated, service_role;
