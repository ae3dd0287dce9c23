-- A failure is judged against what the booking asked for when the round began. If the booking
-- changed meanwhile (the guest moved again to free dates, an email was fixed, a cancellation),
-- the failure is not final and writes no alert: the booking is due again at once with its latest
-- state. And content that reached Guestly before the failure is recorded. Three more parameters,
-- so a new signature: the old one goes (two overloads would make every call ambiguous).
drop function guestly.record_failure(uuid, uuid, text, boolean, int, int, timestamptz, jsonb, text);
create function guestly.record_failure(
  booking_id uuid,
  lease_id uuid,
  error text,
  permanent boolean,
  max_attempts int default 12,
  attempts_per_round int default 4,
  retry_not_before timestamptz default null,
  alert_details jsonb default '{}'::jsonb,
  error_kind text default null,
  claimed_status text default null,
  claimed_state jsonb default null,
  synced_state jsonb default null
) returns jsonb
  language plpgsql
  security definer
  set search_path = ''
  as $$
declare
  b public.bookings;
  episode_attempts int;
  final boolean;
  round_number int;
  retry_at timestamptz;
  last_unknown_create boolean;
  kind text;
  conflict boolean;
  live boolean;
  moved_on boolean;
begin
  if record_failure.error_kind is not null
     and record_failure.error_kind not in ('conflict', 'permanent', 'transient') then
    raise exception 'error_kind must be conflict, permanent or transient, not %',
      record_failure.error_kind using errcode = 'invalid_parameter_value';
  end if;
  select * into b from public.bookings where id = record_failure.booking_id for update;
  if not found or b.guestly_sync_lease_id is distinct from record_failure.lease_id then
    return jsonb_build_object('recorded', false, 'reason', 'lease_lost');
  end if;
  -- A conflict is definite and never retried automatically, whatever the caller says.
  conflict := coalesce(record_failure.error_kind = 'conflict', false);
  episode_attempts := coalesce(b.guestly_sync_attempts, 0) - b.guestly_sync_episode_base;
  -- A round that ended on an unknown create is never the last: a phantom reservation may exist,
  -- so the next round looks it up (and the sync core creates nothing more past the limit).
  last_unknown_create := coalesce((
    select s.operation = 'create' and s.outcome = 'unknown'
      from guestly.sync_attempts s
     where s.booking_id = record_failure.booking_id
     order by s.id desc limit 1), false);
  -- Part of the content reached Guestly before the failure (a relocate before a refused date
  -- change): that part is recorded, so Guestly's state stays known.
  b.guestly_synced_state := coalesce(record_failure.synced_state, b.guestly_synced_state);
  -- The booking changed while this round ran (other dates, a fixed email, a new status): the
  -- failure is about what it no longer asks for. Not final, no alert; due again at once, so the
  -- latest state is tried.
  moved_on := (record_failure.claimed_status is not null
               and b.status is distinct from record_failure.claimed_status)
              or (record_failure.claimed_state is not null
                  and guestly.desired_state(b) is distinct from record_failure.claimed_state);
  final := not moved_on and (conflict or record_failure.permanent
           or (episode_attempts >= max_attempts and not last_unknown_create));
  kind := case when conflict then 'conflict'
               when final then 'permanent' else 'transient' end;
  round_number := greatest(1, ceil(episode_attempts::numeric / attempts_per_round)::int);
  -- 1 min after the first round, 5 min after the second, … capped at 1 h; never before
  -- retry_not_before.
  retry_at := case when final then null
                   when moved_on then greatest(now(), record_failure.retry_not_before)
                   else greatest(now() + make_interval(secs => least(60 * power(5, round_number - 1), 3600)),
                                 record_failure.retry_not_before) end;
  update public.bookings
     set guestly_sync_status = case when moved_on then 'pending' else 'failed' end,
         guestly_synced_state = b.guestly_synced_state,
         guestly_sync_error = left(record_failure.error, 2000),
         guestly_sync_error_kind = kind,
         guestly_sync_next_attempt_at = retry_at,
         guestly_sync_gave_up_at = case when final then coalesce(b.guestly_sync_gave_up_at, now()) end,
         guestly_sync_lease_id = null,
         guestly_sync_lease_until = null
   where id = record_failure.booking_id;
  if final and b.guestly_sync_gave_up_at is null then
    -- The Stripe Dashboard link of a double booking needs the payment's mode.
    select e.livemode into live from payments.stripe_events e
     where b.stripe_payment_intent_id is not null
       and e.payment_intent_id = b.stripe_payment_intent_id
     order by e.received_at desc limit 1;
    insert into guestly.admin_alerts (booking_id, kind, details)
    values (record_failure.booking_id,
            case when conflict then 'double_booking' else 'sync_failed' end,
            jsonb_build_object('error', record_failure.error,
                               'permanent', record_failure.permanent or conflict,
                               'error_kind', kind,
                               'attempts', b.guestly_sync_attempts,
                               'outcome_unknown', b.guestly_sync_lookup_needed)
            || case when conflict then jsonb_build_object('livemode', live) else '{}'::jsonb end
            || coalesce(record_failure.alert_details, '{}'::jsonb));
    perform guestly.invoke_function('notify-admin', '{}'::jsonb);
  end if;
  if moved_on then
    perform guestly.invoke_function('guestly-sync', jsonb_build_object('bookingId', b.id));
  end if;
  return jsonb_build_object('recorded', true, 'final', final, 'next_attempt_at', retry_at,
                            'error_kind', kind, 'moved_on', moved_on);
end;
$$;

revoke all on function guestly.record_failure(uuid, uuid, text, boolean, int, int, timestamptz, jsonb, text, text, jsonb, jsonb)
  from public, anon, authenticated;
grant execute on function guestly.record_failure(uuid, uuid, text, boolean, int, int, timestamptz, jsonb, text, text, jsonb, jsonb)
  to service_role;
