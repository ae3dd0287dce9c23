-- An alert that follows a retry started from an email link gets a one-click link again.
--
-- 20261126000004 left the link out of such alerts: opening the link (GET) started the retry, so a
-- mail scanner that opens every link would retry, fail, get a new email with a new link, open it,
-- … forever. Since 20261202000040 a GET only shows a confirmation page and only its button (a POST
-- carrying the token in its body) starts a retry; scanners do not submit forms, so the loop cannot
-- start, and a person whose retry failed again deserves the same one-click link as the first time.
-- Alerts written before this migration keep `details.retry_link = false` and render as before
-- (an alert's email must stay byte-for-byte the same on every resend).
create or replace function guestly.tg_admin_alerts__stamp_last_attempt() returns trigger
  language plpgsql
  set search_path = ''
  as $$
begin
  if new.kind = 'sync_failed' and new.booking_id is not null
     and not (new.details ? 'last_attempt_id') then
    new.details := new.details || jsonb_build_object('last_attempt_id',
      (select max(s.id) from guestly.sync_attempts s where s.booking_id = new.booking_id));
  end if;
  return new;
end;
$$;

revoke all on function guestly.tg_admin_alerts__stamp_last_attempt()
  from public, anon, authenticated, service_role;
