// Guestly's webhook subscriptions as the client reads them (`/webhooks`, `/webhooks-v2/secret`),
// and the one decision `guestly:webhook register` makes: add a subscription for our URL, or
// widen the one it already has. Pure.
import { z } from "zod";
import { APPLIED_EVENT_TYPES } from "./event.ts";

export const WebhookSubscription = z.object({
  _id: z.string(),
  url: z.string(),
  events: z.array(z.string()).default([]),
}).passthrough();
export type WebhookSubscription = z.infer<typeof WebhookSubscription>;

/** Guesty answers a list as an array; some of its list endpoints wrap it in `{results}`. */
export const WebhookSubscriptionList = z.union([
  z.array(WebhookSubscription),
  z.object({ results: z.array(WebhookSubscription) }).transform((r) => r.results),
]);

export const WebhookSecret = z.object({ secret: z.string().startsWith("whsec_") });

export type RegisterPlan =
  | { action: "create"; url: string; events: string[] }
  | { action: "update"; id: string; url: string; events: string[] }
  | { action: "none"; id: string };

/** Our subscription must carry both v2 reservation events; other events it has are kept. */
export function planRegistration(existing: WebhookSubscription[], url: string): RegisterPlan {
  const ours = existing.find((s) => s.url === url);
  if (!ours) return { action: "create", url, events: [...APPLIED_EVENT_TYPES] };
  const missing = APPLIED_EVENT_TYPES.filter((e) => !ours.events.includes(e));
  if (missing.length === 0) return { action: "none", id: ours._id };
  return { action: "update", id: ours._id, url, events: [...ours.events, ...missing] };
}
