-- The kinds of admin alert, as rows instead of a check constraint: each concern's migration adds
-- the kinds it writes (one insert), so no migration has to restate (and risk dropping) the list.
create table guestly.alert_kinds (
  kind text primary key,
  description text not null
);
alter table guestly.alert_kinds enable row level security;
revoke all on guestly.alert_kinds from public, anon, authenticated;
grant select on guestly.alert_kinds to service_role;

insert into guestly.alert_kinds (kind, description) values
  ('sync_failed', 'A paid booking''s Guestly sync failed for good (permanent error or attempts used up).'),
  ('payment_mismatch', 'Stripe reported a payment whose amount or currency differs from the booking.');

alter table guestly.admin_alerts
  drop constraint admin_alerts_kind_check,
  add constraint admin_alerts_kind_fkey foreign key (kind) references guestly.alert_kinds (kind);
