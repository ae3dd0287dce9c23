// Admin alerts end to end on the running stack: a booking Guestly rejects (sandbox fault on its
// own guest email) fails for good → guestly.record_failure writes one outbox row and wakes
// notify-admin through pg_net → one email in the mail catcher. The stack is shared with other
// suites: every booking, email and alert here is this file's own, and faults are changed by
// read-modify-write of the one email address.
import assert from "node:assert/strict";
import {
  booking,
  connect,
  insertBooking,
  invokeFunction,
  keys,
  mail,
  nextStay,
  PROPERTY,
  sandbox,
  setStatus,
  stack,
  waitFor,
} from "./harness.ts";
import { functionsEnv } from "../../../local/stack/env.ts";
import { signRetryToken } from "../../functions/_shared/notifications/retry-token.ts";

const sql = connect();

type Message = {
  id: string;
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  idempotencyKey: string | null;
};

async function messagesFor(bookingId: string): Promise<Message[]> {
  return (await mail.messages() as unknown as Message[]).filter((m) => m.text?.includes(bookingId));
}

async function alertsFor(bookingId: string) {
  return await sql`
    select id, kind, sent_at, send_attempts, last_error, next_attempt_at, provider_message_id
      from guestly.admin_alerts where booking_id = ${bookingId} order by created_at`;
}

/** The secret the running functions sign links with (as the stack was started). */
async function retryLinkSecret(): Promise<string> {
  const saved = await Deno.readTextFile(`${stack.stateDir}/run/gateway.env.json`)
    .then((text) => JSON.parse(text) as Record<string, string>)
    .catch(() => null);
  return saved?.RETRY_LINK_SECRET ?? (await functionsEnv(stack)).RETRY_LINK_SECRET;
}

