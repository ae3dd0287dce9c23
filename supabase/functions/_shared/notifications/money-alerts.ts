// Subjects and sections of the money alerts the Stripe webhook writes (payments.record_stripe_event):
// a payment or a refund no booking matches, a payment for a cancelled booking, a second payment,
// a dispute, a partial refund — and the money that matched no booking being applied once a
// booking got its payment intent (payments.match_unmatched_stripe_events). Pure: same alert in,
// same email out (Resend's idempotency key demands it). admin-alerts.ts renders the sections as
// text and HTML.
import {
  type AlertContext,
  bookingRows,
  formatAmount,
  formatTime,
  guestName,
  type Row,
  type Section,
  shortId,
  str,
} from "./admin-alerts.ts";

export const MONEY_ALERT_KINDS = [
  "payment_unmatched",
  "payment_for_cancelled_booking",
  "duplicate_payment",
  "payment_disputed",
  "partial_refund",
  "refund_unmatched",
  "money_matched_late",
] as const;

export interface MoneyAlertEmail {
  subject: string;
  sections: Section[];
}

function money(d: Record<string, unknown>, key = "amount"): string {
  return formatAmount(d[key] as number | null | undefined, d.currency);
}

/** The Stripe Dashboard page of a payment or dispute, in the event's own mode. */
export function dashboardUrl(d: Record<string, unknown>, what: "payments" | "disputes"): string {
  const id = what === "disputes" ? str(d.dispute_id) : str(d.payment_intent_id);
  if (!id || !/^[A-Za-z0-9_]+$/.test(id)) return "(no id in the event)";
  return `https://dashboard.stripe.com/${d.livemode === true ? "" : "test/"}${what}/${id}`;
}

function eventRows(d: Record<string, unknown>): Row[] {
  const rows: Row[] = [
    ["Stripe event", `${d.event_id ?? "(unknown)"}${d.event_type ? ` (${d.event_type})` : ""}`],
    ["Event created", formatTime(str(d.event_created))],
    ["Mode", d.livemode === true ? "live" : "test"],
  ];
  if (str(d.reason)) rows.push(["Recorded as", String(d.reason)]);
  return rows;
}

function who(ctx: AlertContext): string {
  const b = ctx.booking;
  const id = b?.id ?? ctx.alert.booking_id;
  if (!id) return "no matching booking";
  return `booking ${shortId(id)} — ${guestName(b)} at ${b?.property_name ?? "(unknown property)"}`;
}

function bookingSection(ctx: AlertContext): Section {
  if (ctx.booking || ctx.alert.booking_id) return { title: "Booking", rows: bookingRows(ctx) };
  return {
    title: "Booking",
    lines: [
      str(ctx.alert.details.booking_ref)
        ? `The event names "${ctx.alert.details.booking_ref}", which is not a booking id we have.`
        : "The event names no booking we have (no metadata.booking_id / client_reference_id, " +
          "and no booking was paid by this payment intent).",
    ],
  };
}

function happened(ctx: AlertContext, lines: string[]): Section {
  return {
    title: "What happened",
    lines: [...lines, `Alert written ${formatTime(ctx.alert.created_at)}.`],
  };
}

interface MatchedEvent {
  event_id?: unknown;
  type?: unknown;
  created?: unknown;
  amount?: unknown;
  outcome?: unknown;
}

/** What tied the payment intent to the booking (details.matched_by). */
function matchedBy(d: Record<string, unknown>): string {
  const by = str(d.matched_by);
  return by && by !== "booking_update"
    ? `Stripe's event ${by}, delivered late, named this booking`
    : "The booking was given this payment intent by an update (confirmed by hand, or by the " +
      "website)";
}

