// A double booking end to end on the local stack: an OTA reservation lands in Guestly on our
// guest's nights before they pay; the payment (a signed Stripe event) confirms the booking, the
// create is refused for the dates, the booking stays confirmed with a final `conflict`, one
// urgent email names the blocking reservation, nothing is retried; then the operator forces it
// with `npm run sync:retry -- <id> --ignore-calendar` and exactly one reservation is created,
// with ignoreCalendar.
import assert from "node:assert/strict";
import { signatureFor, stripeEvent } from "../fixtures/stripe/events.ts";
import {
  booking,
  connect,
  insertBooking,
  mail,
  nextStay,
  PROPERTY,
  stack,
  waitFor,
} from "./harness.ts";

const sql = connect();
const LISTING = "64f1a2b3c4d5e6f7a8b9c0d1"; // Ocean View Loft's listing in the seed
const DENO = `${stack.root}/node_modules/.bin/deno`;

async function pay(bookingId: string, amount: number, paymentIntentId: string) {
  const payload = JSON.stringify(stripeEvent("payment_intent.succeeded", {
    id: `evt_calendar_${crypto.randomUUID().replaceAll("-", "")}`,
    bookingId,
    amount,
    currency: "usd",
    paymentIntentId,
  }));
  const response = await fetch(`${stack.functionsUrl}/stripe-webhook`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "Stripe-Signature": await signatureFor(payload, stack.stripeWebhookSecret),
    },
    body: payload,
  });
  assert.equal(response.status, 200, await response.text());
}

async function sandboxJson(path: string, init?: RequestInit) {
  const response = await fetch(`${stack.sandboxUrl}${path}`, init);
  return { status: response.status, body: await response.json() };
}

function cliEnv(): Record<string, string> {
  const base = Deno.env.toObject();
  for (const n of ["SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_SECRET_KEY"]) {
    delete base[n];
  }
  return { ...base, NO_COLOR: "1" };
}

Deno.test({
  name:
    "double booking: OTA reservation first, payment → conflict alert; --ignore-calendar forces one",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const stay = nextStay(4);
    const id = await insertBooking(sql, {
      firstName: "Dora",
      lastName: "Double",
      propertyId: PROPERTY.oceanView,
      amount: 52000,
      currency: "usd",
      ...stay,
    });
    const paymentIntent = `pi_cal_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
    // A channel booking takes two of our guest's nights while they are paying.
    const otaCheckIn = new Date(Date.parse(stay.checkIn) + 2 * 86_400_000).toISOString()
      .slice(0, 10);
    const ota = await sandboxJson("/__sandbox/ota-reservations", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        listingId: LISTING,
        checkIn: otaCheckIn,
        checkOut: new Date(Date.parse(stay.checkOut) + 2 * 86_400_000).toISOString().slice(0, 10),
        source: "airbnb2",
        guestName: "Maria Garcia",
      }),
    });
    assert.equal(ota.status, 201, JSON.stringify(ota.body));

    await t.step(
      "payment → the booking stays confirmed, its sync fails for good as a conflict",
      async () => {
        await pay(id, 52000, paymentIntent);
        const row = await waitFor("the conflict", async () => {
          const b = await booking(sql, id);
          return b.guestly_sync_status === "failed" && b.guestly_sync_gave_up_at ? b : null;
        }, 30_000);
        assert.equal(row.status, "confirmed");
        assert.equal(row.guestly_sync_error_kind, "conflict");
        assert.equal(row.guestly_sync_next_attempt_at, null);
        assert.equal(row.guestly_reservation_id, null);
        assert.match(row.guestly_sync_error, /dates not available in Guestly/);
        const attempts = await sql`select operation, outcome, http_status from guestly.sync_attempts
                                  where booking_id = ${id} order by id`;
        assert.deepEqual(attempts.map((a) => [a.operation, a.outcome, a.http_status]), [[
          "create",
          "conflict",
          409,
        ]]);
      },
    );

    await t.step(
      "one urgent email names the blocking reservation, the guest, the amount, the ways out",
      async () => {
        const [message] = await waitFor("the double-booking email", async () => {
          const found = (await mail.messages()).filter((m) => String(m.text ?? "").includes(id));
          return found.length ? found : null;
        }, 30_000);
        const text = String(message.text);
        assert.match(String(message.subject), /Double booking: Ocean View Loft/);
        assert.ok(String(message.subject).includes(`${stay.checkIn} → ${stay.checkOut}`));
        for (
          const expected of [
            ota.body.confirmationCode,
            "airbnb2",
            "Maria Garcia",
            `${otaCheckIn} →`,
            "Dora Double",
            "$520.00",
            `https://dashboard.stripe.com/test/payments/${paymentIntent}`,
            `npm run sync:retry -- ${id} --ignore-calendar`,
            `select guestly_retry_sync('${id}', ignore_calendar => true);`,
          ]
        ) {
          assert.ok(text.includes(expected), `email lacks ${expected}:\n${text}`);
        }
        const [alert] = await sql`select kind from guestly.admin_alerts where booking_id = ${id}`;
        assert.equal(alert.kind, "double_booking");
      },
    );

    await t.step("never retried automatically: the sweep leaves it alone", async () => {
      await sql`select guestly.sweep_due_syncs()`;
      await new Promise((r) => setTimeout(r, 1500));
      const [{ n }] = await sql`select count(*)::int as n from guestly.sync_attempts
                                 where booking_id = ${id}`;
      assert.equal(n, 1);
      const ours = (await sandboxJson("/__sandbox/reservations")).body.filter((
        r: { customFields: { value: string }[] },
      ) => r.customFields.some((f) => f.value === id));
      assert.equal(ours.length, 0, "Guestly has no reservation for the booking");
    });

    await t.step("sync:status lists it as a double booking", async () => {
      const out = await new Deno.Command(DENO, {
        args: ["run", "-A", "scripts/sync-status.ts"],
        cwd: stack.root,
        env: cliEnv(),
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const section = text.slice(text.indexOf("!!! Double bookings"));
      assert.ok(text.includes("!!! Double bookings") && section.includes(id), text);
    });

    await t.step(
      "--ignore-calendar forces exactly one reservation, with ignoreCalendar",
      async () => {
        const out = await new Deno.Command(DENO, {
          args: ["run", "-A", "scripts/sync-retry.ts", id, "--ignore-calendar"],
          cwd: stack.root,
          env: cliEnv(),
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stdout = new TextDecoder().decode(out.stdout);
        assert.equal(out.code, 0, stdout + new TextDecoder().decode(out.stderr));
        assert.match(stdout, /forces a double booking/);
        assert.match(stdout, /synced/);
        const ours = (await sandboxJson("/__sandbox/reservations")).body.filter((
          r: { customFields: { value: string }[] },
        ) => r.customFields.some((f) => f.value === id));
        assert.equal(ours.length, 1);
        assert.equal(ours[0].ignoreCalendar, true);
        assert.equal(ours[0].status, "confirmed");
        const row = await booking(sql, id);
        assert.equal(row.guestly_sync_status, "synced");
        assert.equal(row.guestly_reservation_id, ours[0]._id);
        assert.equal(row.guestly_ignore_calendar, false, "forcing was for that episode only");
        // Both now hold the nights, as the operator chose.
        const cal = await sandboxJson("/__sandbox/calendars");
        const live = cal.body[LISTING].filter((r: { checkInDateLocalized: string }) =>
          r.checkInDateLocalized >= stay.checkIn && r.checkInDateLocalized < stay.checkOut
        );
        assert.equal(live.length, 2);
      },
    );
    await sql.end();
  },
});
