// The main job's demo: a handful of bookings paid through signed Stripe events posted to the
// stripe-webhook function, one of them rejected by Guestly (→ an admin email), one cancelled
// after it synced, one double-booked (an Airbnb reservation takes its nights while the guest pays
// → the urgent double-booking email), one moved to other dates after it synced (Guestly's dates
// follow). Every paid booking's payment is recorded in Guestly (balance 0). With holds on
// (GUESTLY_HOLD_MINUTES, which `npm start` sets to 10), one checkout is protected by a hold: a
// channel trying the same nights is refused, the payment confirms the held reservation; and the
// double booking is a hold that ran out before the guest paid. Prints progress, then a table.
// `npm run demo` runs it once against a running stack and exits 0 only if every booking ended
// where it should.
import { signatureFor, stripeEvent } from "../supabase/tests/fixtures/stripe/events.ts";
import postgres from "postgres";
import { loadStackConfig, type StackConfig } from "../local/stack/config.ts";
import { DemoStayPlanner, sandboxCalendar } from "./demo-stays.ts";
import { FunctionStartError, waitForFunctions } from "../local/stack/functions-ready.ts";
import { localKeys } from "../local/keys.ts";
import { reportedHoldMinutes } from "../local/stack/function-state.ts";

interface DemoGuest {
  first: string;
  last: string;
  email: string;
  property: string;
  nights: number;
  amount: number;
  currency: string;
  /** What should happen to this booking in the demo. */
  plan: "sync" | "rejected" | "cancel_after_sync" | "double_booked" | "move_after_sync" | "held";
}

const PROPERTIES = {
  ocean: "0b0e7f3a-0000-4000-8000-000000000001",
  pine: "0b0e7f3a-0000-4000-8000-000000000002",
  oldTown: "0b0e7f3a-0000-4000-8000-000000000003",
};

function demoGuests(run: string): DemoGuest[] {
  return [
    {
      first: "Amélie",
      last: "Dubois",
      email: `amelie.${run}@example.com`,
      property: PROPERTIES.ocean,
      nights: 4,
      amount: 64000,
      currency: "eur",
      plan: "sync",
    },
    {
      first: "Kenji",
      last: "Watanabe",
      email: `kenji.${run}@example.com`,
      property: PROPERTIES.pine,
      nights: 2,
      amount: 31000,
      currency: "usd",
      plan: "move_after_sync",
    },
    {
      first: "Siobhán",
      last: "O'Neill",
      email: `siobhan.${run}@example.com`,
      property: PROPERTIES.oldTown,
      nights: 3,
      amount: 42000,
      currency: "eur",
      plan: "sync",
    },
    {
      first: "Rejected",
      last: "By-Guestly",
      email: `rejected.${run}@example.com`,
      property: PROPERTIES.pine,
      nights: 5,
      amount: 77500,
      currency: "usd",
      plan: "rejected",
    },
    {
      first: "Lena",
      last: "Fischer",
      email: `lena.${run}@example.com`,
      property: PROPERTIES.ocean,
      nights: 7,
      amount: 98000,
      currency: "eur",
      plan: "cancel_after_sync",
    },
    {
      first: "Noor",
      last: "Haddad",
      email: `noor.${run}@example.com`,
      property: PROPERTIES.ocean,
      nights: 3,
      amount: 45000,
      currency: "eur",
      plan: "held",
    },
    {
      first: "Tomás",
      last: "Herrera",
      email: `tomas.${run}@example.com`,
      property: PROPERTIES.oldTown,
      nights: 3,
      amount: 39000,
      currency: "eur",
      plan: "double_booked",
    },
  ];
}

/** What the demo reads back from the sandbox's inspector API. */
interface GuestlyView {
  reservationId: string;
  status: string;
  checkInDateLocalized: string;
  checkOutDateLocalized: string;
  guestsCount: number;
  money?: { balanceDue: number; totalPaid: number };
}

interface BookingState {
  id: string;
  guest: string;
  status: string;
  check_in: string;
  guestly?: GuestlyView;
  guestly_sync_status: string;
  guestly_sync_attempts: number;
  guestly_reservation_id: string | null;
  guestly_sync_error: string | null;
  guestly_sync_gave_up_at: Date | null;
  guestly_hold_status: string | null;
  guestly_hold_reservation_id: string | null;
}

export interface DemoResult {
  ok: boolean;
  rows: BookingState[];
  problems: string[];
}

