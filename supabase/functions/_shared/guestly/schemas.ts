// Shapes at the boundaries: the booking row as the database hands it to us, and Guestly's
// reservations-v3 payloads. Validated with zod so a bad row fails loudly, naming the field.
import { z } from "zod";
import { HoldStatus } from "./hold.ts";

export const BOOKING_STATUSES = ["pending_payment", "confirmed", "cancelled", "refunded"] as const;
export const BookingStatus = z.enum(BOOKING_STATUSES);
export type BookingStatus = z.infer<typeof BookingStatus>;

export const GUESTLY_STATUSES = [
  "confirmed",
  "reserved",
  "awaiting_payment",
  "inquiry",
  "canceled",
  "closed",
  "declined",
  "expired",
] as const;
export const GuestlyStatus = z.enum(GUESTLY_STATUSES);
export type GuestlyStatus = z.infer<typeof GuestlyStatus>;

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}/, "must be a date (YYYY-MM-DD)")
  .transform((value) => value.slice(0, 10));

/**
 * What a reservation holds besides its status, in the shape of guestly.desired_state (SQL): the
 * booking's wish, and what Guestly holds as far as we know (guestly_synced_state).
 */
export const ReservationContent = z.object({
  listing_id: z.string(),
  check_in: isoDate,
  check_out: isoDate,
  guests_count: z.number().int(),
  guest: z.object({
    first_name: z.string(),
    last_name: z.string(),
    email: z.string(),
    phone: z.string().nullable(),
  }),
});
export type ReservationContent = z.infer<typeof ReservationContent>;

/** A payment or refund Stripe reported that Guestly must still show (guestly.payments). */
export const PendingPayment = z.object({
  id: z.string().uuid(),
  kind: z.enum(["payment", "refund"]),
  /** Minor units, positive, in `currency`. */
  amount: z.coerce.number().int().positive(),
  currency: z.string().regex(/^[a-z]{3}$/),
  /** Stripe's id for it; travels as the payment's note, for people (never read back). */
  reference: z.string().min(1),
  unknown_at: z.string().nullable(),
});
export type PendingPayment = z.infer<typeof PendingPayment>;

/**
 * One of the booking's payments or refunds, recorded or not (guestly.money_rows), in the order
 * they are recorded: which of a reservation's payments in Guestly are ours is decided from these
 * (mapping.ts, matchPayments).
 */
export const MoneyRow = PendingPayment.omit({ unknown_at: true }).extend({
  status: z.enum(["pending", "recorded"]),
  guestly_payment_id: z.string().nullable(),
  created_at: z.string(),
});
export type MoneyRow = z.infer<typeof MoneyRow>;

/** The stay a create sent: what its reservation, if it committed, is found by. */
export const CreateKey = z.object({
  listing_id: z.string(),
  check_in: isoDate,
  check_out: isoDate,
  guest_email: z.string(),
});
export type CreateKey = z.infer<typeof CreateKey>;

export const BookingRow = z.object({
  id: z.string().uuid(),
  property_id: z.string().uuid(),
  guestly_listing_id: z.string().min(1, "the property has no Guestly listing id"),
  /** The property's country (ISO 3166 alpha-2): the region of a phone number written locally. */
  guestly_property_country: z.string().nullable().optional(),
  guest_first_name: z.string().min(1),
  guest_last_name: z.string().min(1),
  guest_email: z.string().email(),
  guest_phone: z.string().nullable().optional(),
  check_in: isoDate,
  check_out: isoDate,
  guests_count: z.number().int().positive(),
  amount_total: z.coerce.number().int().nonnegative(),
  currency: z.string().regex(/^[a-z]{3}$/),
  status: BookingStatus,
  stripe_payment_intent_id: z.string().nullable().optional(),
  guestly_reservation_id: z.string().nullable(),
  guestly_sync_status: z.enum(["pending", "synced", "failed"]).nullable(),
  guestly_sync_attempts: z.number().int().nullable(),
  /** guestly_sync_attempts when this episode began: the attempt limit counts from here. */
  guestly_sync_episode_base: z.number().int().optional(),
  guestly_sync_lookup_needed: z.boolean(),
  guestly_synced_status: BookingStatus.nullable(),
  /** When the last sync succeeded (the create, for the pass right after it). */
  guestly_synced_at: z.string().nullable().optional(),
  /** When our reference was read back from the reservation (null: still to set after a create). */
  guestly_reference_set_at: z.string().nullable().optional(),
  /** When a create last had an unknown outcome; its effect may appear until settled. */
  guestly_sync_unknown_at: z.string().nullable().optional(),
  /** Set for one episode by a manual retry with --ignore-calendar: force the create. */
  guestly_ignore_calendar: z.boolean().optional(),
  /** What Guestly holds (null: nothing sent yet); the claim adds the desired state. */
  guestly_synced_state: ReservationContent.nullable().optional(),
  guestly_desired_state: ReservationContent.optional(),
  guestly_pending_payments: z.array(PendingPayment).optional(),
  guestly_money: z.array(MoneyRow).optional(),
  /** The hold while the guest pays (null: none asked for), and its minutes. */
  guestly_hold_status: HoldStatus.nullable().optional(),
  guestly_hold_minutes: z.number().int().positive().nullable().optional(),
  /** The stays creates sent while no reservation is recorded (guestly.note_create_key). */
  guestly_create_keys: z.array(CreateKey).optional(),
  /** Reservation ids other bookings record on the stays the lookup searches: never ours. */
  guestly_reservations_elsewhere: z.array(z.string()).optional(),
});
export type BookingRow = z.infer<typeof BookingRow>;

