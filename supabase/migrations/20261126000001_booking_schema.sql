-- Booking schema: public.properties and public.bookings — the booking website's own tables — with
-- the columns this project keeps on a booking (its Guestly sync state and its hold), their
-- indexes, the updated_at trigger and RLS. Concern: the booking. Depends on nothing; every later
-- migration builds on it.
--
-- The booking website's own schema exists before this project in a real deployment; it is a
-- migration here so a fresh database has it. Amounts are in minor units (cents), as Stripe sends.

create table public.properties (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  guestly_listing_id text not null,
  created_at timestamptz not null default now(),
  -- The property's country (ISO 3166-1 alpha-2, e.g. GB): the region in which a guest's phone
  -- number written without a country code ("07700 900123") is read before it goes to Guestly as
  -- E.164. Optional: without it such numbers travel in the reservation's notes instead.
  country_code text
    constraint properties_country_code_check check (country_code ~ '^[A-Z]{2}$')
);

-- guestly_hold_status (null: no hold asked for). A hold is placed while the guest pays
-- (GUESTLY_HOLD_MINUTES, default 0 = off): a booking inserted as `pending_payment` places a
-- `reserved` reservation in Guestly that blocks its nights for the hold minutes; the payment
-- confirms that same reservation. The hold is the booking's Guestly work while it waits for
-- payment: the same trigger → pg_net → guestly-sync path, lease, attempt log and lookup rules as
-- a paid booking's sync (see 20261126000006_holds.sql).
--   placing     the hold is being placed (or retried after Guestly was slow or down)
--   held        Guestly holds the nights until guestly_hold_until
--   unavailable Guestly refused: the nights are taken (the website should not take payment)
--   failed      Guestly refused for another reason, or could not be reached before the hold
--               would have run out; the booking syncs as usual once paid
--   releasing   the Checkout ended without payment: the hold is being cancelled in Guestly
--   released    cancelled in Guestly (or never placed) — nobody blocks the nights any more
--   expired     the hold's time ran out before payment; Guestly stopped blocking the nights
--   cancelled   the host cancelled the hold in Guestly (or Guestly declined it): the booking let
--               go of it (the website is told not to take payment; a payment anyway creates a new
--               reservation, never confirms the cancelled one, and alerts the admin)
--   confirmed   the payment confirmed the held reservation
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

  -- Guestly sync state (documented in docs/architecture.md).
  guestly_reservation_id text null,
  guestly_sync_status text default 'pending',
  guestly_sync_error text,
  guestly_synced_at timestamptz,
  guestly_sync_attempts int default 0,
  -- when the cron sweep should (re)invoke guestly-sync; null = nothing due (synced, given up, never paid)
  guestly_sync_next_attempt_at timestamptz,
  -- the lease of the invocation currently talking to Guestly for this booking
  guestly_sync_lease_id uuid,
  guestly_sync_lease_until timestamptz,
  -- an earlier attempt's outcome is unknown (timeout, dropped connection): look up before creating
  guestly_sync_lookup_needed boolean not null default false,
  -- the booking status Guestly last acknowledged, so a change updates instead of creating
  guestly_synced_status text,
  -- set when the current failure episode became final (alert sent once per episode)
  guestly_sync_gave_up_at timestamptz,
  -- guestly_sync_attempts when the current episode began (a status change or a manual retry):
  -- the attempt limit and the spacing between rounds count this episode's attempts only
  guestly_sync_episode_base int not null default 0,
  -- Since when the booking has been waiting for its sync. `updated_at` cannot tell: every sweep
  -- and claim touches the row. Null whenever nothing is owed to Guestly.
  guestly_sync_pending_since timestamptz,
  -- When an outcome became unknown. A create answered by a 5xx, 408, timeout or dropped
  -- connection may have been committed by Guestly (gateways answer 502/503/504 after the backend
  -- committed; a slow backend finishes after we gave up). Remembering when lets no lookup run
  -- before the first request's effect could be visible (the settle delay), and lets a later
  -- cancel look for a phantom reservation even after the booking was bound to one.
  guestly_sync_unknown_at timestamptz,
  -- When the current sync episode began: a status change (or a booking born paid) or a manual
  -- retry. Exactly one sync_stalled alert per episode is keyed on it.
  guestly_sync_episode_started_at timestamptz,
  -- What kind of failure the last one was: conflict (dates taken), permanent (any other definite
  -- refusal), transient (retried by the sweep). Null while nothing failed. A conflict — Guestly
  -- refuses the create because an OTA reservation landed between the guest choosing dates and
  -- paying — leaves the booking confirmed (the guest paid), its sync failed and final, never
  -- retried automatically, and raises the urgent `double_booking` alert.
  guestly_sync_error_kind text
    constraint bookings_guestly_sync_error_kind_check
    check (guestly_sync_error_kind in ('conflict', 'permanent', 'transient')),
  -- The operator may force the reservation into Guestly anyway: set by a manual retry with
  -- ignore_calendar for its episode (the create then sends `ignoreCalendar: true`); cleared by
  -- the next manual retry without it and by a successful sync.
  guestly_ignore_calendar boolean not null default false,
  -- What Guestly holds for this booking, as far as we know (same shape as guestly.desired_state),
  -- written by every successful sync; null while nothing was sent. The booking's Guestly work is
  -- the difference between this and what the booking says now, plus the status, plus money not
  -- yet recorded in Guestly (guestly.payments).
  guestly_synced_state jsonb,
  -- What the latest sync pass set out to send (guestly.desired_state when it claimed the
  -- booking): Guestly echoing it back during that pass is our own change, not a host's, even
  -- when the website has moved on since (apply_guestly_change).
  guestly_sending_state jsonb,

  -- The hold while the guest pays (states above).
  guestly_hold_status text,
  guestly_hold_minutes int,
  guestly_hold_requested_at timestamptz,
  guestly_hold_until timestamptz,
  guestly_hold_reservation_id text,
  guestly_hold_error text,

  -- When our booking reference was seen set on the reservation (guestly_reservation_id): the
  -- create cannot carry it (Guesty's definition declares no customFields there), so it is set
  -- through PUT /reservations-v3/{id}/custom-fields once the id is recorded, and read back. Null
  -- = not verified yet (guestly.reference_due); reset whenever the reservation id changes.
  guestly_reference_set_at timestamptz,
  -- The stay keys ({listing_id, check_in, check_out, guest_email}) of creates sent while no
  -- reservation is recorded, each written before its create leaves (guestly.note_create_key):
  -- a create whose outcome is unknown committed, if at all, on the stay it sent, which the
  -- booking may no longer have (dates, listing or email changed since). The lookup searches
  -- each of them besides the current stay; cleared once record_success records a reservation.
  guestly_create_keys jsonb not null default '[]'::jsonb,

  constraint bookings_dates_check check (check_out > check_in),
  constraint bookings_guests_count_check check (guests_count > 0),
  constraint bookings_amount_total_check check (amount_total >= 0),
  constraint bookings_currency_check check (currency ~ '^[a-z]{3}$'),
  constraint bookings_status_check
    check (status in ('pending_payment', 'confirmed', 'cancelled', 'refunded')),
  constraint bookings_guestly_sync_status_check
    check (guestly_sync_status in ('pending', 'synced', 'failed')),
  constraint bookings_guestly_hold_status_check
    check (guestly_hold_status in ('placing', 'held', 'unavailable', 'failed', 'releasing',
                                   'released', 'expired', 'confirmed', 'cancelled')),
  constraint bookings_guestly_hold_minutes_check
    check (guestly_hold_minutes is null or guestly_hold_minutes > 0)
);

