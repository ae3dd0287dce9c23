// Hostile and unusual input against the running stack: what stripe-webhook and guestly-sync
// answer to garbage, forgeries, replays, oversized and mislabelled bodies — and that none of it
// changes a booking or leaves a ledger row — plus guest names in many scripts travelling
// webhook → trigger → pg_net → guestly-sync → Guestly byte for byte.
//
// What the webhook answers (documented here, asserted below):
//   random bytes / garbage or missing Stripe-Signature      → 400 (nothing recorded)
//   body over 1 MB (declared, or streamed without a length) → 413
//   valid signature, Content-Type text/plain or none        → handled like application/json:
//                                                              the signature over the raw bytes is
//                                                              what counts, not the label (200)
//   valid signature over a multipart or form-encoded body   → 400 "body is not JSON"
//   valid signature over JSON that is not a Stripe event    → 400 "not a Stripe event: …"
//   valid signature, altered body / other secret            → 400
//   timestamp more than 5 min in the past (replay)          → 400 (tolerance)
//   timestamp more than 5 min in the future                 → 400 expected (see the test)
//   a correctly signed payment of the wrong amount          → 200, ledger outcome amount_mismatch,
//                                                              booking unchanged
import assert from "node:assert/strict";
import postgres from "postgres";
import { SignJWT } from "jose";
import {
  connect,
  insertBooking,
  invokeFunction,
  keys,
  PROPERTY,
  sandbox,
  stack,
  waitFor,
} from "./harness.ts";
import { signatureFor, stripeEvent, uniqueId } from "../fixtures/stripe/events.ts";

const WEBHOOK = `${stack.functionsUrl}/stripe-webhook`;
const SECRET = stack.stripeWebhookSecret;
const opts = { sanitizeResources: false, sanitizeOps: false };
const now = () => Math.floor(Date.now() / 1000);

async function post(
  body: BodyInit | null,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  const response = await fetch(WEBHOOK, { method: "POST", headers, body });
  return { status: response.status, text: await response.text() };
}

/** A signed POST with any body bytes/text and any content type. */
async function signedPost(
  payload: string,
  contentType: string | null,
  options: { secret?: string; timestamp?: number } = {},
) {
  const signature = await signatureFor(payload, options.secret ?? SECRET, options.timestamp);
  return await post(payload, {
    ...(contentType ? { "Content-Type": contentType } : {}),
    "Stripe-Signature": signature,
  });
}

async function snapshot(sql: postgres.Sql, ids: string[]) {
  const rows = await sql`select * from public.bookings where id = any(${ids}::uuid[]) order by id`;
  return JSON.stringify(rows);
}

function paidEvent(bookingId: string, amount = 45000) {
  return stripeEvent("payment_intent.succeeded", {
    bookingId,
    amount,
    currency: "usd",
    paymentIntentId: uniqueId("pi"),
  });
}

// The return type is inferred: `Uint8Array<ArrayBuffer>` on TypeScript 5.7+, and written out it
// would not compile on the hosted runtime's Deno 2.1 (TypeScript 5.6).
function randomBytes(max: number) {
  const bytes = new Uint8Array(Math.floor(Math.random() * max));
  crypto.getRandomValues(bytes);
  return bytes;
}

function randomPrintable(length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) s += String.fromCharCode(32 + Math.floor(Math.random() * 95));
  return s;
}

