-- Owns the booking app's schema: properties, bookings and their indexes, updated_at, RLS.

-- ---- from 20261126000001_booking_app_schema.sql

-- The booking website's own schema. It exists before this project in a real deployment; it is a
-- migration here so a fresh database has it. Amounts are in minor units (cents), as Stripe sends.
create table public.properties (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  guestly_listing_id text not null,
  created_at timestamptz not null default now()
);


create table public.bookings (
  id uuid primary key default gen_random_uuid(),
  property_id uuid not null references public.properties (id),
  guest_first_name text not null,
  guest_last_name text not null,
  guest_email text not null,
  guest_phone text,
  check_in date not null,
  check_out date not null,
  guests_count integer not null,
  amount_total bigint not null,
  currency text not null,
  status text not null default 'pending_payment',
  stripe_payment_intent_id text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint bookings_dates_check check (check_out > check_in),
  constraint bookings_guests_count_check check (guests_count > 0),
  constraint bookings_amount_total_check check (amount_total >= 0),
  constraint bookings_currency_check check (currency ~ '^[a-z]{3}$'),
  constraint bookings_status_check
    check (status in ('pending_payment', 'confirmed', 'cancelled', 'refunded'))
);

create index bookings_property_id_idx on public.bookings (property_id);

create index bookings_stripe_payment_intent_id_idx on public.bookings (stripe_payment_intent_id);


create function public.tg_bookings__set_updated_at() returns trigger
  language plpgsql
  set search_path = ''
  as $$
begin
  new.updated_at := now();
  return new;
end;
$$;


-- Guests and the public never read these tables through the Data API: the website's server code
-- uses the service_role key. RLS with no policies plus revoked grants keeps anon/authenticated out.
alter table public.properties enable row level security;

alter table public.bookings enable row level security;

-- ---- from 20261126000002_guestly_sync.sql


alter table public.bookings
  add column guestly_reservation_id text null,
  add column guestly_sync_status text default 'pending',
  add column guestly_sync_error text,
  add column guestly_synced_at timestamptz,
  add column guestly_sync_attempts int default 0,
  -- Extra state (documented in docs/architecture.md):
  -- when the cron sweep should (re)invoke guestly-sync; null = nothing due (synced, given up, never paid)
  add column guestly_sync_next_attempt_at timestamptz,
  -- the lease of the invocation currently talking to Guestly for this booking
  add column guestly_sync_lease_id uuid,
  add column guestly_sync_lease_until timestamptz,
  -- an earlier attempt's outcome is unknown (timeout, dropped connection): look up before creating
  add column guestly_sync_lookup_needed boolean not null default false,
  -- the booking status Guestly last acknowledged, so a change updates instead of creating
  add column guestly_synced_status text,
  -- set when the current failure episode became final (alert sent once per episode)
  add column guestly_sync_gave_up_at timestamptz,
  -- guestly_sync_attempts when the current episode began (a status change or a manual retry):
  -- the attempt limit and the spacing between rounds count this episode's attempts only
  add column guestly_sync_episode_base int not null default 0,
  add constraint bookings_guestly_sync_status_check
    check (guestly_sync_status in ('pending', 'synced', 'failed'));


-- Unique: a second Guestly reservation for one booking can never be recorded.
create unique index bookings_guestly_reservation_id_idx on public.bookings (guestly_reservation_id);

create index bookings_guestly_sync_status_idx on public.bookings (guestly_sync_status);

-- The cron sweep reads only rows with due work, through this small partial index.
create index bookings_guestly_sync_due_idx on public.bookings (guestly_sync_next_attempt_at)
  where guestly_sync_next_attempt_at is not null;

-- ---- from 20261126000004_admin_alerts.sql


-- Since when a booking has been waiting for its sync. `updated_at` cannot tell: every sweep
-- and claim touches the row. Null whenever nothing is owed to Guestly.
alter table public.bookings
  add column guestly_sync_pending_since timestamptz;

-- ---- from 20261202000010_unknown_outcomes.sql

-- Unknown outcomes and the lease check before every change sent to Guestly.
--
-- A create answered by a 5xx, 408, timeout or dropped connection may have been committed by
-- Guestly (gateways answer 502/503/504 after the backend committed; a slow backend finishes
-- after we gave up). Such a booking remembers when it happened, so that no lookup runs before
-- the first request's effect could be visible (the settle delay), and so that a later cancel
-- looks for a phantom reservation even after the booking was bound to one.
alter table public.bookings
  add column guestly_sync_unknown_at timestamptz;

-- ---- from 20261202000011_property_country.sql

