// A Guestly webhook payload as a typed value. v2 reservation events are lean: the event, when it
// was published, the reservation id, which parts changed, and the stay (status, listing, dates,
// guests) — no guest, money or custom fields (docs/guestly-api.md, "Webhooks (sandbox model)").
// Any other event type is recorded as sent and ignored, so its shape is not checked here.
import { z } from "zod";

export const APPLIED_EVENT_TYPES = ["reservation.created.v2", "reservation.updated.v2"] as const;

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}/).transform((v) => v.slice(0, 10));

/** What every payload must have for us to record it. */
const Envelope = z.object({
  event: z.string({ required_error: "event is required" }).min(1),
  eventId: z.string().nullish(),
  publishedAt: z.string().datetime({ offset: true }).nullish(),
  reservationId: z.string().nullish(),
  subTypes: z.array(z.string()).nullish(),
}).passthrough();

/** The stay details of a v2 reservation payload; any of them may be missing. */
export const Stay = z.object({
  _id: z.string().nullish(),
  status: z.string().nullish(),
  source: z.string().nullish(),
  listingId: z.string().nullish(),
  checkInDateLocalized: day.nullish(),
  checkOutDateLocalized: day.nullish(),
  guestsCount: z.number().int().positive().nullish(),
  canceledBy: z.string().nullish(),
}).passthrough();
export type Stay = z.infer<typeof Stay>;

export interface GuestlyEvent {
  messageId: string;
  type: string;
  eventId: string | null;
  publishedAt: string | null;
  reservationId: string | null;
  subTypes: string[];
  payload: Record<string, unknown>;
}

export function isAppliedType(type: string): boolean {
  return (APPLIED_EVENT_TYPES as readonly string[]).includes(type);
}

export function parseGuestlyEvent(
  messageId: string,
  body: unknown,
): { ok: true; event: GuestlyEvent } | { ok: false; error: string } {
  const parsed = Envelope.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, error: `${issue.path.join(".") || "body"}: ${issue.message}` };
  }
  const e = parsed.data;
  const reservation = (e.reservation ?? null) as Record<string, unknown> | null;
  const reservationId = e.reservationId ??
    (typeof reservation?._id === "string" ? reservation._id : null);
  if (isAppliedType(e.event) && !reservationId) {
    return { ok: false, error: "reservationId: required for reservation events" };
  }
  return {
    ok: true,
    event: {
      messageId,
      type: e.event,
      eventId: e.eventId ?? null,
      publishedAt: e.publishedAt ?? null,
      reservationId: reservationId ?? null,
      subTypes: e.subTypes ?? [],
      payload: body as Record<string, unknown>,
    },
  };
}

/** The stay the payload carries, or null when it lacks what applying needs. */
export function stayFromPayload(payload: Record<string, unknown>): Stay | null {
  const parsed = Stay.safeParse(payload.reservation);
  if (!parsed.success) return null;
  const s = parsed.data;
  return s.status && s.checkInDateLocalized && s.checkOutDateLocalized && s.guestsCount ? s : null;
}