function hex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test(
  "stripe-webhook: hostile input never changes a booking or writes a ledger row",
  opts,
  async () => {
    const sql = connect();
    try {
      const target = await insertBooking(sql, { amount: 45000, currency: "usd" });
      const mismatch = await insertBooking(sql, { amount: 45000, currency: "usd" });
      const ids = [target, mismatch];
      const before = await snapshot(sql, ids);
      /** Event ids that must never reach the ledger. */
      const refused: string[] = [];
      /** Event ids that are valid and must be in the ledger. */
      const accepted: string[] = [];

      // 50 random byte bodies with random, garbage or missing signatures.
      for (let i = 0; i < 50; i++) {
        const body = randomBytes(i % 10 === 0 ? 64 * 1024 : 2048);
        const kind = i % 5;
        const header = kind === 0
          ? null
          : kind === 1
          ? randomPrintable(1 + Math.floor(Math.random() * 200))
          : kind === 2
          ? `t=${now()},v1=${hex(32)}`
          : kind === 3
          ? await signatureFor("some other body", SECRET)
          : `t=${randomPrintable(8)},v1=,v0=${hex(4)}`;
        const answer = await post(body, {
          "Content-Type": i % 2 ? "application/json" : "application/octet-stream",
          ...(header === null ? {} : { "Stripe-Signature": header.trim() || "x" }),
        });
        assert.equal(answer.status, 400, `random body #${i} (${kind}): ${answer.text}`);
        assert.match(answer.text, /"error"/);
      }

      // 2 MB: refused (read to its end, never kept), with or without a Content-Length.
      const huge = JSON.stringify({ ...paidEvent(target), pad: "x".repeat(2 * 1024 * 1024) });
      refused.push(JSON.parse(huge).id);
      const declared = await signedPost(huge, "application/json");
      assert.equal(declared.status, 413, declared.text);
      const bytes = new TextEncoder().encode(huge);
      const streamed = await post(
        new ReadableStream({
          start(controller) {
            for (let i = 0; i < bytes.length; i += 64 * 1024) {
              controller.enqueue(bytes.subarray(i, i + 64 * 1024));
            }
            controller.close();
          },
        }),
        {
          "Content-Type": "application/json",
          "Stripe-Signature": await signatureFor(huge, SECRET),
        },
      );
      assert.equal(streamed.status, 413, streamed.text);

      // Wrong content types with an otherwise valid signature: the label is not what is checked.
      for (const contentType of ["text/plain", null, "application/octet-stream"]) {
        const event = stripeEvent("customer.created");
        const answer = await signedPost(JSON.stringify(event), contentType);
        assert.equal(answer.status, 200, `${contentType}: ${answer.text}`);
        assert.equal(JSON.parse(answer.text).outcome, "ignored");
        accepted.push(event.id);
      }
      const inForm = paidEvent(target);
      refused.push(inForm.id);
      const boundary = `----chaos${hex(8)}`;
      const multipart = `--${boundary}\r\nContent-Disposition: form-data; name="payload"\r\n` +
        `Content-Type: application/json\r\n\r\n${JSON.stringify(inForm)}\r\n--${boundary}--\r\n`;
      const asMultipart = await signedPost(multipart, `multipart/form-data; boundary=${boundary}`);
      assert.equal(asMultipart.status, 400, asMultipart.text);
      assert.match(asMultipart.text, /not JSON/);
      const asForm = await signedPost(
        new URLSearchParams({ payload: JSON.stringify(inForm) }).toString(),
        "application/x-www-form-urlencoded",
      );
      assert.equal(asForm.status, 400, asForm.text);

      // Signed, but not a Stripe event.
      for (const body of ["[]", "null", '"evt"', '{"id":"evt_x"}', "{}", "not json at all"]) {
        const answer = await signedPost(body, "application/json");
        assert.equal(answer.status, 400, `${body}: ${answer.text}`);
      }

      // A valid signature over an altered body.
      const original = paidEvent(target);
      refused.push(original.id);
      const text = JSON.stringify(original);
      const altered = await post(text.replace('"amount":45000', '"amount":45001'), {
        "Content-Type": "application/json",
        "Stripe-Signature": await signatureFor(text, SECRET),
      });
      assert.equal(altered.status, 400, altered.text);

      // Signed with another endpoint's secret.
      const foreign = paidEvent(target);
      refused.push(foreign.id);
      const other = await signedPost(JSON.stringify(foreign), "application/json", {
        secret: "whsec_another_endpoint_entirely",
      });
      assert.equal(other.status, 400, other.text);

      // Timestamps outside the 5-minute tolerance, and a replay of an event an hour old.
      for (const [label, offset] of [["6 min old", -360], ["replayed, 1 h old", -3600]] as const) {
        const event = paidEvent(target);
        refused.push(event.id);
        const answer = await signedPost(JSON.stringify(event), "application/json", {
          timestamp: now() + offset,
        });
        assert.equal(answer.status, 400, `${label}: ${answer.text}`);
        assert.match(answer.text, /tolerance/, label);
      }

      // A correctly signed payment of the wrong amount: recorded, booking left waiting.
      const wrongAmount = paidEvent(mismatch, 4500);
      accepted.push(wrongAmount.id);
      const answer = await signedPost(JSON.stringify(wrongAmount), "application/json");
      assert.equal(answer.status, 200, answer.text);
      assert.equal(JSON.parse(answer.text).outcome, "amount_mismatch");

      assert.equal(await snapshot(sql, ids), before, "no booking row changed");
      const ledger = await sql`select id, outcome from payments.stripe_events
                             where id = any(${[...refused, ...accepted]})
                                or booking_id = any(${ids}::uuid[])`;
      assert.deepEqual(ledger.map((r) => r.id).sort(), [...accepted].sort(), "only valid events");
      assert.equal(ledger.find((r) => r.id === wrongAmount.id)?.outcome, "amount_mismatch");
    } finally {
      await sql.end();
    }
  },
);