/** A paid booking Guestly rejects: fails for good on its first attempt. */
async function failingBooking(tag: string, extra: { firstName?: string } = {}) {
  const stay = nextStay(4);
  const email = `alert-${tag}-${crypto.randomUUID().slice(0, 8)}@example.com`;
  const id = await insertBooking(sql, {
    firstName: extra.firstName ?? "Ada",
    lastName: "Lovelace",
    email,
    propertyId: PROPERTY.oceanView,
    amount: 64000,
    currency: "eur",
    ...stay,
  });
  const paymentIntent = `pi_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  await sql`update public.bookings set stripe_payment_intent_id = ${paymentIntent} where id = ${id}`;
  await sandbox.rejectGuest(email, true);
  return { id, email, paymentIntent, ...stay };
}

async function waitForFinalFailure(id: string) {
  return await waitFor(`booking ${id} to fail for good`, async () => {
    const row = await booking(sql, id);
    return row.guestly_sync_status === "failed" && row.guestly_sync_gave_up_at ? row : null;
  });
}

Deno.test({
  name: "a final failure sends exactly one complete email; its retry link works once",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const b = await failingBooking("one", { firstName: `<script>alert("x")</script>Ada` });
    try {
      await setStatus(sql, b.id, "confirmed");
      await waitForFinalFailure(b.id);
      const [message] = await waitFor("the alert email", async () => {
        const found = await messagesFor(b.id);
        return found.length ? found : null;
      });
      const [alert] = await alertsFor(b.id);

      await t.step("exactly one email, even when notify-admin is woken again", async () => {
        assert.equal((await invokeFunction("notify-admin", {})).status, 200);
        await sql`select guestly.wake_notify_admin()`;
        await new Promise((resolve) => setTimeout(resolve, 1500));
        const all = await messagesFor(b.id);
        assert.equal(all.length, 1, "one email per failure episode");
        assert.equal(all[0].idempotencyKey, alert.id, "idempotency key = alert id");
        const [after] = await alertsFor(b.id);
        assert.ok(after.sent_at, "marked sent");
        assert.equal(after.send_attempts, 1);
        assert.equal(after.provider_message_id, all[0].id);
      });

      await t.step("the email names everything an admin needs", async () => {
        const [attempt] = await sql`
          select started_at, http_status, error from guestly.sync_attempts
           where booking_id = ${b.id} order by id desc limit 1`;
        assert.equal(
          message.subject,
          `Guestly sync failed: booking ${b.id.slice(0, 8)}… — ` +
            `<script>alert("x")</script>Ada Lovelace at Ocean View Loft`,
        );
        assert.deepEqual(message.to, ["admin@rental.example"]);
        assert.match(message.from, /alerts@rental\.example/);
        const started = new Date(attempt.started_at).toISOString().slice(0, 19).replace("T", " ");
        for (
          const field of [
            b.id,
            b.email,
            "Lovelace",
            "Ocean View Loft",
            b.checkIn,
            b.checkOut,
            "€640.00",
            b.paymentIntent,
            String(attempt.http_status),
            attempt.error,
            `${started} UTC`,
            `npm run sync:retry -- ${b.id}`,
            "/functions/v1/retry-link?token=",
          ]
        ) {
          assert.ok(message.text.includes(field), `text lacks ${field}`);
          assert.ok(message.html.includes(field), `html lacks ${field}`);
        }
        assert.equal(attempt.http_status, 422);
        assert.ok(message.text.includes(`select guestly_retry_sync('${b.id}');`));
        assert.ok(!message.html.includes("<script>"), "the guest name is escaped in HTML");
        assert.ok(message.html.includes("&lt;script&gt;"));
        for (
          const secret of [keys.serviceRoleKey, await retryLinkSecret(), "re_local_mail_catcher"]
        ) {
          assert.ok(!message.text.includes(secret) && !message.html.includes(secret), "no secret");
        }
      });

      const link = /(http\S+\/functions\/v1\/retry-link\?token=[\w.-]+)/.exec(message.text)![1];
      const token = new URL(link).searchParams.get("token")!;

      await t.step("forged, tampered and expired links are refused with 403", async () => {
        const secret = await retryLinkSecret();
        const exp = Math.floor(Date.now() / 1000);
        const expired = await signRetryToken(
          { alertId: alert.id, bookingId: b.id, exp: exp - 1 },
          secret,
        );
        const forged = await signRetryToken(
          { alertId: alert.id, bookingId: b.id, exp: exp + 3600 },
          "not-the-secret",
        );
        const otherBody = (await signRetryToken(
          { alertId: alert.id, bookingId: crypto.randomUUID(), exp: exp + 3600 },
          "x",
        )).split(".")[0];
        const cases: Array<[string, RegExp]> = [
          [expired, /expired/],
          [forged, /signature does not match/],
          [`${otherBody}.${token.split(".")[1]}`, /signature does not match/],
          ["garbage", /malformed/],
        ];
        for (const [bad, message] of cases) {
          const response = await fetch(`${stack.functionsUrl}/retry-link?token=${bad}`);
          assert.equal(response.status, 403, bad);
          assert.match(await response.text(), message);
        }
        const used = await sql`select 1 from guestly.used_retry_links where link_id = ${alert.id}`;
        assert.equal(used.length, 0, "refused links use nothing up");
      });

      const isUsed = async () =>
        (await sql`select 1 from guestly.used_retry_links where link_id = ${alert.id}`).length > 0;
      const syncState = async () =>
        (await sql`
          select guestly_sync_status, guestly_sync_gave_up_at, guestly_sync_attempts
            from public.bookings where id = ${b.id}`)[0];

      await t.step("a mail scanner's GET and HEAD start nothing and spend nothing", async () => {
        const before = await syncState();
        const scans: RequestInit[] = [
          {},
          { method: "HEAD" },
          { headers: { "sec-purpose": "prefetch" } },
          { headers: { "user-agent": "Mozilla/5.0 (compatible; link scanner)", accept: "*/*" } },
        ];
        for (const init of scans) {
          const response = await fetch(link, init);
          assert.equal(response.status, 200, JSON.stringify(init));
          const page = await response.text();
          if (init.method !== "HEAD") {
            assert.match(page, new RegExp(`Retry the Guestly sync of booking ${b.id}\\?`));
            assert.match(page, /Nothing has been started/);
            assert.match(page, /<form method="post" action="\?">/);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 1500));
        assert.equal(await isUsed(), false, "the link is still unused");
        assert.deepEqual(await syncState(), before, "the booking was not moved");
        assert.equal((await alertsFor(b.id)).length, 1, "no new episode");
        assert.equal((await messagesFor(b.id)).length, 1, "no new email");
      });

      await t.step(
        "the button's POST starts the retry once (a new episode, a new email); a replay is 403",
        async () => {
          const press = () =>
            fetch(`${stack.functionsUrl}/retry-link`, {
              method: "POST",
              headers: {
                "content-type": "application/x-www-form-urlencoded",
                origin: new URL(stack.functionsUrl).origin,
                "sec-fetch-site": "same-origin",
              },
              body: new URLSearchParams({ token }).toString(),
            });
          const first = await press();
          assert.equal(first.status, 200);
          assert.match(await first.text(), new RegExp(`Retry started for booking ${b.id}`));
          assert.equal(await isUsed(), true);
          // Guestly still rejects the guest: the new round fails for good again → second email.
          const second = await waitFor("the second episode's email", async () => {
            const found = await messagesFor(b.id);
            return found.length === 2 ? found : null;
          });
          assert.notEqual(second[0].idempotencyKey, second[1].idempotencyKey);
          assert.equal((await alertsFor(b.id)).length, 2);
          // Scanners cannot start retries any more, so the failure after a link retry comes
          // with a fresh link of its own (for the new alert), not with none.
          const latest = second[1];
          const next = /(http\S+\/functions\/v1\/retry-link\?token=[\w.-]+)/.exec(latest.text);
          assert.ok(next, latest.text);
          assert.notEqual(next[1], link);
          for (let i = 0; i < 2; i++) {
            const again = await press();
            assert.equal(again.status, 403);
            assert.match(await again.text(), /This retry link was already used at/);
          }
          const reopened = await fetch(link);
          assert.equal(reopened.status, 403);
          assert.match(await reopened.text(), /already used/);
          await new Promise((resolve) => setTimeout(resolve, 500));
          assert.equal((await alertsFor(b.id)).length, 2, "a replayed link starts nothing");
        },
      );
    } finally {
      await sandbox.rejectGuest(b.email, false);
    }
  },
});

Deno.test({
  name: "Resend down: the alert is retried later and arrives exactly once",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const b = await failingBooking("down");
    try {
      let alertId: string;
      await mail.down(true);
      try {
        await setStatus(sql, b.id, "confirmed");
        await waitForFinalFailure(b.id);
        const [failed] = await waitFor("the failed send", async () => {
          const rows = await alertsFor(b.id);
          return rows.length && rows[0].last_error ? rows : null;
        });
        alertId = failed.id;
        assert.equal(failed.sent_at, null);
        assert.match(failed.last_error, /503/);
        assert.ok(new Date(failed.next_attempt_at).getTime() > Date.now(), "backoff scheduled");
      } finally {
        await mail.down(false);
      }
      assert.equal((await messagesFor(b.id)).length, 0);

      // The backoff is over; the pg_cron body wakes notify-admin (tests never wait for cron).
      await sql`update guestly.admin_alerts set next_attempt_at = now() where id = ${alertId}`;
      await sql`select guestly.wake_notify_admin()`;
      const [delivered] = await waitFor("the delayed email", async () => {
        const found = await messagesFor(b.id);
        return found.length ? found : null;
      });
      assert.equal(delivered.idempotencyKey, alertId);
      const [sent] = await waitFor("the alert marked sent", async () => {
        const rows = await alertsFor(b.id);
        return rows[0].sent_at ? rows : null;
      });
      assert.ok(sent.send_attempts >= 2);

      // A sender that died after Resend accepted but before marking: the lease runs out and the
      // alert goes again with the same idempotency key — still one email.
      await sql`
        update guestly.admin_alerts set sent_at = null, next_attempt_at = now() where id = ${alertId}`;
      assert.equal((await invokeFunction("notify-admin", {})).status, 200);
      await waitFor("the alert marked sent again", async () => (await alertsFor(b.id))[0].sent_at);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal((await messagesFor(b.id)).length, 1, "never doubled");
    } finally {
      await sandbox.rejectGuest(b.email, false);
    }
  },
});

Deno.test({
  name: "a payment mismatch alert goes out by the same path with its own subject",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const id = await insertBooking(sql, {
      firstName: "Grace",
      lastName: "Hopper",
      propertyId: PROPERTY.pineCabin,
      amount: 31000,
      currency: "usd",
    });
    const eventId = `evt_test_${crypto.randomUUID().slice(0, 8)}`;
    const [alert] = await sql`
      insert into guestly.admin_alerts (booking_id, kind, details)
      values (${id}, 'payment_mismatch', ${
      sql.json({
        event_id: eventId,
        event_type: "checkout.session.completed",
        payment_intent_id: "pi_mismatch_test",
        expected_amount: 31000,
        expected_currency: "usd",
        received_amount: 30000,
        received_currency: "usd",
      })
    })
      returning id`;
    await sql`select guestly.wake_notify_admin()`;
    const [message] = await waitFor("the mismatch email", async () => {
      const found = await messagesFor(id);
      return found.length ? found : null;
    });
    assert.equal(message.idempotencyKey, alert.id);
    assert.equal(
      message.subject,
      `Payment mismatch: booking ${id.slice(0, 8)}… — Grace Hopper at Pine Cabin ` +
        "(received $300.00 USD, expected $310.00 USD)",
    );
    assert.ok(message.text.includes(eventId));
    assert.ok(message.text.includes("pi_mismatch_test"));
    assert.ok(!message.text.includes("retry-link"), "no sync retry for a payment problem");
  },
});

Deno.test({
  name: "claim skips an alert another session holds; notify-admin wants the service_role key",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // Far-future rows: no real sender ever finds them due. The claim below looks from 2999 and
    // is rolled back, so nobody else's alert is leased by it.
    const [held, free] = [crypto.randomUUID(), crypto.randomUUID()];
    await sql`
      insert into guestly.admin_alerts (id, kind, details, next_attempt_at)
      values (${held}, 'sync_failed', '{}', '2999-01-01'), (${free}, 'sync_failed', '{}', '2999-01-01')`;
    const other = connect();
    try {
      await sql.begin(async (holder) => {
        await holder`select id from guestly.admin_alerts where id = ${held} for update`;
        let claimed: string[] = [];
        const rollback = new Error("rollback");
        await other.begin(async (tx) => {
          const rows = await tx`
            select id from guestly.claim_due_alerts(1000, 300, '2999-01-01 00:00:01+00')`;
          claimed = rows.map((r) => r.id as string);
          throw rollback;
        }).catch((error) => {
          if (error !== rollback) throw error;
        });
        assert.ok(claimed.includes(free), "an unlocked due alert is claimed");
        assert.ok(!claimed.includes(held), "a locked one is skipped, not waited for");
      });
    } finally {
      await sql`delete from guestly.admin_alerts where id in (${held}, ${free})`;
      await other.end();
    }
    assert.equal((await invokeFunction("notify-admin", {}, keys.anonKey)).status, 401);
    assert.equal((await invokeFunction("notify-admin", {}, null)).status, 401);
  },
});

Deno.test({
  name: "close the connection pool",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await sql.end();
  },
});