/** money_matched_late: a payment (and maybe refunds) reported before its booking was known. */
function matchedLateEmail(ctx: AlertContext, d: Record<string, unknown>): MoneyAlertEmail {
  const events = (Array.isArray(d.events) ? d.events : []) as MatchedEvent[];
  const refunded = Number(d.refunded_amount ?? 0) > 0;
  const inFull = d.refunded_in_full === true;
  const mismatch = events.some((e) => e.outcome === "amount_mismatch");
  // The booking was already cancelled or refunded: the payment was not applied.
  const stale = !refunded && events.some((e) => e.outcome === "stale");
  const before = str(d.booking_status_before) ?? "(unknown)";
  const now = str(d.booking_status) ?? ctx.booking?.status ?? "(unknown)";
  const paid = money(d);
  const back = formatAmount(d.refunded_amount as number | undefined, d.currency);
  const subject = inFull
    ? `Refunded before it was matched: ${who(ctx)} is now refunded (${paid} paid, ${back} refunded)`
    : refunded
    ? `Matched late, partly refunded: ${who(ctx)} (${paid} paid, ${back} refunded)`
    : `Unmatched payment now matched: ${who(ctx)} (${paid})`;
  const reported = inFull
    ? "Stripe reported this payment, and a refund of all of it, before any booking had its " +
      "payment intent (the payment was reported to you as not matched to any booking; the " +
      "refund was most likely made after that email)."
    : refunded
    ? "Stripe reported this payment, and a partial refund of it, before any booking had its " +
      "payment intent."
    : "Stripe reported this payment before any booking had its payment intent (you were sent " +
      '"Payment not matched to any booking").';
  const result = inFull
    ? `Both were applied in the order they happened: the booking was ${before} and is now ` +
      "refunded. Its Guestly reservation is cancelled, or was never created; where one exists, " +
      "Guestly records the payment and its refund. Nobody has paid for this stay any more."
    : refunded
    ? `Both were applied: the booking is ${now}; Guestly records the payment and the refund on ` +
      "its reservation, so its balance shows what is still due."
    : stale
    ? `The booking is ${now}: the payment was not applied (a payment never brings a cancelled ` +
      "or refunded booking back)."
    : `The payment was applied: the booking is ${now}${
      mismatch ? "" : " and Guestly records the payment on its reservation"
    }.`;
  const todo = inFull
    ? [
      "The guest completed Checkout, so they may believe they have this stay, but their money " +
      "was given back. Contact them. If they should have the stay, make a new booking and have " +
      "them pay for it (a refunded booking never comes back). If not, nothing else is needed.",
    ]
    : refunded
    ? [
      "The refund was made before anyone knew this payment belonged to this booking. Decide " +
      "whether the guest still owes it: collect the difference from them, or, if the stay " +
      "changed, change the booking (the change follows to Guestly). To cancel the stay, refund " +
      "the rest in Stripe (a full refund cancels it in Guestly).",
    ]
    : stale
    ? [
      "If the booking was refunded by this payment's own refund (the Stripe Dashboard shows it), " +
      "nothing. Otherwise the guest paid for a stay that is off: refund the payment in Stripe, " +
      "or make a new booking if they are to have the stay after all.",
    ]
    : mismatch
    ? [
      "The amount paid differs from the booking's, so it was not confirmed by this payment: " +
      "refund it in Stripe, or correct the booking by hand.",
    ]
    : ["Nothing: this payment belongs to this booking — do not refund it."];
  return {
    subject,
    sections: [
      happened(ctx, [reported, `${matchedBy(d)}.`, result]),
      bookingSection(ctx),
      {
        title: "Money",
        rows: [
          ["Paid", paid],
          ["Refunded", refunded ? `${back}${inFull ? " (all of it)" : ""}` : "nothing"],
          ["Booking status", `${before} → ${now}`],
          ["Payment intent", str(d.payment_intent_id) ?? "(none)"],
          ["Stripe Dashboard", dashboardUrl(d, "payments")],
          ["Mode", d.livemode === true ? "live" : "test"],
        ],
      },
      {
        title: "Events applied",
        lines: events.map((e) =>
          `${e.event_id ?? "(unknown)"} (${e.type ?? "?"}, created ${
            formatTime(str(e.created))
          }): ${formatAmount(e.amount as number | undefined, d.currency)} → ${e.outcome ?? "?"}`
        ),
      },
      { title: "What to do", lines: todo },
    ],
  };
}