-- Guests and the public never read these tables through the Data API: the website's server code
-- uses the service_role key. RLS with no policies plus revoked grants keeps anon/authenticated out.
alter table public.properties enable row level security;

alter table public.bookings enable row level security;

-- ---- Indexes

create index bookings_property_id_idx on public.bookings (property_id);

create index bookings_stripe_payment_intent_id_idx on public.bookings (stripe_payment_intent_id);

-- Unique: a second Guestly reservation for one booking can never be recorded.
create unique index bookings_guestly_reservation_id_idx on public.bookings (guestly_reservation_id);

create index bookings_guestly_sync_status_idx on public.bookings (guestly_sync_status);

-- The cron sweep reads only rows with due work, through this small partial index.
create index bookings_guestly_sync_due_idx on public.bookings (guestly_sync_next_attempt_at)
  where guestly_sync_next_attempt_at is not null;

create index bookings_guestly_hold_open_idx on public.bookings (guestly_hold_requested_at)
  where guestly_hold_status in ('placing', 'held', 'releasing');

-- ---- updated_at

create function public.tg_bookings__set_updated_at() returns trigger
  language plpgsql
  set search_path = ''
  as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

create trigger tg_bookings__set_updated_at
  before update on public.bookings
  for each row execute function public.tg_bookings__set_updated_at();
