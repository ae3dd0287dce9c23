// Guestly signs its webhooks the Standard Webhooks / Svix way: base64 HMAC-SHA256 of
// `{id}.{timestamp}.{raw body}` with the account's `whsec_…` secret, in `webhook-signature`
// (`svix-signature` from Svix-branded senders), 5 minutes of tolerance either way. Verification
// is the `standardwebhooks` package's, on the raw body; this module only picks the header family
// and turns its errors into answers a sender's operator can act on. Pure but for the clock the
// package reads itself (Date.now).
import { Webhook, WebhookVerificationError } from "standardwebhooks";

export type Verified = { ok: true; messageId: string; timestamp: number; body: unknown };
export type Refused = { ok: false; status: 400 | 401; error: string };

const FAMILIES = ["webhook", "svix"] as const;

/** The id/timestamp/signature headers of whichever family the request carries. */
export function signatureHeaders(headers: Headers): Record<string, string> | null {
  for (const family of FAMILIES) {
    const id = headers.get(`${family}-id`);
    const timestamp = headers.get(`${family}-timestamp`);
    const signature = headers.get(`${family}-signature`);
    if (id || timestamp || signature) {
      if (!id || !timestamp || !signature) return null;
      return { "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": signature };
    }
  }
  return null;
}

/** Whether the request claims to come from Guestly (carries any signature header). */
export function looksSigned(headers: Headers): boolean {
  return FAMILIES.some((f) =>
    headers.has(`${f}-id`) || headers.has(`${f}-timestamp`) || headers.has(`${f}-signature`)
  );
}

export function verifyGuestlySignature(
  secret: string,
  rawBody: string,
  headers: Headers,
): Verified | Refused {
  const picked = signatureHeaders(headers);
  if (!picked) {
    return {
      ok: false,
      status: 401,
      error: "missing signature headers: webhook-id, webhook-timestamp and webhook-signature " +
        "(or svix-id, svix-timestamp and svix-signature) are required",
    };
  }
  let body: unknown;
  try {
    body = new Webhook(secret).verify(rawBody, picked);
  } catch (error) {
    if (error instanceof SyntaxError) {
      return { ok: false, status: 400, error: "body is not JSON (the signature matched)" };
    }
    const message = error instanceof WebhookVerificationError ? error.message : String(error);
    return { ok: false, status: 401, error: explain(message) };
  }
  return {
    ok: true,
    messageId: picked["webhook-id"],
    timestamp: Number(picked["webhook-timestamp"]),
    body,
  };
}

function explain(message: string): string {
  if (/too old|too new/i.test(message)) {
    return "invalid signature: timestamp outside the 5-minute tolerance (replayed, delayed or " +
      "a clock far off)";
  }
  if (/No matching signature/i.test(message)) {
    return "invalid signature: it does not match GUESTLY_WEBHOOK_SECRET and the body (wrong " +
      "secret, or the body was changed)";
  }
  if (/Invalid Signature Headers/i.test(message)) {
    return "invalid signature headers: the timestamp is not a number of seconds";
  }
  return `invalid signature: ${message}`;
}
