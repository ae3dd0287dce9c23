// The return path on the local stack: the sandbox (as Guestly) changes a reservation — a host
// cancels, moves the dates, changes the guests — and POSTs a signed v2 webhook to
// guestly-webhook through the gateway; the booking follows, nothing is sent back to Guestly, a
// paid cancellation emails the admin. Duplicate, late, reordered and forged deliveries.
import assert from "node:assert/strict";
import type postgres from "postgres";
import { booking, mail, stack, waitFor } from "./harness.ts";
import { dbTest } from "./stripe_helpers.ts";
import { sandboxJson, sandboxPost, syncedBooking } from "./guestly_side.ts";
import { signedHeaders } from "../../../local/guestly-sandbox/webhook-delivery.ts";
import { stackWebhookSecret, webhookFunctionUrl } from "../../../local/stack/webhooks.ts";
import { nextStay } from "../../../local/stays.ts";

const SECRET = await stackWebhookSecret(stack);

interface LedgerRow {
  message_id: string;
  outcome: string | null;
  reason: string | null;
  changes: Record<string, unknown> | null;
  published_at: Date | null;
}

async function ledgerFor(sql: postgres.Sql, reservationId: string): Promise<LedgerRow[]> {
  return await sql<LedgerRow[]>`
    select message_id, outcome, reason, changes, published_at from guestly_events.events
     where reservation_id = ${reservationId} order by received_at`;
}

/** Guestly API changes (not reads, not tokens) made to one reservation since `since`. */
async function changesSentToGuestly(reservationId: string, since: string): Promise<string[]> {
  const log = await sandboxJson<
    Array<{ time: string; method: string; path: string; reservationId: string | null }>
  >("/__sandbox/requests");
  return log.filter((r) =>
    r.time >= since && r.method !== "GET" && r.path !== "/oauth2/token" &&
    (r.reservationId === reservationId || r.path.includes(reservationId))
  ).map((r) => `${r.method} ${r.path}`);
}

async function deliveries(reservationId: string) {
  return await sandboxJson<
    Array<{ messageId: string; status: number; fault: string | null; event: string }>
  >(`/__sandbox/webhook-deliveries?reservationId=${reservationId}`);
}

async function clearWebhookFaults() {
  await fetch(`${stack.sandboxUrl}/__sandbox/webhook-faults`, { method: "DELETE" })
    .then((r) => r.body?.cancel());
}

/** Posts a webhook to guestly-webhook ourselves, signed (or not) as Guestly would. */
async function sendWebhook(
  body: Record<string, unknown>,
  options: { id?: string; secret?: string } = {},
) {
  const text = JSON.stringify(body);
  const id = options.id ?? `msg_test_${crypto.randomUUID().replaceAll("-", "")}`;
  const response = await fetch(webhookFunctionUrl(stack), {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...signedHeaders(options.secret ?? SECRET, "svix", id, text),
    },
    body: text,
  });
  return { id, status: response.status, body: await response.json() };
}

dbTest(
  "a host cancels in Guestly: booking cancelled, admin emailed, nothing sent back",
  async (sql) => {
    const { id, reservationId } = await syncedBooking(sql);
    const since = new Date().toISOString();
    await sandboxPost(`/__sandbox/reservations/${reservationId}/host-cancel`, {});
    const row = await waitFor("the booking cancelled", async () => {
      const b = await booking(sql, id);
      return b.status === "cancelled" ? b : null;
    });
    assert.equal(row.guestly_sync_status, "synced");
    assert.equal(row.guestly_synced_status, "cancelled");
    const message = await waitFor(
      "the alert email",
      async () =>
        (await mail.messages()).find((m) =>
          String(m.subject ?? "").startsWith("Cancelled in Guestly — decide on the refund") &&
          String(m.text ?? "").includes(id)
        ),
      20_000,
    );
    assert.match(String(message.text), /dashboard\.stripe\.com\/test\/payments\/pi_/);
    // Give an echo every chance to happen: pg_net drains every 200 ms, the sync in ms.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    assert.deepEqual(await changesSentToGuestly(reservationId, since), [], "no request back");
    const applied = (await ledgerFor(sql, reservationId)).filter((r) => r.outcome === "applied");
    assert.equal(applied.length, 1);
    assert.deepEqual(applied[0].changes, { status: ["confirmed", "cancelled"] });
  },
);

