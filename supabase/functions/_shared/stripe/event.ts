// A verified Stripe event → the typed value the database records. Only the fields the booking
// rules need are read; everything else stays in the raw payload that is stored with it.
//
// The object schemas are deliberately lenient (money fields optional): an event of a type we act
// on must never be dropped because a field is missing. A payment without an amount reaches the
// database as an amount mismatch, which alerts an admin, instead of vanishing here.
import { z } from "zod";

/** What the database does with an event (see payments.record_stripe_event). */
export type StripeAction =
  | "paid"
  | "no_payment_required"
  | "payment_failed"
  | "refund"
  | "dispute"
  | "none";

export const OUTCOMES = [
  "confirmed",
  "refunded",
  "payment_failed",
  "ignored",
  "unmatched",
  "amount_mismatch",
  "stale",
  "duplicate_payment",
  "payment_for_cancelled_booking",
  "partial_refund",
  "disputed",
  /** Not recorded: a payment no booking matches yet, inside the grace window (answered 503). */
  "deferred",
] as const;
export type StripeOutcome = typeof OUTCOMES[number];

export interface StripeEventRecord {
  id: string;
  type: string;
  created: Date;
  livemode: boolean;
  action: StripeAction;
  /** A UUID, or null when the event names no booking or names it with something else. */
  bookingId: string | null;
  /** The booking reference exactly as found in the event (for logs), UUID or not. */
  bookingRef: string | null;
  paymentIntentId: string | null;
  /** Minor units, as Stripe sends them. */
  amount: number | null;
  /** Lower-case ISO code. */
  currency: string | null;
  refundedInFull: boolean;
  /** What only an alert shows (dispute reason, charge amount, the booking reference as sent). */
  details: Record<string, string | number>;
  /** The request body exactly as received (stored as jsonb). */
  payload: string;
}

export interface RecordResult {
  duplicate: boolean;
  outcome: StripeOutcome;
  bookingId: string | null;
  bookingStatus: string | null;
  /** Outcome `deferred`: until when a redelivery is deferred rather than recorded unmatched. */
  retryUntil?: string | null;
}

export type RecordEvent = (event: StripeEventRecord) => Promise<RecordResult>;

const Envelope = z.object({
  id: z.string().min(1),
  type: z.string().min(1),
  created: z.number().int().nonnegative(),
  livemode: z.boolean(),
  data: z.object({ object: z.record(z.unknown()) }),
});

const Metadata = z.record(z.unknown()).nullish().transform((m) => m ?? {});
const Money = z.number().int().nullish();
const Currency = z.string().nullish().transform((c) => c ? c.toLowerCase() : null);
/** `payment_intent` is an id, or the expanded object. */
const PaymentIntentRef = z.union([z.string(), z.object({ id: z.string() })]).nullish()
  .transform((ref) => (typeof ref === "string" ? ref : ref?.id) ?? null);

const PaymentIntent = z.object({
  id: z.string(),
  amount: Money,
  amount_received: Money,
  currency: Currency,
  metadata: Metadata,
});

const CheckoutSession = z.object({
  id: z.string().nullish(),
  client_reference_id: z.string().nullish(),
  payment_status: z.string().nullish(),
  amount_total: Money,
  /** Before discounts: with `total_details.amount_discount`, what a free Checkout forgave. */
  amount_subtotal: Money,
  total_details: z.object({ amount_discount: Money }).nullish(),
  currency: Currency,
  payment_intent: PaymentIntentRef,
  metadata: Metadata,
});

const Charge = z.object({
  id: z.string().nullish(),
  amount: Money,
  amount_refunded: Money,
  refunded: z.boolean().nullish(),
  currency: Currency,
  payment_intent: PaymentIntentRef,
  metadata: Metadata,
});

/** `charge` is an id, or the expanded object. */
const ChargeRef = z.union([z.string(), z.object({ id: z.string() })]).nullish()
  .transform((ref) => (typeof ref === "string" ? ref : ref?.id) ?? null);

const Dispute = z.object({
  id: z.string(),
  amount: Money,
  currency: Currency,
  reason: z.string().nullish(),
  status: z.string().nullish(),
  charge: ChargeRef,
  payment_intent: PaymentIntentRef,
  evidence_details: z.object({ due_by: z.number().int().nullish() }).nullish(),
  metadata: Metadata,
});

const Uuid = z.string().uuid();

function text(value: unknown): string | null {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : null;
}

/** The first candidate that is a UUID wins; the first non-empty one is kept for the logs. */
function bookingFrom(
  candidates: unknown[],
): { bookingId: string | null; bookingRef: string | null } {
  const refs = candidates.map(text).filter((ref): ref is string => ref !== null);
  const bookingId = refs.find((ref) => Uuid.safeParse(ref).success)?.toLowerCase() ?? null;
  return { bookingId, bookingRef: bookingId ?? refs[0] ?? null };
}

type Fields = Omit<StripeEventRecord, "id" | "type" | "created" | "livemode" | "payload">;

const NOTHING: Fields = {
  action: "none",
  bookingId: null,
  bookingRef: null,
  paymentIntentId: null,
  amount: null,
  currency: null,
  refundedInFull: false,
  details: {},
};