/** The email parts for a money alert, or null for any other kind. */
export function moneyAlertEmail(ctx: AlertContext): MoneyAlertEmail | null {
  const d = ctx.alert.details ?? {};
  const status = str(d.booking_status) ?? ctx.booking?.status ?? "(unknown)";
  const paymentRows: Row[] = [
    ["Amount", money(d)],
    ["Payment intent", str(d.payment_intent_id) ?? "(none)"],
    ["Stripe Dashboard", dashboardUrl(d, "payments")],
  ];
  switch (ctx.alert.kind) {
    case "payment_unmatched": {
      const free = d.event_type === "checkout.session.completed" && Number(d.amount) === 0;
      return {
        subject: `Payment not matched to any booking: ${money(d)}${
          str(d.payment_intent_id) ? ` (${d.payment_intent_id})` : ""
        }`,
        sections: [
          happened(ctx, [
            `Stripe reported ${
              free ? "a completed Checkout that owed nothing (100 % discount)" : "money received"
            } that matches no booking, and none appeared within the grace window after the ` +
            "event. No booking was confirmed and nothing was sent to Guestly.",
          ]),
          bookingSection(ctx),
          {
            title: "Payment",
            rows: [
              ...paymentRows,
              ...(str(d.booking_ref)
                ? [["Booking reference sent", String(d.booking_ref)] as Row]
                : []),
              ...(str(d.checkout_session_id)
                ? [["Checkout session", String(d.checkout_session_id)] as Row]
                : []),
              ...eventRows(d),
            ],
          },
          {
            title: "What to do",
            lines: [
              "If a booking now shows this payment intent (its Checkout session event came later), " +
              "nothing is left to do: it is confirmed.",
              "Otherwise find the payment in the Stripe Dashboard. If it belongs to a booking, the " +
              "website did not put the booking id on the Stripe objects (see docs/stripe-webhooks.md): " +
              "confirm that booking by hand and fix the website. If it belongs to no booking, refund it.",
            ],
          },
        ],
      };
    }
    case "payment_for_cancelled_booking":
      return {
        subject: `Payment for a ${status} booking: ${who(ctx)} (${money(d)})`,
        sections: [
          happened(ctx, [
            `Stripe reported a payment for a booking that is ${status}. The money was NOT applied: ` +
            "the booking stays as it is and nothing was sent to Guestly.",
          ]),
          bookingSection(ctx),
          { title: "Payment", rows: [...paymentRows, ...eventRows(d)] },
          {
            title: "What to do",
            lines: [
              "Refund this payment in the Stripe Dashboard, or, if the guest is to have the stay " +
              "after all, make a new booking for them (a cancelled booking never comes back by itself).",
            ],
          },
        ],
      };
    case "duplicate_payment":
      return {
        subject: `Second payment for ${who(ctx)} (${money(d)})`,
        sections: [
          happened(ctx, [
            `The booking was already paid by ${
              str(d.booking_payment_intent_id) ?? "(no payment intent: confirmed another way)"
            }; this is a different payment. The booking and its Guestly reservation are unchanged.`,
          ]),
          bookingSection(ctx),
          { title: "Second payment", rows: [...paymentRows, ...eventRows(d)] },
          {
            title: "What to do",
            lines: [
              str(d.booking_payment_intent_id)
                ? "Check both payments in the Stripe Dashboard and refund the second one (a " +
                  "refund of it does not touch the booking, which stays paid by the first)."
                : "The booking has no Stripe payment of its own: it was confirmed by a free " +
                  "Checkout, or by hand with a payment already recorded, or this payment's amount " +
                  "differs from the booking's (a payment of the booking's amount is taken as its " +
                  "payment). Check whether the guest paid twice before refunding: if this is the " +
                  "stay's only payment, keep it and correct the booking instead.",
            ],
          },
        ],
      };
    case "payment_disputed":
      return {
        subject: `Payment disputed: ${who(ctx)} (${money(d)}, reason: ${
          str(d.dispute_reason) ?? "unknown"
        })`,
        sections: [
          happened(ctx, [
            "The guest disputed the charge with their bank. Stripe has taken the disputed amount " +
            "from the balance until the dispute is decided. The booking and its Guestly " +
            "reservation are unchanged.",
          ]),
          bookingSection(ctx),
          {
            title: "Dispute",
            rows: [
              ["Amount", money(d)],
              ["Reason", str(d.dispute_reason) ?? "(not given)"],
              ["Status", str(d.dispute_status) ?? "(not given)"],
              ["Evidence due by", formatTime(str(d.evidence_due_by))],
              ["Dispute", str(d.dispute_id) ?? "(none)"],
              ["Charge", str(d.charge_id) ?? "(none)"],
              ["Payment intent", str(d.payment_intent_id) ?? "(none)"],
              ["Stripe Dashboard", dashboardUrl(d, "disputes")],
              ...eventRows(d),
            ],
          },
          {
            title: "What to do",
            lines: [
              "Answer the dispute in the Stripe Dashboard before the evidence deadline (booking " +
              "details above, the confirmation sent to the guest, the stay dates), or accept it. " +
              "If you accept it and the stay is off, cancel the booking and its Guestly reservation.",
            ],
          },
        ],
      };
    case "partial_refund":
      return {
        subject: `Partial refund: ${who(ctx)} (${money(d)} of ${
          money(d, "charge_amount")
        } refunded)`,
        sections: [
          happened(ctx, [
            `Part of the payment was refunded in Stripe. The booking stays ${status} and its ` +
            "Guestly reservation is unchanged: only a full refund cancels it.",
            ...(status === "pending_payment"
              ? [
                "The booking still waits for its payment: Guestly records this refund with the " +
                "payment, once the payment arrives.",
              ]
              : []),
          ]),
          bookingSection(ctx),
          {
            title: "Refund",
            rows: [
              ["Refunded so far", money(d)],
              ["Charge amount", money(d, "charge_amount")],
              ["Charge", str(d.charge_id) ?? "(none)"],
              ...paymentRows.slice(1),
              ...eventRows(d),
            ],
          },
          {
            title: "What to do",
            lines: [
              "If the stay changed (fewer nights or guests), change the reservation in Guestly by " +
              "hand. If the booking should be cancelled, refund the rest: a full refund cancels it " +
              "in Guestly automatically.",
            ],
          },
        ],
      };
    case "refund_unmatched":
      return {
        subject: `Refund not matched to any booking: ${money(d)}${
          str(d.payment_intent_id) ? ` (${d.payment_intent_id})` : ""
        }`,
        sections: [
          happened(ctx, [
            "Stripe reported a refund of a payment that no booking has. Nothing was changed on " +
            "any booking and nothing was sent to Guestly. The refund stays listed (unmatched) in " +
            "stripe_events_needing_attention until a booking takes its payment intent; then it is " +
            'applied to that booking and you get a "matched late" email.',
          ]),
          bookingSection(ctx),
          {
            title: "Refund",
            rows: [
              ["Refunded so far", money(d)],
              ["Charge amount", money(d, "charge_amount")],
              ["Charge", str(d.charge_id) ?? "(none)"],
              ...paymentRows.slice(1),
              ...(str(d.booking_ref)
                ? [["Booking reference sent", String(d.booking_ref)] as Row]
                : []),
              ...eventRows(d),
            ],
          },
          {
            title: "What to do",
            lines: [
              'If you refunded a payment you were told was "not matched to any booking", nothing ' +
              "is left to do now. If that payment turns out to belong to a booking (its Checkout " +
              "event arrives late, or you confirm the booking with this payment intent), the " +
              "payment and this refund are applied to it and you are told.",
              "Otherwise find the payment in the Stripe Dashboard. If it belongs to a booking, " +
              "give that booking this payment intent (set its stripe_payment_intent_id, see " +
              'docs/operations.md, "Money that arrived before its booking"): the payment and ' +
              "this refund are then applied to it.",
            ],
          },
        ],
      };
    case "money_matched_late":
      return matchedLateEmail(ctx, d);
    default:
      return null;
  }
}