dbTest("dates changed in Guestly: the booking's dates follow, nothing sent back", async (sql) => {
  const { id, reservationId } = await syncedBooking(sql);
  const before = await booking(sql, id);
  const moved = nextStay(3); // same number of nights: the price does not differ
  const since = new Date().toISOString();
  await sandboxPost(`/__sandbox/reservations/${reservationId}/host-change-dates`, moved);
  const row = await waitFor("the booking's new dates", async () => {
    const b = await booking(sql, id);
    return b.check_in.toISOString().slice(0, 10) === moved.checkIn ? b : null;
  });
  assert.equal(row.check_out.toISOString().slice(0, 10), moved.checkOut);
  assert.equal(row.status, "confirmed");
  assert.equal(row.guestly_sync_status, "synced");
  assert.equal(row.amount_total, before.amount_total, "money is not changed");
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  assert.deepEqual(await changesSentToGuestly(reservationId, since), [], "no request back");
  const alerts = await sql`select kind from guestly.admin_alerts where booking_id = ${id}`;
  assert.deepEqual(alerts.map((a) => a.kind), [], "same nights, same price: no alert");
});

dbTest("a duplicated delivery is applied once", async (sql) => {
  const { id, reservationId } = await syncedBooking(sql);
  try {
    await sandboxPost("/__sandbox/webhook-faults", { duplicateNext: 1 });
    await sandboxPost(`/__sandbox/reservations/${reservationId}/host-change-guests`, {
      guestsCount: 4,
    });
    const twice = await waitFor("two deliveries of one message", async () => {
      const sent = (await deliveries(reservationId)).filter((d) => d.status === 200);
      const updates = sent.filter((d) => d.event === "reservation.updated.v2");
      return updates.length >= 2 ? updates : null;
    });
    assert.equal(twice[0].messageId, twice[1].messageId);
    assert.equal(twice[1].fault, "duplicate");
    const rows = (await ledgerFor(sql, reservationId)).filter((r) =>
      r.message_id === twice[0].messageId
    );
    assert.equal(rows.length, 1, "one ledger row for the message");
    await waitFor("applied", async () => (await booking(sql, id)).guests_count === 4);
    const applied = (await ledgerFor(sql, reservationId)).filter((r) => r.outcome === "applied");
    assert.equal(applied.length, 1);
  } finally {
    await clearWebhookFaults();
  }
});

dbTest("reordered deliveries: the newer state wins, the older is recorded stale", async (sql) => {
  const { id, reservationId } = await syncedBooking(sql);
  try {
    await sandboxPost("/__sandbox/webhook-faults", { reorderNext: 2 });
    await sandboxPost(`/__sandbox/reservations/${reservationId}/host-change-guests`, {
      guestsCount: 3,
    });
    await sandboxPost(`/__sandbox/reservations/${reservationId}/host-change-guests`, {
      guestsCount: 5,
    });
    const rows = await waitFor("both events handled", async () => {
      const all = (await ledgerFor(sql, reservationId)).filter((r) => r.outcome !== "no_change");
      return all.length >= 2 && all.every((r) => r.outcome) ? all : null;
    });
    // The newest arrived first. The function applies after answering, so on a busy machine the
    // older may still be applied before the newer one: then both are applied, in order. What
    // must never happen is the older applied after the newer (the booking would end with 3).
    // (Dates compared as dates: their string form drops the milliseconds.)
    const [older, newer] = [...rows].sort((a, b) =>
      new Date(a.published_at!).getTime() - new Date(b.published_at!).getTime()
    );
    assert.equal(newer.outcome, "applied");
    assert.ok(["stale", "applied"].includes(String(older.outcome)), String(older.outcome));
    assert.equal((await booking(sql, id)).guests_count, 5, "the newer state wins");
  } finally {
    await clearWebhookFaults();
  }
});

