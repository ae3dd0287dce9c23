-- Grants and cron jobs: every revoke/grant on the objects above and every pg_cron job, in one
-- place after all objects exist (a bulk `grant … on all functions in schema` only reaches the
-- functions that exist when it runs; the revokes after it narrow it down again). Sections follow
-- the concerns. Concern: who may call what, and what runs on its own. Depends on every
-- migration before it.

-- ---- Booking schema

revoke all on function public.tg_bookings__set_updated_at() from public, anon, authenticated, service_role;

revoke all on public.properties, public.bookings from anon, authenticated;

-- ---- Guestly sync: schema, tables, functions; the sync sweep job

revoke all on schema guestly from public;

grant usage on schema guestly to service_role;

revoke all on all tables in schema guestly from public, anon, authenticated;

grant select on guestly.sync_attempts, guestly.admin_alerts to service_role;

revoke all on all functions in schema guestly from public, anon, authenticated;

grant execute on all functions in schema guestly to service_role;

revoke all on function public.tg_bookings__enqueue_guestly_sync() from public, anon, authenticated, service_role;

-- Idempotent by job name: cron.schedule replaces an existing job of the same name.
select cron.schedule('guestly-sync-sweep', '* * * * *', 'select guestly.sweep_due_syncs()');

-- ---- Guestly sync: confirm_lease

revoke all on function guestly.confirm_lease(uuid, uuid, int) from public, anon, authenticated;

grant execute on function guestly.confirm_lease(uuid, uuid, int) to service_role;

-- ---- Guestly sync: note_create_key

revoke all on function guestly.note_create_key(uuid, uuid, jsonb) from public, anon, authenticated;
grant execute on function guestly.note_create_key(uuid, uuid, jsonb) to service_role;

-- ---- Guestly sync: invocation log

revoke all on guestly.function_invocations from public, anon, authenticated;

grant select on guestly.function_invocations to service_role;

revoke all on function guestly.invoke_function(text, jsonb) from public, anon, authenticated;

grant execute on function guestly.invoke_function(text, jsonb) to service_role;

-- ---- Guestly sync: function state

revoke all on guestly.function_state from public, anon, authenticated;

grant select on guestly.function_state to service_role;

revoke all on function guestly.report_function_state(text, boolean, boolean, jsonb)
  from public, anon, authenticated;

grant execute on function guestly.report_function_state(text, boolean, boolean, jsonb) to service_role;

-- ---- Guestly sync: manual retry

revoke all on function guestly.begin_manual_retry(uuid, boolean) from public, anon, authenticated;

grant execute on function guestly.begin_manual_retry(uuid, boolean) to service_role;

revoke all on function guestly.tg_bookings__clear_ignore_calendar()
  from public, anon, authenticated, service_role;

revoke all on function public.guestly_retry_sync(uuid, boolean) from public, anon, authenticated;

grant execute on function public.guestly_retry_sync(uuid, boolean) to service_role;

-- ---- Guestly sync: desired state

revoke all on function guestly.desired_state(public.bookings) from public, anon, authenticated;

grant execute on function guestly.desired_state(public.bookings) to service_role;

revoke all on function guestly.content_change_due(public.bookings) from public, anon, authenticated;

grant execute on function guestly.content_change_due(public.bookings) to service_role;

-- ---- Guestly sync: record_success

revoke all on function guestly.record_success(uuid, uuid, text, text, jsonb, boolean)
  from public, anon, authenticated;

grant execute on function guestly.record_success(uuid, uuid, text, text, jsonb, boolean)
  to service_role;

revoke all on function guestly.reference_due(public.bookings) from public, anon, authenticated;

grant execute on function guestly.reference_due(public.bookings) to service_role;

-- ---- Guestly sync: episodes and enqueue triggers

revoke all on function guestly.start_sync_episode(public.bookings) from public, anon, authenticated, service_role;
revoke all on function guestly.save_sync_episode(public.bookings) from public, anon, authenticated, service_role;

revoke all on function guestly.manual_retry_refusal(public.bookings) from public, anon, authenticated, service_role;

revoke all on function public.tg_bookings__enqueue_guestly_change()
  from public, anon, authenticated, service_role;

-- ---- Guestly sync: record_failure

revoke all on function guestly.record_failure(uuid, uuid, text, boolean, int, int, timestamptz, jsonb, text, text, jsonb, jsonb)
  from public, anon, authenticated;

grant execute on function guestly.record_failure(uuid, uuid, text, boolean, int, int, timestamptz, jsonb, text, text, jsonb, jsonb)
  to service_role;

-- ---- Request limiter

revoke all on function guestly.reserve_request_slot(int, int, int, int, text)
  from public, anon, authenticated;

grant execute on function guestly.reserve_request_slot(int, int, int, int, text) to service_role;

-- ---- Stripe ledger

revoke all on schema payments from public;

grant usage on schema payments to service_role;

revoke all on payments.stripe_events from public, anon, authenticated;