// Stripe's own library checks only how OLD a signature is. A timestamp far in the future can only
// come from someone holding the secret (or a broken clock), and it stretches the replay window:
// a request signed "1 h ahead" could be replayed for 65 minutes. It must be refused too.
Deno.test(
  "stripe-webhook: a signature dated more than 5 min in the future → 400",
  opts,
  async () => {
    const sql = connect();
    try {
      const id = await insertBooking(sql, { amount: 45000, currency: "usd" });
      const before = await snapshot(sql, [id]);
      const event = paidEvent(id);
      const answer = await signedPost(JSON.stringify(event), "application/json", {
        timestamp: now() + 3600,
      });
      assert.equal(answer.status, 400, `future timestamp: ${answer.status} ${answer.text}`);
      assert.equal(await snapshot(sql, [id]), before, "booking unchanged");
      const ledger = await sql`select id from payments.stripe_events where id = ${event.id}`;
      assert.equal(ledger.length, 0, "nothing recorded");
    } finally {
      await sql.end();
    }
  },
);

Deno.test(
  "guestly-sync: no key, anon, forged or foreign keys → 401; malformed ids → 400",
  opts,
  async () => {
    const id = crypto.randomUUID();
    assert.equal((await invokeFunction("guestly-sync", { bookingId: id }, null)).status, 401);
    assert.equal(
      (await invokeFunction("guestly-sync", { bookingId: id }, keys.anonKey)).status,
      401,
    );
    const forged = keys.serviceRoleKey.slice(0, -4) + "AAAA";
    assert.equal((await invokeFunction("guestly-sync", { bookingId: id }, forged)).status, 401);
    // A well-formed service_role token signed with someone else's secret.
    const foreign = await new SignJWT({ iss: "supabase-demo", role: "service_role" })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode("another-project-jwt-secret-of-32-characters!!"));
    assert.equal((await invokeFunction("guestly-sync", { bookingId: id }, foreign)).status, 401);
    // An unsigned token ("alg": "none") claiming service_role.
    const b64 = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, "");
    const unsigned = `${b64({ alg: "none", typ: "JWT" })}.${b64({ role: "service_role" })}.`;
    assert.equal((await invokeFunction("guestly-sync", { bookingId: id }, unsigned)).status, 401);

    for (const bookingId of ["42", "'; drop table public.bookings; --", `${id}x`, 42, null, ""]) {
      const answer = await invokeFunction("guestly-sync", { bookingId });
      assert.equal(answer.status, 400, `${JSON.stringify(bookingId)}: ${answer.text}`);
      assert.match(answer.text, /bookingId/, JSON.stringify(bookingId));
    }
    for (const body of ["[]", "not json", `{"bookingId": "${id}"`]) {
      assert.equal((await invokeFunction("guestly-sync", body)).status, 400, body);
    }
  },
);

const NAMES: Array<[string, string]> = [
  ['Zoë "Zee"', "O'Brien 🏖️"],
  ["山田", "太郎"],
  ["Åse", "Ølstrøm"],
  ["שרה", "עברית"],
  ["محمد", "देवनागरी"],
  // Decomposed (NFD) accents must not be normalized on the way.
  ["Jose\u0301", "Nu\u0303n\u0303ez"],
  ["👩‍👩‍👧", "Smith\u200DJones"],
  ["Robert'); DROP TABLE bookings;--", 'back\\slash \\" ${x} %s'],
];

Deno.test(
  "guest names in many scripts reach Guestly byte for byte through the whole path",
  opts,
  async () => {
    const sql = connect();
    try {
      const ids: string[] = [];
      for (const [first, last] of NAMES) {
        ids.push(
          await insertBooking(sql, {
            firstName: first,
            lastName: last,
            propertyId: PROPERTY.pineCabin,
            amount: 45000,
            currency: "usd",
          }),
        );
      }
      for (const id of ids) {
        const event = paidEvent(id);
        const answer = await signedPost(JSON.stringify(event), "application/json");
        assert.equal(answer.status, 200, answer.text);
        assert.equal(JSON.parse(answer.text).outcome, "confirmed");
      }
      await waitFor(
        "all unicode bookings synced",
        async () => {
          const [c] = await sql`select count(*)::int as n from public.bookings
                            where id = any(${ids}::uuid[]) and guestly_sync_status = 'synced'`;
          return c.n === ids.length;
        },
        60_000,
        250,
      );
      const encoder = new TextEncoder();
      for (const [i, id] of ids.entries()) {
        const [first, last] = NAMES[i];
        const [row] = await sql`select guest_first_name, guest_last_name from public.bookings
                              where id = ${id}`;
        assert.deepEqual([row.guest_first_name, row.guest_last_name], [first, last], "stored");
        const found = await sandbox.reservationsFor(id);
        assert.equal(found.length, 1, `${first} ${last}: one reservation`);
        const guest = found[0].guest as { firstName: string; lastName: string };
        assert.deepEqual(encoder.encode(guest.firstName), encoder.encode(first), first);
        assert.deepEqual(encoder.encode(guest.lastName), encoder.encode(last), last);
      }
    } finally {
      await sql.end();
    }
  },
);