dbTest(
  "late and forged webhooks: a late one changes nothing, a forged one is refused",
  async (sql) => {
    const { id, reservationId } = await syncedBooking(sql);
    await sandboxPost(`/__sandbox/reservations/${reservationId}/host-change-guests`, {
      guestsCount: 4,
    });
    await waitFor("applied", async () => (await booking(sql, id)).guests_count === 4);
    const b = await booking(sql, id);
    const stay = {
      _id: reservationId,
      status: "canceled",
      source: "website",
      checkInDateLocalized: b.check_in.toISOString().slice(0, 10),
      checkOutDateLocalized: b.check_out.toISOString().slice(0, 10),
      guestsCount: 2,
    };
    const late = await sendWebhook({
      event: "reservation.updated.v2",
      publishedAt: new Date(Date.now() - 3_600_000).toISOString(),
      reservationId,
      subTypes: ["status"],
      reservation: stay,
    });
    assert.equal(late.status, 200);
    await waitFor("the late event handled", async () => {
      const [row] =
        await sql`select outcome from guestly_events.events where message_id = ${late.id}`;
      return row?.outcome === "stale";
    });
    assert.equal((await booking(sql, id)).status, "confirmed", "an hour-old event undoes nothing");

    const again = await sendWebhook({ event: "reservation.updated.v2", reservationId }, {
      id: late.id,
    });
    assert.deepEqual(again.body, { received: true, duplicate: true, outcome: "stale" });

    const forged = await sendWebhook({
      event: "reservation.updated.v2",
      publishedAt: new Date().toISOString(),
      reservationId,
      reservation: stay,
    }, { secret: "whsec_" + btoa("an-attacker-who-knows-the-url") });
    assert.equal(forged.status, 401);
    assert.match(forged.body.error, /invalid signature/);
    const [recorded] = await sql`select count(*)::int as n from guestly_events.events
                                where message_id = ${forged.id}`;
    assert.equal(recorded.n, 0, "nothing recorded");
    assert.equal((await booking(sql, id)).status, "confirmed");
  },
);

dbTest(
  "our own cancellation, echoed back by Guestly, changes nothing and sends nothing more",
  async (sql) => {
    const { id, reservationId } = await syncedBooking(sql);
    await sql`update public.bookings set status = 'cancelled' where id = ${id}`;
    await waitFor("the cancellation synced", async () => {
      const b = await booking(sql, id);
      return b.guestly_sync_status === "synced" && b.guestly_synced_status === "cancelled";
    }, 30_000);
    const echo = await waitFor("the echo handled", async () => {
      const rows = (await ledgerFor(sql, reservationId)).filter((r) => r.outcome !== null);
      return rows.length >= 2 ? rows.at(-1) : null;
    });
    assert.equal(echo!.outcome, "no_change");
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const log = await sandboxJson<Array<{ method: string; path: string }>>("/__sandbox/requests");
    const statusChanges = log.filter((r) =>
      r.method === "PUT" && r.path === `/v1/reservations-v3/${reservationId}/status`
    );
    assert.equal(statusChanges.length, 1, "one cancel, no ping-pong");
  },
);