grant select on payments.stripe_events to service_role;

revoke all on function payments.record_stripe_event(
  text, text, timestamptz, boolean, text, uuid, text, bigint, text, boolean, jsonb
) from public, anon, authenticated;

grant execute on function payments.record_stripe_event(
  text, text, timestamptz, boolean, text, uuid, text, bigint, text, boolean, jsonb
) to service_role;

-- ---- Stripe ledger: record_stripe_event (13 arguments)

revoke all on function payments.record_stripe_event(
  text, text, timestamptz, boolean, text, uuid, text, bigint, text, boolean, jsonb, jsonb, int
) from public, anon, authenticated;

grant execute on function payments.record_stripe_event(
  text, text, timestamptz, boolean, text, uuid, text, bigint, text, boolean, jsonb, jsonb, int
) to service_role;

-- ---- Money still to record in Guestly

revoke all on guestly.payments from public, anon, authenticated;

grant select on guestly.payments to service_role;

revoke all on function guestly.payment_record_due(public.bookings) from public, anon, authenticated;

grant execute on function guestly.payment_record_due(public.bookings) to service_role;

revoke all on function guestly.money_rows(public.bookings) from public, anon, authenticated;

grant execute on function guestly.money_rows(public.bookings) to service_role;

revoke all on function payments.tg_stripe_events__guestly_payments()
  from public, anon, authenticated, service_role;

revoke all on function payments.add_guestly_refund(uuid, text, bigint, text, text)
  from public, anon, authenticated, service_role;

revoke all on function payments.match_unmatched_stripe_events(uuid, text)
  from public, anon, authenticated, service_role;

revoke all on function payments.tg_bookings__match_unmatched_stripe_events()
  from public, anon, authenticated, service_role;

revoke all on function guestly.record_payment_outcome(uuid, uuid, uuid, text, text, text)
  from public, anon, authenticated;

grant execute on function guestly.record_payment_outcome(uuid, uuid, uuid, text, text, text)
  to service_role;

revoke all on function guestly.tg_bookings__payments_follow_reservation()
  from public, anon, authenticated, service_role;

revoke all on function guestly.money_to_record(uuid) from public, anon, authenticated;

-- ---- Alert kinds

revoke all on guestly.alert_kinds from public, anon, authenticated;

grant select on guestly.alert_kinds to service_role;

-- ---- Admin alerts: outbox, retry links, views; the notify-admin job

revoke all on guestly.used_retry_links from public, anon, authenticated, service_role;

revoke all on function guestly.tg_admin_alerts__stamp_last_attempt()
  from public, anon, authenticated, service_role;

revoke all on function public.tg_bookings__track_guestly_pending()
  from public, anon, authenticated, service_role;

revoke all on function guestly.claim_due_alerts(int, int, timestamptz),
  guestly.alert_email_context(uuid, int),
  guestly.mark_alert_sent(uuid, text),
  guestly.mark_alert_failed(uuid, text, timestamptz),
  guestly.wake_notify_admin(timestamptz),
  guestly.redeem_retry_link(uuid, uuid)
  from public, anon, authenticated;

grant execute on function guestly.claim_due_alerts(int, int, timestamptz),
  guestly.alert_email_context(uuid, int),
  guestly.mark_alert_sent(uuid, text),
  guestly.mark_alert_failed(uuid, text, timestamptz),
  guestly.wake_notify_admin(timestamptz),
  guestly.redeem_retry_link(uuid, uuid)
  to service_role;

revoke all on public.guestly_sync_overview, public.guestly_sync_failures
  from public, anon, authenticated;

grant select on public.guestly_sync_overview, public.guestly_sync_failures to service_role;

-- Idempotent by job name: cron.schedule replaces an existing job of the same name.
select cron.schedule('guestly-notify-admin-sweep', '* * * * *', 'select guestly.wake_notify_admin()');

-- ---- Admin alerts: undelivered alerts

revoke all on function guestly.alert_delivery_problem() from public, anon, authenticated;

grant execute on function guestly.alert_delivery_problem() to service_role;

revoke all on public.guestly_undelivered_alerts from public, anon, authenticated;

grant select on public.guestly_undelivered_alerts to service_role;

-- ---- Admin alerts: the stall detector and its job

revoke all on function public.tg_bookings__guestly_sync_episode()
  from public, anon, authenticated, service_role;

revoke all on function guestly.stalled_syncs(timestamptz, int, boolean),
  guestly.detect_stalled_syncs(timestamptz, int)
  from public, anon, authenticated;

grant execute on function guestly.stalled_syncs(timestamptz, int, boolean),
  guestly.detect_stalled_syncs(timestamptz, int)
  to service_role;

revoke all on public.guestly_sync_stalled from public, anon, authenticated;

grant select on public.guestly_sync_stalled to service_role;

-- Next to guestly-sync-sweep rather than inside it: the sweep's body belongs to the retry logic.
select cron.schedule('guestly-sync-stall-check', '* * * * *', 'select guestly.detect_stalled_syncs()');

