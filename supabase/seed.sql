-- Local seed: a few properties (mapped to the Guestly sandbox's listings) and bookings waiting
-- for payment. The demo (`npm start`) pays for some of them through signed Stripe events.
insert into public.properties (id, name, guestly_listing_id, country_code) values
  ('0b0e7f3a-0000-4000-8000-000000000001', 'Ocean View Loft', '64f1a2b3c4d5e6f7a8b9c0d1', 'US'),
  ('0b0e7f3a-0000-4000-8000-000000000002', 'Pine Cabin', '64f1a2b3c4d5e6f7a8b9c0d2', 'GB'),
  ('0b0e7f3a-0000-4000-8000-000000000003', 'Old Town Apartment', '64f1a2b3c4d5e6f7a8b9c0d3', 'PT')
on conflict (id) do nothing;

insert into public.bookings
  (id, property_id, guest_first_name, guest_last_name, guest_email, guest_phone,
   check_in, check_out, guests_count, amount_total, currency)
values
  ('5eed0000-0000-4000-8000-000000000001', '0b0e7f3a-0000-4000-8000-000000000001',
   'Ada', 'Lovelace', 'ada@example.com', '+447700900123', '2027-02-01', '2027-02-05', 2, 64000, 'eur'),
  ('5eed0000-0000-4000-8000-000000000002', '0b0e7f3a-0000-4000-8000-000000000002',
   'Grace', 'Hopper', 'grace@example.com', '+12025550143', '2027-03-10', '2027-03-12', 4, 31000, 'usd')
on conflict (id) do nothing;
