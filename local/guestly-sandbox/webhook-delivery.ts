// What the sandbox sends its webhook subscribers: on every change of a reservation's stay (made
// through the API, the admin API or the inspector) one v2 event, signed Standard Webhooks / Svix
// style with the account's secret, POSTed to every subscription of that event, retried on a
// non-2xx answer or no answer along a Svix-like schedule; and the delivery faults (drop,
// duplicate, delay, reorder). Assumptions: docs/guestly-api.md, "Webhooks (sandbox model)".

import { Webhook } from "standardwebhooks";
import type { Reservation, SandboxState } from "./state.ts";
import {
  type DeliveryAttempt,
  logDelivery,
  type ReservationEvent,
  webhooks,
  type WebhookState,
} from "./webhooks.ts";

/** The stay details a v2 payload carries (lean: no guest, money or custom fields). */
function stayOf(r: Reservation): Record<string, unknown> {
  return {
    status: r.status,
    listingId: r.listingId,
    checkInDateLocalized: r.checkInDateLocalized,
    checkOutDateLocalized: r.checkOutDateLocalized,
    guestsCount: r.guestsCount,
  };
}

/** Guesty-style change subtypes from what differs between two stays. */
function subTypes(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (before.status !== after.status) out.push("status");
  if (
    before.checkInDateLocalized !== after.checkInDateLocalized ||
    before.checkOutDateLocalized !== after.checkOutDateLocalized
  ) out.push("dates");
  if (before.guestsCount !== after.guestsCount) out.push("guestsCount");
  if (before.listingId !== after.listingId) out.push("listing");
  return out;
}

interface Message {
  id: string;
  event: ReservationEvent;
  reservationId: string;
  publishedAt: string;
  /** The exact bytes every attempt sends (and signs). */
  body: string;
}

/**
 * Called wherever a reservation changed for good (the fault layer after a committed mutation,
 * the admin API's OTA reservations and host changes). A change that leaves the stay as it was
 * (a payment, a guest's email) makes no reservation event: Guesty reports money elsewhere.
 */
export function reservationChanged(state: SandboxState, reservationId: string): void {
  const r = state.reservations.get(reservationId);
  if (!r) return;
  const ws = webhooks(state);
  const after = stayOf(r);
  const before = ws.snapshots.get(reservationId);
  const types = before ? subTypes(before, after) : [];
  if (before && types.length === 0) return;
  ws.snapshots.set(reservationId, after);
  const event: ReservationEvent = before ? "reservation.updated.v2" : "reservation.created.v2";
  // Strictly increasing: two changes in the same millisecond still order.
  ws.lastPublishedMs = Math.max(Date.now(), ws.lastPublishedMs + 1);
  const publishedAt = new Date(ws.lastPublishedMs).toISOString();
  const subscribers = [...ws.subscriptions.values()].filter((s) => s.events.includes(event));
  for (const sub of subscribers) {
    const id = `msg_${crypto.randomUUID().replaceAll("-", "")}`;
    const payload = {
      event,
      eventId: crypto.randomUUID(),
      publishedAt,
      reservationId,
      ...(before ? { subTypes: types } : {}),
      reservation: {
        _id: r._id,
        confirmationCode: r.confirmationCode,
        source: r.source,
        ...after,
        ...(r.canceledBy ? { canceledBy: r.canceledBy } : {}),
        lastUpdatedAt: r.lastUpdatedAt,
      },
    };
    const message = { id, event, reservationId, publishedAt, body: JSON.stringify(payload) };
    dispatch(state, ws, sub._id, sub.url, message);
  }
}

function picked(state: SandboxState, rate: number): boolean {
  return rate > 0 && state.random() < rate;
}