export async function runDemo(
  config: StackConfig = loadStackConfig(),
  print: (line: string) => void = console.log,
): Promise<DemoResult> {
  const sql = postgres(config.dbUrl, { max: 2, onnotice: () => {} });
  const run = crypto.randomUUID().slice(0, 6);
  const guests = demoGuests(run);
  const problems: string[] = [];
  try {
    // Never a payment into a 503: every function must answer first.
    try {
      await waitForFunctions({
        apiUrl: config.apiUrl,
        logDir: `${config.stateDir}/logs`,
        timeoutMs: 20_000,
      });
    } catch (e) {
      if (!(e instanceof FunctionStartError)) throw e;
      print(`\n▶ demo not started: ${e.message}`);
      return { ok: false, rows: [], problems: [e.message] };
    }
    const rejected = guests.filter((g) => g.plan === "rejected").map((g) => g.email);
    await postJson(`${config.sandboxUrl}/__sandbox/faults`, { rejectGuestEmails: rejected });

    const holdsOn = await reportedHoldMinutes(config, sql, { timeoutMs: 5_000 }).catch(() => 0);
    print(
      `\n▶ demo run ${run}: ${guests.length} bookings, paid through signed Stripe events` +
        (holdsOn ? ` (holds on: ${holdsOn} minutes)` : " (holds off)"),
    );
    const ids: string[] = [];
    const listings: string[] = [];
    const stays = new DemoStayPlanner(await sandboxCalendar(config.sandboxUrl), new Date());
    let channelRefusedByHold = false;
    for (const g of guests) {
      const [{ listing }] = await sql`
        select guestly_listing_id as listing from public.properties where id = ${g.property}`;
      listings.push(listing);
      // The double-booked guest's channel booking takes the night after their stay too.
      const { checkIn, checkOut } = stays.next(
        listing,
        g.nights,
        g.plan === "double_booked" ? 1 : 0,
      );
      const [row] = await sql`
        insert into public.bookings (property_id, guest_first_name, guest_last_name, guest_email,
          guest_phone, check_in, check_out, guests_count, amount_total, currency)
        values (${g.property}, ${g.first}, ${g.last}, ${g.email}, '+15555550123',
          ${checkIn}, ${checkOut}, 2,
          ${g.amount}, ${g.currency})
        returning id`;
      ids.push(row.id);
      const channel = (from: string, to: string) =>
        postJson(`${config.sandboxUrl}/__sandbox/ota-reservations`, {
          listingId: listing,
          checkIn: from,
          checkOut: to,
          source: "airbnb2",
          guestName: "Maria Garcia",
        });
      if (g.plan === "held" && holdsOn) {
        // The website asks before sending the guest to Stripe; then a channel tries the nights.
        const hold = await askHold(config, row.id);
        print(`  hold   ${row.id.slice(0, 8)}  ${g.first}: guestly-hold → ${hold}`);
        const tried = await channel(checkIn, checkOut);
        channelRefusedByHold = tried === 409;
        print(`  airbnb ${checkIn} → ${checkOut} on ${g.first}'s held nights → ${tried} (refused)`);
      }
      if (g.plan === "double_booked") {
        if (holdsOn) {
          // This guest takes longer than the hold: it runs out before they pay.
          const [held] = await waitRows(sql, row.id, (r) => r.guestly_hold_status === "held");
          if (held?.guestly_hold_reservation_id) {
            await postJson(
              `${config.sandboxUrl}/__sandbox/reservations/${held.guestly_hold_reservation_id}/lapse-hold`,
              {},
            );
            print(`  hold   ${row.id.slice(0, 8)}  ${g.first}: ran out before payment`);
          }
        }
        // While this guest pays, a channel booking takes two of their nights in Guestly.
        const otaIn = new Date(Date.parse(checkIn) + 86_400_000).toISOString().slice(0, 10);
        const otaOut = new Date(Date.parse(checkOut) + 86_400_000).toISOString().slice(0, 10);
        await channel(otaIn, otaOut);
        print(`  airbnb ${otaIn} → ${otaOut} on ${g.first}'s nights (an OTA reservation)`);
      }
    }

    for (const [index, g] of guests.entries()) {
      // Stripe's own recorded event shape, with this booking's id, amount and currency.
      const status = await postStripeEvent(
        config,
        stripeEvent("payment_intent.succeeded", {
          bookingId: ids[index],
          amount: g.amount,
          currency: g.currency,
          paymentIntentId: `pi_demo_${run}_${index}`,
        }),
      );
      print(`  paid   ${ids[index].slice(0, 8)}  ${g.first} ${g.last}  → webhook ${status}`);
      if (status !== 200) problems.push(`webhook answered ${status} for ${g.first}`);
    }

    const cancelIndex = guests.findIndex((g) => g.plan === "cancel_after_sync");
    const moveIndex = guests.findIndex((g) => g.plan === "move_after_sync");
    await watch(
      sql,
      ids,
      print,
      (rows) => [cancelIndex, moveIndex].every((i) => rows[i]?.guestly_sync_status === "synced"),
    );
    print(`  cancel ${ids[cancelIndex].slice(0, 8)}  ${guests[cancelIndex].first} (after sync)`);
    await sql`update public.bookings set status = 'cancelled' where id = ${ids[cancelIndex]}`;
    // Same number of nights: Guestly re-prices a stay whose length changes (its own rates).
    const moved = stays.next(listings[moveIndex], guests[moveIndex].nights);
    print(
      `  move   ${ids[moveIndex].slice(0, 8)}  ${
        guests[moveIndex].first
      } → ${moved.checkIn} … ${moved.checkOut}, 3 guests (after sync)`,
    );
    await sql`update public.bookings set check_in = ${moved.checkIn}, check_out = ${moved.checkOut},
                guests_count = 3 where id = ${ids[moveIndex]}`;

    const settled = (rows: BookingState[]) =>
      rows.every((r, i) =>
        guests[i].plan === "rejected" || guests[i].plan === "double_booked"
          ? r.guestly_sync_gave_up_at !== null
          : r.guestly_sync_status === "synced" &&
            (guests[i].plan !== "cancel_after_sync" || r.status === "cancelled") &&
            (guests[i].plan !== "move_after_sync" || r.check_in === moved.checkIn)
      );
    const rows = await watch(sql, ids, print, settled);

    const inbox = await waitForMail(config, ids[guests.findIndex((g) => g.plan === "rejected")]);
    const doubleIndex = guests.findIndex((g) => g.plan === "double_booked");
    const doubleMail = await waitForMail(config, ids[doubleIndex]);
    const reservations = await getJson(`${config.sandboxUrl}/__sandbox/reservations`) as Array<
      GuestlyView
    >;
    for (const [i, g] of guests.entries()) {
      const r = rows[i];
      const inGuestly = reservations.filter((x) => x.reservationId === r.guestly_reservation_id);
      r.guestly = inGuestly[0];
      if (
        (g.plan === "sync" || g.plan === "move_after_sync" || g.plan === "held") &&
        !(r.guestly_sync_status === "synced" && inGuestly.length === 1 &&
          inGuestly[0].money?.balanceDue === 0)
      ) {
        problems.push(`${g.first}: expected synced with one reservation, balance 0 in Guestly`);
      }
      if (
        g.plan === "move_after_sync" &&
        !(inGuestly[0]?.checkInDateLocalized === moved.checkIn && inGuestly[0]?.guestsCount === 3)
      ) {
        problems.push(`${g.first}: expected Guestly to hold the new dates and 3 guests`);
      }
      if (g.plan === "rejected" && !(r.guestly_sync_status === "failed" && inbox)) {
        problems.push(`${g.first}: expected a final failure and an admin email`);
      }
      if (
        g.plan === "double_booked" &&
        !(r.guestly_sync_status === "failed" && r.status === "confirmed" &&
          doubleMail?.includes("Double booking"))
      ) {
        problems.push(`${g.first}: expected a double booking (conflict) and its urgent email`);
      }
      if (
        g.plan === "held" && holdsOn &&
        !(r.guestly_hold_status === "confirmed" && channelRefusedByHold &&
          r.guestly_reservation_id === r.guestly_hold_reservation_id &&
          inGuestly[0]?.status === "confirmed")
      ) {
        problems.push(`${g.first}: expected the held reservation confirmed, the channel refused`);
      }
      if (g.plan === "cancel_after_sync" && inGuestly[0]?.status !== "canceled") {
        problems.push(`${g.first}: expected the Guestly reservation to be canceled`);
      }
    }

    print("\n" + table(rows));
    print(inbox ? `\n✉ admin email: "${inbox}"` : "\n✉ no admin email arrived");
    print(
      doubleMail
        ? `✉ admin email: "${doubleMail}"\n  (refund, move the guest, or npm run sync:retry -- ${
          ids[doubleIndex]
        } --ignore-calendar)`
        : "✉ no double-booking email arrived",
    );
    print(
      problems.length === 0
        ? "\n✔ every booking ended where it should"
        : `\n✘ ${problems.join("\n✘ ")}`,
    );
    return { ok: problems.length === 0, rows, problems };
  } finally {
    await postJson(`${config.sandboxUrl}/__sandbox/faults`, { rejectGuestEmails: [] }).catch(
      () => {},
    );
    await sql.end();
  }
}