-- The property's country (ISO 3166-1 alpha-2, e.g. GB): the region in which a guest's phone
-- number written without a country code ("07700 900123") is read before it goes to Guestly as
-- E.164. Optional: without it such numbers travel in the reservation's notes instead.
alter table public.properties
  add column country_code text
  constraint properties_country_code_check check (country_code ~ '^[A-Z]{2}$');

-- ---- from 20261202000033_sync_stall_detector.sql


-- When the current sync episode began: a status change (or a booking born paid) or a manual
-- retry. Exactly one sync_stalled alert per episode is keyed on it.
alter table public.bookings
  add column guestly_sync_episode_started_at timestamptz;

-- ---- from 20261202000060_calendar_conflicts.sql

-- Date conflicts as their own outcome. A create Guestly refuses because the nights are taken
-- (an OTA reservation landed between the guest choosing dates and paying) is a `conflict`: the
-- booking stays confirmed (the guest paid), its sync is failed and final, never retried
-- automatically, and the admin gets the urgent `double_booking` alert. The operator may force
-- the reservation into Guestly anyway: a manual retry with ignore_calendar, stored on the booking
-- for that episode, makes the create send `ignoreCalendar: true`.

-- What kind of failure the last one was: conflict (dates taken), permanent (any other definite
-- refusal), transient (retried by the sweep). Null while nothing failed.
alter table public.bookings
  add column guestly_sync_error_kind text
    constraint bookings_guestly_sync_error_kind_check
    check (guestly_sync_error_kind in ('conflict', 'permanent', 'transient')),
  -- Set by a manual retry with ignore_calendar for its episode; cleared by the next manual retry
  -- without it and by a successful sync.
  add column guestly_ignore_calendar boolean not null default false;

-- ---- from 20261202000070_sync_work_model.sql

-- The sync follows more than the status. A booking's Guestly work is now the difference between
-- what the booking says (its desired state: listing, dates, guests, guest details) and what
-- Guestly holds as far as we know (guestly_synced_state, written by every successful sync), plus
-- the status as before, plus money not yet recorded in Guestly (guestly.payments, next migration).
-- One definition of "work due" serves the claim, record_success and the triggers, so a change
-- made while a sync is in flight is followed up by the same lease holder, in order.

-- What Guestly holds for this booking, as far as we know (same shape as guestly.desired_state).
-- Null: nothing sent yet, or a booking synced before this migration (backfilled below).
alter table public.bookings
  add column guestly_synced_state jsonb;

-- ---- from 20261203000010_guestly_hold_state.sql

-- A hold while the guest pays (GUESTLY_HOLD_MINUTES, default 0 = off). A booking inserted as
-- `pending_payment` places a `reserved` reservation in Guestly that blocks its nights for the
-- hold minutes; the payment confirms that same reservation. The hold is the booking's Guestly
-- work while it waits for payment: it goes through the same trigger → pg_net → guestly-sync path,
-- the same lease, attempt log and lookup rules as a paid booking's sync (next migration).
--
-- guestly_hold_status (null: no hold asked for):
--   placing     the hold is being placed (or retried after Guestly was slow or down)
--   held        Guestly holds the nights until guestly_hold_until
--   unavailable Guestly refused: the nights are taken (the website should not take payment)
--   failed      Guestly refused for another reason, or could not be reached before the hold
--               would have run out; the booking syncs as usual once paid
--   releasing   the Checkout ended without payment: the hold is being cancelled in Guestly
--   released    cancelled in Guestly (or never placed) — nobody blocks the nights any more
--   expired     the hold's time ran out before payment; Guestly stopped blocking the nights
--   confirmed   the payment confirmed the held reservation
alter table public.bookings
  add column guestly_hold_status text,
  add column guestly_hold_minutes int,
  add column guestly_hold_requested_at timestamptz,
  add column guestly_hold_until timestamptz,
  add column guestly_hold_reservation_id text,
  add column guestly_hold_error text,
  add constraint bookings_guestly_hold_status_check
    check (guestly_hold_status in ('placing', 'held', 'unavailable', 'failed', 'releasing',
                                   'released', 'expired', 'confirmed')),
  add constraint bookings_guestly_hold_minutes_check
    check (guestly_hold_minutes is null or guestly_hold_minutes > 0);


create index bookings_guestly_hold_open_idx on public.bookings (guestly_hold_requested_at)
  where guestly_hold_status in ('placing', 'held', 'releasing');

-- ---- from 20261126000001_booking_app_schema.sql


create trigger tg_bookings__set_updated_at
  before update on public.bookings
  for each row execute function public.tg_bookings__set_updated_at();