dbTest(
  "our own dates and guests change, echoed back in pieces, is no change: no ping-pong",
  async (sql) => {
    const { id, reservationId } = await syncedBooking(sql);
    const moved = nextStay(3);
    await sql`update public.bookings set check_in = ${moved.checkIn}, check_out = ${moved.checkOut},
              guests_count = 3 where id = ${id}`;
    await waitFor("our change synced and its echoes handled", async () => {
      const b = await booking(sql, id);
      const rows = await ledgerFor(sql, reservationId);
      return b.guestly_sync_status === "synced" && rows.length >= 3 &&
        rows.every((r) => r.outcome !== null);
    }, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const b = await booking(sql, id);
    assert.equal(b.guests_count, 3, "the booking keeps our guest count");
    assert.equal(b.check_in.toISOString().slice(0, 10), moved.checkIn);
    const rows = await ledgerFor(sql, reservationId);
    assert.deepEqual(rows.filter((r) => r.outcome === "applied"), [], "nothing applied back");
    const log = await sandboxJson<Array<{ method: string; path: string }>>("/__sandbox/requests");
    const puts = log.filter((r) =>
      r.method === "PUT" && r.path.startsWith(`/v1/reservations-v3/${reservationId}/`)
    )
      .map((r) => r.path.split("/").at(-1))
      // Our reference (and notes, for an unreadable phone), set once after the create, are not
      // changes of the stay.
      .filter((action) => action !== "custom-fields" && action !== "notes").sort();
    assert.deepEqual(puts, ["dates", "guests"], "one request each, never again");
  },
);

dbTest(
  "an event recorded but never applied (the function died) is applied by the sweep",
  async (sql) => {
    const { id, reservationId } = await syncedBooking(sql);
    const b = await booking(sql, id);
    const messageId = `msg_crashed_${crypto.randomUUID().replaceAll("-", "")}`;
    // What record_event leaves behind when the function is killed right after answering.
    await sql`select guestly_events.record_event(${messageId}, 'reservation.updated.v2', null,
    ${reservationId}, now(), '{guestsCount}', ${
      JSON.stringify({
        event: "reservation.updated.v2",
        reservationId,
        reservation: {
          _id: reservationId,
          status: "confirmed",
          source: "website",
          checkInDateLocalized: b.check_in.toISOString().slice(0, 10),
          checkOutDateLocalized: b.check_out.toISOString().slice(0, 10),
          guestsCount: 6,
        },
      })
    }::text::jsonb)`;
    // Due the longest, so it is in the sweep's first batch even behind other events waiting
    // (the sweep takes 50, oldest first; earlier tests may leave deferred ones due).
    await sql`update guestly_events.events set next_attempt_at = now() - interval '1 day'
             where message_id = ${messageId}`;
    const [{ n }] = await sql`select guestly_events.sweep_unapplied_events() as n`;
    assert.ok(n >= 1);
    await waitFor("the sweep's re-apply", async () => {
      const [row] =
        await sql`select outcome from guestly_events.events where message_id = ${messageId}`;
      return row.outcome === "applied";
    });
    assert.equal((await booking(sql, id)).guests_count, 6);
  },
);

dbTest("a channel's reservation is recorded and ignored, without reading Guestly", async (sql) => {
  const stay = nextStay(2);
  const since = new Date().toISOString();
  const ota = await sandboxPost("/__sandbox/ota-reservations", {
    listingId: "64f1a2b3c4d5e6f7a8b9c0d3",
    checkIn: stay.checkIn,
    checkOut: stay.checkOut,
  });
  const reservationId = String(ota._id);
  const [row] = await waitFor("the OTA event handled", async () => {
    const rows = await ledgerFor(sql, reservationId);
    return rows[0]?.outcome ? rows : null;
  });
  assert.equal(`${row.outcome}/${row.reason}`, "ignored/not_ours");
  const log = await sandboxJson<Array<{ time: string; path: string }>>("/__sandbox/requests");
  assert.equal(log.filter((r) => r.time >= since && r.path.includes(reservationId)).length, 0);
});

Deno.test("the stack subscribed guestly-webhook to the sandbox's reservation events", async () => {
  const subs = await sandboxJson<Array<{ url: string }>>("/__sandbox/webhooks");
  assert.ok(subs.some((s) => s.url === webhookFunctionUrl(stack)));
});