/** Only the present values: the alert shows what Stripe sent, nothing made up. */
function compact(values: Record<string, string | number | null | undefined>) {
  const out: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value !== null && value !== undefined && value !== "") out[key] = value;
  }
  return out;
}

/** The reference as sent, when it is not the booking id we use (an unmatched alert shows it). */
function refDetail(
  ref: { bookingId: string | null; bookingRef: string | null },
): Record<string, string> {
  return ref.bookingId === null && ref.bookingRef !== null ? { booking_ref: ref.bookingRef } : {};
}

function fieldsOf(type: string, object: Record<string, unknown>): Fields {
  switch (type) {
    case "payment_intent.succeeded":
    case "payment_intent.payment_failed": {
      const pi = PaymentIntent.parse(object);
      const succeeded = type === "payment_intent.succeeded";
      const ref = bookingFrom([pi.metadata.booking_id]);
      return {
        ...NOTHING,
        ...ref,
        details: refDetail(ref),
        action: succeeded ? "paid" : "payment_failed",
        paymentIntentId: pi.id,
        amount: succeeded ? pi.amount_received ?? pi.amount ?? null : pi.amount ?? null,
        currency: pi.currency,
      };
    }
    case "checkout.session.completed":
    case "checkout.session.async_payment_succeeded":
    case "checkout.session.async_payment_failed":
    case "checkout.session.expired": {
      const session = CheckoutSession.parse(object);
      // A session completes before delayed payment methods (SEPA, bank transfers) have paid:
      // only payment_status "paid" is money received. "no_payment_required" (a 100 % discount)
      // owes nothing and confirms too.
      // An expired session took no money and changes nothing on the booking (the guest may
      // start another); its ledger row releases a Guestly hold (migration …006_holds).
      const action: StripeAction = type === "checkout.session.expired"
        ? "none"
        : type === "checkout.session.async_payment_failed"
        ? "payment_failed"
        : session.payment_status === "paid"
        ? "paid"
        : session.payment_status === "no_payment_required"
        ? "no_payment_required"
        : "none";
      const ref = bookingFrom([session.client_reference_id, session.metadata.booking_id]);
      return {
        ...NOTHING,
        ...ref,
        details: compact({
          ...refDetail(ref),
          checkout_session_id: session.id,
          // A free Checkout confirms only if its discount covered the booking's whole amount
          // (payments.record_stripe_event checks): not a setup-mode session, not a partial code.
          ...(action === "no_payment_required"
            ? {
              checkout_amount_subtotal: session.amount_subtotal ?? undefined,
              checkout_amount_discount: session.total_details?.amount_discount ?? undefined,
            }
            : {}),
        }),
        action,
        paymentIntentId: session.payment_intent,
        amount: session.amount_total ?? null,
        currency: session.currency,
      };
    }
    case "charge.refunded": {
      const charge = Charge.parse(object);
      const amount = charge.amount ?? null;
      const refundedInFull = charge.refunded === true ||
        (amount !== null && charge.amount_refunded != null && charge.amount_refunded >= amount);
      const ref = bookingFrom([charge.metadata.booking_id]);
      return {
        ...NOTHING,
        ...ref,
        details: compact({ ...refDetail(ref), charge_id: charge.id, charge_amount: amount }),
        action: "refund",
        paymentIntentId: charge.payment_intent,
        // Cumulative: every refund of the charge so far.
        amount: charge.amount_refunded ?? null,
        currency: charge.currency,
        refundedInFull,
      };
    }
    case "charge.dispute.created": {
      const dispute = Dispute.parse(object);
      const dueBy = dispute.evidence_details?.due_by;
      const ref = bookingFrom([dispute.metadata.booking_id]);
      return {
        ...NOTHING,
        ...ref,
        details: compact({
          ...refDetail(ref),
          dispute_id: dispute.id,
          dispute_reason: dispute.reason,
          dispute_status: dispute.status,
          charge_id: dispute.charge,
          evidence_due_by: dueBy ? new Date(dueBy * 1000).toISOString() : null,
        }),
        action: "dispute",
        paymentIntentId: dispute.payment_intent,
        amount: dispute.amount ?? null,
        currency: dispute.currency,
      };
    }
    default:
      return NOTHING;
  }
}

export type ParsedEvent =
  | { ok: true; event: StripeEventRecord }
  | { ok: false; error: string };

/** `event` is what stripe.webhooks.constructEventAsync returned; `payload` the raw body. */
export function parseStripeEvent(event: unknown, payload: string): ParsedEvent {
  const envelope = Envelope.safeParse(event);
  if (!envelope.success) {
    const issue = envelope.error.issues[0];
    return { ok: false, error: `not a Stripe event: ${issue.path.join(".")}: ${issue.message}` };
  }
  const { id, type, created, livemode, data } = envelope.data;
  let fields: Fields;
  try {
    fields = fieldsOf(type, data.object);
  } catch (error) {
    if (!(error instanceof z.ZodError)) throw error;
    const issue = error.issues[0];
    return {
      ok: false,
      error: `unexpected ${type} object: ${issue.path.join(".")}: ${issue.message}`,
    };
  }
  return {
    ok: true,
    event: { id, type, created: new Date(created * 1000), livemode, payload, ...fields },
  };
}
