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
revoke all on function public.tg_bookings__set_updated_at() from public, anon, authenticated, service_role;

create trigger tg_bookings__set_updated_at
  before update on public.bookings
  for each row execute function public.tg_bookings__set_updated_at();

-- Guests and the public never read these tables through the Data API: the website's server code
-- uses the service_role key. RLS with no policies plus revoked grants keeps anon/authenticated out.
alter table public.properties enable row level security;
alter table public.bookings enable row level security;
revoke all on public.properties, public.bookings from anon, authenticated;