async function postStripeEvent(config: StackConfig, event: unknown): Promise<number> {
  const payload = JSON.stringify(event);
  const secret = Deno.env.get("STRIPE_WEBHOOK_SECRET") ?? config.stripeWebhookSecret;
  const response = await fetch(`${config.functionsUrl}/stripe-webhook`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "Stripe-Signature": await signatureFor(payload, secret),
    },
    body: payload,
  });
  await response.body?.cancel();
  return response.status;
}

async function watch(
  sql: postgres.Sql,
  ids: string[],
  print: (line: string) => void,
  done: (rows: BookingState[]) => boolean,
  timeoutMs = 90_000,
): Promise<BookingState[]> {
  const seen = new Map<string, string>();
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const rows = await sql<BookingState[]>`
      select id, guest_first_name || ' ' || guest_last_name as guest, status,
             to_char(check_in, 'YYYY-MM-DD') as check_in, guestly_sync_status,
             guestly_sync_attempts, guestly_reservation_id, guestly_sync_error, guestly_sync_gave_up_at,
             guestly_hold_status, guestly_hold_reservation_id
        from public.bookings where id = any(${ids}::uuid[])
       order by array_position(${ids}::uuid[], id)`;
    for (const r of rows) {
      const line = `${r.status}/${r.guestly_sync_status}/${r.guestly_sync_attempts}`;
      if (seen.get(r.id) !== line) {
        seen.set(r.id, line);
        print(
          `  ·      ${r.id.slice(0, 8)}  ${r.guest.padEnd(20)} ${
            r.status.padEnd(10)
          } sync ${r.guestly_sync_status} (attempts ${r.guestly_sync_attempts})`,
        );
      }
    }
    if (done(rows)) return rows;
    if (Date.now() > deadline) return rows;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

async function waitForMail(config: StackConfig, bookingId: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const messages = await getJson(`${config.mailUrl}/__catcher/messages`).catch(() => []) as Array<
      { subject: string; text?: string }
    >;
    const match = messages.find((m) => `${m.subject}\n${m.text ?? ""}`.includes(bookingId));
    if (match) return match.subject;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return null;
}

function table(rows: BookingState[]): string {
  const header = [
    "booking",
    "guest",
    "status",
    "sync",
    "attempts",
    "hold",
    "guestly reservation",
    "guestly stay",
    "balance due",
  ];
  const body = rows.map((r) => [
    r.id.slice(0, 8),
    r.guest,
    r.status,
    r.guestly_sync_status,
    String(r.guestly_sync_attempts),
    r.guestly_hold_status ?? "—",
    r.guestly_reservation_id ??
      (r.guestly_sync_error ? `— ${r.guestly_sync_error.slice(0, 48)}` : "—"),
    r.guestly
      ? `${r.guestly.checkInDateLocalized} … ${r.guestly.checkOutDateLocalized}, ${r.guestly.guestsCount} guests`
      : "—",
    r.guestly?.money ? String(r.guestly.money.balanceDue) : "—",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => [...row[i]].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => c + " ".repeat(widths[i] - [...c].length)).join("  ");
  return [line(header), line(widths.map((w) => "─".repeat(w))), ...body.map(line)].join("\n");
}

async function postJson(url: string, body: unknown): Promise<number> {
  const response = await fetch(url, { method: "POST", body: JSON.stringify(body) });
  await response.body?.cancel();
  return response.status;
}

/** The website's call before it takes the payment (docs/holds.md). */
async function askHold(config: StackConfig, bookingId: string): Promise<string> {
  const key = Deno.env.get("SUPABASE_SERVICE_ROLE_KEY") ?? (await localKeys()).serviceRoleKey;
  const response = await fetch(`${config.functionsUrl}/guestly-hold`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: JSON.stringify({ bookingId, waitMs: 8000 }),
  });
  const body = await response.json().catch(() => ({}));
  return body.hold
    ? `${body.hold}${body.holdUntil ? ` until ${body.holdUntil}` : ""}`
    : String(response.status);
}

async function waitRows(
  sql: postgres.Sql,
  id: string,
  done: (row: BookingState) => boolean,
  timeoutMs = 15_000,
): Promise<BookingState[]> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const rows = await sql<BookingState[]>`
      select guestly_hold_status, guestly_hold_reservation_id from public.bookings where id = ${id}`;
    if ((rows[0] && done(rows[0])) || Date.now() > deadline) return rows;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url);
  return await response.json();
}

if (import.meta.main) {
  const result = await runDemo();
  Deno.exit(result.ok ? 0 : 1);
}
