// HTTP edge of guestly-webhook. Two callers:
//  - Guestly, with a signed delivery: verify the signature on the raw body, record the event in
//    the ledger, answer 200 at once (a redelivery too: nothing changes), and apply it after the
//    answer. A bad or missing signature is 401 and nothing is recorded; a signed body that is
//    not an event is 400; a ledger we cannot write is 500, so Guestly delivers again.
//  - the database's sweep (pg_net, with the project's secret key): `{"reapply": [messageIds]}`
//    applies events that were recorded but never applied (the apply after an answer was lost).
import { z } from "zod";
import { json, readBodyAtMost, readJsonBody } from "../http.ts";
import { refuseUnlessServiceKey, type ServiceKeys } from "../service-keys.ts";
import { type ApplyDeps, applyEvent, type ApplyOutcome } from "./apply.ts";
import { parseGuestlyEvent } from "./event.ts";
import type { EventLedger } from "./store.ts";
import { looksSigned, verifyGuestlySignature } from "./verify.ts";

export const MAX_BODY_BYTES = 1024 * 1024;

export interface GuestlyWebhookDeps extends Omit<ApplyDeps, "store"> {
  secret: string;
  ledger: EventLedger;
  serviceKeys: ServiceKeys;
  /** Keeps work running after the answer (EdgeRuntime.waitUntil on the platform). */
  afterResponse: (work: Promise<unknown>) => void;
  now: () => number;
}

const Reapply = z.object({
  reapply: z.array(z.string().min(1)).min(1, "reapply must name at least one message id").max(
    200,
  ),
});

export function createGuestlyWebhookHandler(deps: GuestlyWebhookDeps) {
  const { log } = deps;
  const applyDeps: ApplyDeps = { ...deps, store: deps.ledger };

  const reject = (status: number, error: string) => {
    log.warn("guestly.webhook.rejected", { status, reason: error });
    return json(status, { error });
  };

  const applyLogged = async (messageId: string): Promise<ApplyOutcome> => {
    const started = deps.now();
    try {
      const result = await applyEvent(messageId, applyDeps);
      log.info("guestly.webhook.applied", {
        message_id: messageId,
        outcome: result.outcome,
        reason: "reason" in result ? result.reason : undefined,
        booking_id: "bookingId" in result ? result.bookingId : undefined,
        changes: "changes" in result ? result.changes : undefined,
        deferred: "deferred" in result ? result.deferred : undefined,
        ms: Math.round(deps.now() - started),
      });
      return result;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log.error("guestly.webhook.apply_failed", { message_id: messageId, error: message });
      // The sweep comes back for it (its next attempt time was set when it was recorded).
      await deps.ledger.fail(messageId, message).catch(() => {});
      return { outcome: "retry_later", error: message };
    }
  };

  async function fromGuestly(request: Request): Promise<Response> {
    const started = deps.now();
    const bytes = await readBodyAtMost(request, MAX_BODY_BYTES);
    if (bytes === null) return reject(413, `body too large: the limit is ${MAX_BODY_BYTES} bytes`);
    const raw = new TextDecoder().decode(bytes);
    const verified = verifyGuestlySignature(deps.secret, raw, request.headers);
    if (!verified.ok) return reject(verified.status, verified.error);
    const parsed = parseGuestlyEvent(verified.messageId, verified.body);
    if (!parsed.ok) return reject(400, `not a Guestly event: ${parsed.error}`);
    const event = parsed.event;
    let recorded;
    try {
      recorded = await deps.ledger.record(event);
    } catch (error) {
      log.error("guestly.webhook.record_failed", {
        message_id: event.messageId,
        type: event.type,
        error: error instanceof Error ? error.message : String(error),
      });
      return json(500, { error: "could not record the event; Guestly will deliver it again" });
    }
    log.info("guestly.webhook.received", {
      message_id: event.messageId,
      type: event.type,
      reservation_id: event.reservationId,
      published_at: event.publishedAt,
      sub_types: event.subTypes,
      duplicate: recorded.duplicate,
      pending: recorded.pending,
      ms: Math.round(deps.now() - started),
    });
    if (recorded.pending) deps.afterResponse(applyLogged(event.messageId));
    return json(200, {
      received: true,
      duplicate: recorded.duplicate,
      ...(recorded.outcome ? { outcome: recorded.outcome } : {}),
    });
  }

  async function reapply(request: Request): Promise<Response> {
    const refused = await refuseUnlessServiceKey(
      deps.serviceKeys,
      request,
      (hint) => log.warn("guestly.webhook.unauthorized", { hint }),
    );
    if (refused) return refused;
    const body = await readJsonBody(request);
    if (!body.ok) return body.response;
    const parsed = Reapply.safeParse(body.body);
    if (!parsed.success) return json(400, { error: parsed.error.issues[0].message });
    const results: Record<string, ApplyOutcome> = {};
    for (const id of parsed.data.reapply) results[id] = await applyLogged(id);
    return json(200, { results });
  }

  return async (request: Request): Promise<Response> => {
    if (request.method !== "POST") {
      return json(405, { error: "method not allowed: use POST" }, { Allow: "POST" });
    }
    if (looksSigned(request.headers)) return await fromGuestly(request);
    const hasKey = request.headers.has("apikey") || request.headers.has("authorization");
    if (!hasKey) {
      return reject(
        401,
        "missing signature headers: webhook-id, webhook-timestamp and webhook-signature " +
          "(or svix-id, svix-timestamp and svix-signature) are required",
      );
    }
    return await reapply(request);
  };
}
