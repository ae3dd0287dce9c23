// Guestly's webhook signatures (Standard Webhooks / Svix): both header families, the 5-minute
// tolerance both ways, forged and altered requests, secret rotation. Signed with the
// standardwebhooks package, as Guestly's sender (and our sandbox) sign.
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import {
  looksSigned,
  verifyGuestlySignature,
} from "../../functions/_shared/guestly-webhook/verify.ts";

const SECRET = "whsec_" + btoa("guestly-webhook-unit-test-secret");
const OTHER = "whsec_" + btoa("somebody-else-s-secret-entirely");
const BODY = JSON.stringify({
  event: "reservation.updated.v2",
  reservationId: "64f1a2b3c4d5e6f7a8b9c0aa",
  publishedAt: "2026-12-02T10:00:00.000Z",
});

function headers(
  family: "webhook" | "svix",
  opts: { secret?: string; at?: Date; body?: string; id?: string; extraSignature?: string } = {},
): Headers {
  const at = opts.at ?? new Date();
  const id = opts.id ?? "msg_2abc";
  const signature = new Webhook(opts.secret ?? SECRET).sign(id, at, opts.body ?? BODY);
  return new Headers({
    [`${family}-id`]: id,
    [`${family}-timestamp`]: String(Math.floor(at.getTime() / 1000)),
    [`${family}-signature`]: opts.extraSignature
      ? `${opts.extraSignature} ${signature}`
      : signature,
  });
}

for (const family of ["webhook", "svix"] as const) {
  Deno.test(`${family}-* headers: a correct signature is accepted, with the message id`, () => {
    const result = verifyGuestlySignature(SECRET, BODY, headers(family));
    assert.ok(result.ok);
    assert.equal(result.messageId, "msg_2abc");
    assert.deepEqual(result.body, JSON.parse(BODY));
  });
}

Deno.test("a signature by another secret is refused (401), naming the secret", () => {
  const result = verifyGuestlySignature(SECRET, BODY, headers("svix", { secret: OTHER }));
  assert.equal(result.ok, false);
  assert.ok(!result.ok && result.status === 401 && /GUESTLY_WEBHOOK_SECRET/.test(result.error));
});

Deno.test("a changed body is refused: the signature covers the raw bytes", () => {
  const sent = headers("webhook");
  const reformatted = JSON.stringify(JSON.parse(BODY), null, 2);
  assert.equal(verifyGuestlySignature(SECRET, reformatted, sent).ok, false);
  const tampered = BODY.replace("updated", "created");
  assert.equal(verifyGuestlySignature(SECRET, tampered, sent).ok, false);
});

Deno.test("a changed message id is refused (the id is signed: no replay under a new id)", () => {
  const h = headers("webhook");
  h.set("webhook-id", "msg_other");
  assert.equal(verifyGuestlySignature(SECRET, BODY, h).ok, false);
});

Deno.test("tolerance: 4 minutes old or ahead passes; 6 minutes old or ahead is refused", () => {
  const minutes = (m: number) => new Date(Date.now() + m * 60_000);
  assert.ok(verifyGuestlySignature(SECRET, BODY, headers("svix", { at: minutes(-4) })).ok);
  assert.ok(verifyGuestlySignature(SECRET, BODY, headers("svix", { at: minutes(4) })).ok);
  for (const m of [-6, 6]) {
    const result = verifyGuestlySignature(SECRET, BODY, headers("svix", { at: minutes(m) }));
    assert.ok(!result.ok && result.status === 401 && /5-minute tolerance/.test(result.error));
  }
});

Deno.test("rotation: one valid v1 entry among several is enough", () => {
  const result = verifyGuestlySignature(
    SECRET,
    BODY,
    headers("webhook", { extraSignature: "v1,bm90LXRoZS1yaWdodC1zaWduYXR1cmU=" }),
  );
  assert.ok(result.ok);
});

Deno.test("missing or half-present headers are refused with what is required", () => {
  const none = verifyGuestlySignature(SECRET, BODY, new Headers());
  assert.ok(!none.ok && none.status === 401 && /webhook-id/.test(none.error));
  const half = headers("svix");
  half.delete("svix-signature");
  assert.equal(verifyGuestlySignature(SECRET, BODY, half).ok, false);
  assert.ok(looksSigned(half));
  assert.equal(looksSigned(new Headers({ apikey: "sb_secret_x" })), false);
});

Deno.test("a correctly signed body that is not JSON is a 400, not a signature error", () => {
  const text = "not json";
  const result = verifyGuestlySignature(SECRET, text, headers("webhook", { body: text }));
  assert.ok(!result.ok && result.status === 400);
});