function record(
  ws: WebhookState,
  subscriptionId: string,
  url: string,
  m: Message,
  fields: Partial<DeliveryAttempt>,
): void {
  logDelivery(ws, {
    messageId: m.id,
    event: m.event,
    reservationId: m.reservationId,
    publishedAt: m.publishedAt,
    subscriptionId,
    url,
    attempt: 0,
    status: 0,
    fault: null,
    error: null,
    sentAt: new Date().toISOString(),
    durationMs: 0,
    willRetry: false,
    ...fields,
  });
}

/** Applies the delivery faults, then starts the delivery (twice for a duplicate). */
function dispatch(
  state: SandboxState,
  ws: WebhookState,
  subscriptionId: string,
  url: string,
  m: Message,
): void {
  const f = ws.faults;
  if (f.dropNext > 0 || picked(state, f.dropRate)) {
    if (f.dropNext > 0) f.dropNext--;
    return record(ws, subscriptionId, url, m, { fault: "dropped" });
  }
  const duplicate = f.duplicateNext > 0 || picked(state, f.duplicateRate);
  if (f.duplicateNext > 0) f.duplicateNext--;
  const generation = ws.generation;
  const start = async () => {
    try {
      if (ws.faults.delayMs > 0) await state.sleep(ws.faults.delayMs);
      await deliver(state, ws, generation, subscriptionId, url, m, null);
      if (duplicate) await deliver(state, ws, generation, subscriptionId, url, m, "duplicate");
    } catch (e) {
      if (!state.quiet) console.error("[guestly-sandbox] webhook delivery failed", e);
    }
  };
  if (f.reorderNext > 0) {
    f.reorderNext--;
    ws.held.push({ send: start });
    if (f.reorderNext === 0) releaseHeld(ws);
    else if (!ws.heldTimer) ws.heldTimer = setTimeout(() => releaseHeld(ws), f.reorderHoldMs);
    return;
  }
  void start();
}

/**
 * Held messages go out newest first, one after the other (each once the one before it is
 * delivered), so the receiver sees them in exactly the reverse order.
 */
function releaseHeld(ws: WebhookState): void {
  if (ws.heldTimer) clearTimeout(ws.heldTimer);
  ws.heldTimer = null;
  const held = ws.held.reverse();
  ws.held = [];
  void (async () => {
    for (const h of held) await h.send();
  })();
}

/** The three headers of one attempt: a fresh timestamp and signature, the same message id. */
export function signedHeaders(
  secret: string,
  family: "svix" | "webhook",
  messageId: string,
  body: string,
  at = new Date(),
): Record<string, string> {
  const signature = new Webhook(secret).sign(messageId, at, body);
  return {
    [`${family}-id`]: messageId,
    [`${family}-timestamp`]: String(Math.floor(at.getTime() / 1000)),
    [`${family}-signature`]: signature,
  };
}

async function deliver(
  state: SandboxState,
  ws: WebhookState,
  generation: number,
  subscriptionId: string,
  url: string,
  m: Message,
  fault: string | null,
): Promise<void> {
  const schedule = ws.config.retryScheduleMs;
  for (let attempt = 1;; attempt++) {
    if (ws.generation !== generation) return; // reset: this delivery belongs to the past
    const started = performance.now();
    let status = 0;
    let error: string | null = null;
    try {
      const response = await ws.fetch(url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "User-Agent": "Guestly-Sandbox-Webhooks/1.0",
          ...signedHeaders(ws.secret, ws.config.headerFamily, m.id, m.body),
        },
        body: m.body,
        signal: AbortSignal.timeout(ws.config.timeoutMs),
      });
      status = response.status;
      const text = await response.text();
      if (status < 200 || status >= 300) error = text.slice(0, 300);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    const ok = status >= 200 && status < 300;
    const willRetry = !ok && attempt <= schedule.length;
    record(ws, subscriptionId, url, m, {
      attempt,
      status,
      error,
      fault,
      durationMs: Math.round(performance.now() - started),
      willRetry,
    });
    if (!willRetry) return;
    await state.sleep(schedule[attempt - 1]);
  }
}