const E164 = z.string().regex(/^\+[1-9]\d{6,14}$/);

/** Who the guest is, as both the create and the guest update send it. */
const GuestlyGuestIdentity = z.object({
  firstName: z.string().trim().min(1, "must not be empty"),
  lastName: z.string().trim().min(1, "must not be empty"),
  email: z.string().email(),
});

/** A new reservation's guest: the create's `phones` is every number (required, may be empty). */
export const GuestlyGuest = GuestlyGuestIdentity.extend({ phones: z.array(E164) });

/**
 * `PUT /guests-crud/{guestId}`: `phone` is the main number (`phones` would be the additional
 * ones, which we leave as the host keeps them); `tags` is required and replaces the guest's
 * tags, so it carries the tags Guestly has (read just before).
 */
export const GuestlyGuestUpdate = GuestlyGuestIdentity.extend({
  phone: E164.optional(),
  tags: z.array(z.string()),
});
export type GuestlyGuestUpdate = z.infer<typeof GuestlyGuestUpdate>;

/** What we read of a guest (`GET /guests-crud/{guestId}?fields=tags`). */
export const GuestlyGuestTags = z.object({ tags: z.array(z.string()).nullish() });

/** A guest's email (`GET /guests-crud/{guestId}?fields=email`): the lookup's check of a hit. */
export const GuestlyGuestEmail = z.object({ email: z.string().nullish() });

export const GuestlyCustomField = z.object({ fieldId: z.string().min(1), value: z.string() });

export const GuestlyReservationCreate = z.object({
  listingId: z.string().min(1),
  checkInDateLocalized: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  checkOutDateLocalized: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  status: GuestlyStatus,
  source: z.string(),
  guestsCount: z.number().int().positive(),
  guest: GuestlyGuest,
  money: z.object({ fareAccommodation: z.number().nonnegative(), currency: z.string().length(3) }),
  // No customFields, no notes: the definition does not declare them on the create (Guesty
  // ignores them). They are set once the reservation exists (reference-step.ts).
  /** Only on an operator's forced retry: Guestly skips its availability check. */
  ignoreCalendar: z.literal(true).optional(),
  /** A hold (`reserved`): hours it blocks the nights, as Guesty's API takes it. */
  reservedUntil: z.number().positive("a hold needs GUESTLY_HOLD_MINUTES > 0").optional(),
});
export type GuestlyReservationCreate = z.infer<typeof GuestlyReservationCreate>;

/** `PUT /reservations-v3/{id}/custom-fields`: our booking reference, in our field. */
export const GuestlyCustomFieldsUpdate = z.object({
  customFields: z.array(GuestlyCustomField).min(1),
});
export type GuestlyCustomFieldsUpdate = z.infer<typeof GuestlyCustomFieldsUpdate>;

/** `PUT /reservations-v3/{id}/notes`: what the host should read about the booking. */
export const GuestlyNotesUpdate = z.object({ notes: z.object({ other: z.string() }) });
export type GuestlyNotesUpdate = z.infer<typeof GuestlyNotesUpdate>;