-- ---- Admin alerts: retry link preview

revoke all on function guestly.preview_retry_link(uuid, uuid) from public, anon, authenticated;

grant execute on function guestly.preview_retry_link(uuid, uuid) to service_role;

-- ---- Holds

revoke all on function guestly.hold_minutes() from public, anon, authenticated;

grant execute on function guestly.hold_minutes() to service_role;

revoke all on function guestly.hold_deadline(public.bookings) from public, anon, authenticated;

grant execute on function guestly.hold_deadline(public.bookings) to service_role;

revoke all on function guestly.hold_state(uuid) from public, anon, authenticated;

grant execute on function guestly.hold_state(uuid) to service_role;

revoke all on function public.tg_bookings__request_guestly_hold()
  from public, anon, authenticated, service_role;

revoke all on function public.tg_bookings__release_unplaced_hold()
  from public, anon, authenticated, service_role;

revoke all on function public.tg_bookings__alert_paid_after_hold_cancelled()
  from public, anon, authenticated, service_role;

-- ---- Holds: hold failure

revoke all on function guestly.record_hold_failure(uuid, uuid, text, boolean, text, timestamptz)
  from public, anon, authenticated;

grant execute on function guestly.record_hold_failure(uuid, uuid, text, boolean, text, timestamptz)
  to service_role;

-- ---- Holds: release and expiry; the expiry job

revoke all on function guestly.release_hold(uuid) from public, anon, authenticated;

grant execute on function guestly.release_hold(uuid) to service_role;

revoke all on function payments.tg_stripe_events__release_guestly_hold()
  from public, anon, authenticated, service_role;

revoke all on function guestly.expire_holds(timestamptz) from public, anon, authenticated;

grant execute on function guestly.expire_holds(timestamptz) to service_role;

-- Idempotent by job name: cron.schedule replaces an existing job of the same name.
select cron.schedule('guestly-hold-expiry', '* * * * *', 'select guestly.expire_holds()');

-- ---- Guestly events: ledger; the webhook sweep job

revoke all on schema guestly_events from public;

grant usage on schema guestly_events to service_role;

revoke all on guestly_events.events from public, anon, authenticated;

grant select on guestly_events.events to service_role;

revoke all on all functions in schema guestly_events from public, anon, authenticated;

grant execute on all functions in schema guestly_events to service_role;

-- Idempotent by job name.
select cron.schedule('guestly-webhook-sweep', '* * * * *',
                     'select guestly_events.sweep_unapplied_events()');

-- ---- Guestly events: apply_guestly_change

revoke all on public.guestly_changes_from_guestly from public, anon, authenticated;

grant select on public.guestly_changes_from_guestly to service_role;

-- ---- Reconciliation: runs and drift items

revoke all on schema guestly_reconcile from public;

grant usage on schema guestly_reconcile to service_role;

revoke all on guestly_reconcile.runs, guestly_reconcile.drift_items
  from public, anon, authenticated;

grant select on guestly_reconcile.runs, guestly_reconcile.drift_items to service_role;

revoke all on all functions in schema guestly_reconcile from public, anon, authenticated;

grant execute on all functions in schema guestly_reconcile to service_role;

-- ---- Reconciliation: finish_run

revoke all on function guestly_reconcile.finish_run(uuid, int, int, int, text)
  from public, anon, authenticated;

grant execute on function guestly_reconcile.finish_run(uuid, int, int, int, text) to service_role;

-- ---- Reconciliation: the daily job

-- 03:17 UTC: a quiet hour for the website, and off the full hour other jobs like.

revoke all on function guestly_reconcile.request_run(boolean) from public, anon, authenticated;

grant execute on function guestly_reconcile.request_run(boolean) to service_role;

-- Idempotent by job name.
select cron.schedule('guestly-reconcile-daily', '17 3 * * *',
                     'select guestly_reconcile.request_run(true)');

-- ---- Reconciliation: a run that never finished

-- Every 5 minutes: a run dead for 10 minutes is alerted at most 15 minutes after it began
-- (abandon_dead_runs says why 10). Execute on it: the schema-wide grant above.

select cron.schedule('guestly-reconcile-abandoned-check', '*/5 * * * *',
                     'select guestly_reconcile.abandon_dead_runs()');

-- ---- Holds: a hold the host cancelled

revoke all on function guestly.forget_cancelled_hold(uuid, uuid, text, text)
  from public, anon, authenticated;

grant execute on function guestly.forget_cancelled_hold(uuid, uuid, text, text) to service_role;

-- ---- Reconciliation: forget_lapsed_hold

revoke all on function guestly.forget_lapsed_hold(uuid, uuid, text) from public, anon, authenticated;

grant execute on function guestly.forget_lapsed_hold(uuid, uuid, text) to service_role;

-- ---- Operator view: Stripe events needing attention

revoke all on public.stripe_events_needing_attention from public, anon, authenticated;

grant select on public.stripe_events_needing_attention to service_role;