export const GuestlyStatusChange = z.object({
  status: GuestlyStatus,
  /** Guesty's cancellation actors (HOST too since 2026-05-12; we never send it). */
  canceledBy: z.enum(["OWNER", "GUEST", "TEAM_MEMBER"]).optional(),
  cancellationReason: z.string().optional(),
});
export type GuestlyStatusChange = z.infer<typeof GuestlyStatusChange>;

/** What we read back from Guestly; unknown extra fields are kept out, absent ones may be null. */
export const GuestlyReservation = z.object({
  reservationId: z.string().nullish(),
  _id: z.string().nullish(),
  confirmationCode: z.string().nullish(),
  status: z.string().nullish(),
  source: z.string().nullish(),
  customFields: z.array(GuestlyCustomField).nullish(),
  listingId: z.string().nullish(),
  checkInDateLocalized: z.string().nullish(),
  checkOutDateLocalized: z.string().nullish(),
  guestsCount: z.number().nullish(),
  guest: z.object({
    firstName: z.string().nullish(),
    lastName: z.string().nullish(),
    email: z.string().nullish(),
    phones: z.array(z.string()).nullish(),
  }).nullish(),
  /** The guest's profile: `guestId` in the legacy shape, `bookerId` in v3's. */
  guestId: z.string().nullish(),
  bookerId: z.string().nullish(),
}).transform((r) => ({ ...r, id: r.reservationId ?? r._id ?? "" }))
  .refine((r) => r.id !== "", { message: "reservationId is missing" });
export type GuestlyReservation = z.infer<typeof GuestlyReservation>;

export const GuestlySearchResult = z.object({
  results: z.array(z.unknown()),
  count: z.number().nullish().transform((v) => v ?? undefined),
});

export const GuestlyToken = z.object({
  access_token: z.string().min(1),
  expires_in: z.number().positive(),
  token_type: z.string().optional(),
});

/** The guestly-sync function's request body. */
export const SyncRequest = z.object({
  bookingId: z.string({ required_error: "bookingId is required" }).uuid(
    "bookingId must be a UUID",
  ),
  manual: z.boolean().optional(),
  /** With manual: force the create past Guestly's availability check (a double booking). */
  ignoreCalendar: z.boolean().optional(),
}).refine((r) => !r.ignoreCalendar || r.manual, {
  message: "ignoreCalendar needs manual: true (only an operator's retry may force dates)",
  path: ["ignoreCalendar"],
});
export type SyncRequest = z.infer<typeof SyncRequest>;

/** One change request to Guestly: which v3 endpoint, with what (see content-changes.ts). */
export interface GuestlyChangeRequest {
  path: string;
  body: Record<string, unknown>;
}

/** An external payment as Guestly records it (refunds go on the payment: client.recordRefund). */
export const GuestlyPaymentRecord = z.object({
  paymentMethod: z.object({ method: z.string() }),
  /** Major units of the reservation's currency. */
  amount: z.number().positive(),
  paidAt: z.string(),
  /** Our reference (the Stripe PaymentIntent), so the payment can be found again. */
  note: z.string().min(1).max(500),
});
export type GuestlyPaymentRecord = z.infer<typeof GuestlyPaymentRecord>;

/** A reservation read back whole: what a change needs (guest id) and the money it shows. */
export const ReservationDetails = z.object({
  _id: z.string().nullish(),
  reservationId: z.string().nullish(),
  guestId: z.string().nullish(),
  status: z.string().nullish(),
  listingId: z.string().nullish(),
  checkInDateLocalized: z.string().nullish(),
  checkOutDateLocalized: z.string().nullish(),
  guestsCount: z.number().nullish(),
  // Read by guestly-webhook: whose reservation it is, and who cancelled it.
  source: z.string().nullish(),
  canceledBy: z.string().nullish(),
  // Read by the reconciliation: when Guestly last changed it (a change applied from it carries
  // Guestly's time, not ours, so a newer webhook still wins).
  lastUpdatedAt: z.string().nullish(),
  customFields: z.array(GuestlyCustomField).nullish(),
  money: z.object({
    fareAccommodation: z.number().nullish(),
    currency: z.string().nullish(),
    totalPaid: z.number().nullish(),
    balanceDue: z.number().nullish(),
    payments: z.array(z.unknown()).nullish(),
  }).nullish(),
});
export type ReservationDetails = z.infer<typeof ReservationDetails>;
