// After the run: collect the database's and the sandbox's view and check the promises —
// every booking paid once, synced once, one Guestly reservation each, attempt log == counters,
// one token, alerts only for final failures — and how many creates met a lying gateway.

import type postgres from "postgres";
import type { StackConfig } from "../../local/stack/config.ts";
import { type ChaosAction, chaosDone } from "./fault-plan.ts";
import type { DeliveryStats, EarlyRefund } from "./load.ts";
import type { Options } from "./options.ts";
import { httpJson } from "./util.ts";
import { mismatches } from "./guestly-side.ts";
import { type DeletedInGuestly, moneyExact } from "./recreated.ts";

interface FinalRow {
  id: string;
  status: string;
  guestly_sync_status: string;
  guestly_sync_attempts: number;
  guestly_reservation_id: string | null;
  guestly_sync_gave_up_at: Date | null;
  guestly_sync_next_attempt_at: Date | null;
  guestly_sync_error: string | null;
  stripe_payment_intent_id: string | null;
  logged: number;
  alerts: number;
  ledger: number;
  ledger_confirmed: number;
  guestly_hold_status: string | null;
  guestly_hold_reservation_id: string | null;
  check_in: string;
  check_out: string;
  guests_count: number;
  guest_email: string;
  listing_id: string;
  guestly_reference_set_at: Date | null;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

interface SandboxRequest {
  time: string;
  method: string;
  path: string;
  status: number;
  fault: string | null;
  committed: boolean | null;
}

const isCreate = (r: SandboxRequest) => r.method === "POST" && r.path === "/v1/reservations-v3";
const LYING = /^(slowCommit|commitThen504|commitThenError)/;

export interface Verification {
  counts: Record<string, number | string>;
  faultsSeen: Record<string, number | string>;
  checks: Check[];
}

export async function verify(input: {
  sql: postgres.Sql;
  admin: postgres.Sql;
  config: StackConfig;
  ids: string[];
  stats: DeliveryStats;
  chaos: ChaosAction[];
  problems: string[];
  options: Options;
  started: number;
  /** When the faults went off (ms since the epoch): the lying share counts creates before it. */
  faultsOffAt: number;
  /** Bookings a host cancelled in Guestly on purpose (the Guestly side of the run). */
  hostCancelled: string[];
  /** Bookings whose reservation was deleted in Guestly, and their refunds (recreated.ts). */
  recreated: DeletedInGuestly;
  /** Bookings paid by an unmatched payment, its refund, then the late Checkout event. */
  early: EarlyRefund[];
}): Promise<Verification> {
  const { sql, admin, config, ids, stats, chaos, problems, options, started } = input;
  const n = ids.length;
  const sandboxUrl = config.sandboxUrl;
  const bookings = await sql<FinalRow[]>`
    select b.id, b.status, b.guestly_sync_status, b.guestly_sync_attempts,
           b.guestly_reservation_id, b.guestly_sync_gave_up_at, b.guestly_sync_next_attempt_at,
           b.guestly_sync_error, b.stripe_payment_intent_id, b.guestly_hold_status,
           b.guestly_hold_reservation_id, to_char(b.check_in, 'YYYY-MM-DD') as check_in,
           to_char(b.check_out, 'YYYY-MM-DD') as check_out, b.guests_count, b.guest_email,
           b.guestly_reference_set_at,
           (select p.guestly_listing_id from public.properties p where p.id = b.property_id)
             as listing_id,
           (select count(*) from guestly.sync_attempts a where a.booking_id = b.id)::int as logged,
           (select count(*) from guestly.admin_alerts a
             where a.booking_id = b.id and a.kind = 'sync_failed')::int as alerts,
           (select count(*) from payments.stripe_events e where e.booking_id = b.id)::int
             as ledger,
           (select count(*) from payments.stripe_events e
             where e.booking_id = b.id and e.outcome = 'confirmed')::int as ledger_confirmed
      from public.bookings b where b.id = any(${ids}::uuid[])`;
  const reservations = await httpJson(`${sandboxUrl}/__sandbox/reservations`) as Array<{
    reservationId: string;
    status: string;
    customFields: Array<{ fieldId: string; value: string }>;
    checkInDateLocalized?: string;
    checkOutDateLocalized?: string;
    guestsCount?: number;
    listingId?: string;
    source?: string | null;
    guest?: { email?: string };
  }>;
  const tokens = await httpJson(`${sandboxUrl}/__sandbox/tokens`) as { minted: number };
  const guestlyPayments = await httpJson(`${sandboxUrl}/__sandbox/payments`) as Array<{
    reservationId: string;
    note: string | null;
    status: string;
    amount: number;
    refundedAmount: number;
  }>;
  const requests = await httpJson(`${sandboxUrl}/__sandbox/requests`) as SandboxRequest[];
  const gateway = await httpJson(`${config.apiUrl}/__gateway/status`) as Array<{
    name: string;
    restarts: number;
  }>;
  const [attemptStats] = await sql`
    select count(*)::int as attempts,
           count(*) filter (where operation = 'lookup')::int as lookups,
           count(*) filter (where outcome = 'unknown')::int as unknown,
           count(*) filter (where outcome = 'retryable')::int as retryable,
           count(*) filter (where http_status = 429)::int as limited
      from guestly.sync_attempts where booking_id = any(${ids}::uuid[])`;
  const [alertsTotal] = await admin`
    select count(*)::int as n from guestly.admin_alerts where kind = 'sync_failed'`;

  // A reservation is a booking's by our reference, or — a create whose reference was never set
  // (Guestly drops it from the create; it is set afterwards) — by the stay it was created with:
  // listing, dates, our source and the guest's email. A duplicate without a reference counts.
  const byStay = new Map(
    bookings.map((b) => [`${b.listing_id}|${b.check_in}|${b.check_out}|${b.guest_email}`, b.id]),
  );
  const bookingOf = (r: (typeof reservations)[number]) =>
    r.customFields?.find((f) => ids.includes(f.value))?.value ??
      (r.source === "website"
        ? byStay.get(
          `${r.listingId}|${r.checkInDateLocalized?.slice(0, 10)}|` +
            `${r.checkOutDateLocalized?.slice(0, 10)}|${r.guest?.email}`,
        )
        : undefined);
  const perBooking = new Map<string, string[]>();
  for (const r of reservations) {
    const ref = bookingOf(r);
    if (ref) perBooking.set(ref, [...(perBooking.get(ref) ?? []), r.reservationId]);
  }
  // Every synced paid booking's reservation carries our reference, read back.
  const unreferenced = bookings.filter((b) =>
    b.status === "confirmed" && b.guestly_sync_status === "synced" &&
    (b.guestly_reference_set_at === null ||
      !reservations.some((r) =>
        r.reservationId === b.guestly_reservation_id &&
        r.customFields?.some((f) => f.value === b.id)
      ))
  );
  const paid = bookings.filter((b) => b.status === "confirmed");
  // Every booking was paid once; it stays confirmed unless the host cancelled it in Guestly, or
  // its whole payment was refunded before it was matched (an early refund in full).
  const hostCancelled = new Set(input.hostCancelled);
  const early = new Map(input.early.map((e) => [e.id, e]));
  const refundedInFull = (id: string) => early.get(id)?.full === true;
  const wrongStatus = bookings.filter((b) =>
    b.status !==
      (refundedInFull(b.id) ? "refunded" : hostCancelled.has(b.id) ? "cancelled" : "confirmed")
  );
  const synced = bookings.filter((b) => b.guestly_sync_status === "synced");
  const failed = bookings.filter((b) => b.guestly_sync_status === "failed");
  const failedFinal = failed.filter((b) => b.guestly_sync_gave_up_at !== null);
  const stuck = bookings.filter((b) =>
    b.status !== "pending_payment" &&
    (b.guestly_sync_status === "pending" ||
      (b.guestly_sync_status === "failed" && b.guestly_sync_next_attempt_at !== null))
  );
  const duplicates = [...perBooking.entries()].filter(([, list]) => list.length > 1);
  const livePerBooking = new Map<string, number>();
  for (const r of reservations) {
    const ref = bookingOf(r);
    if (ref && r.status !== "canceled") livePerBooking.set(ref, (livePerBooking.get(ref) ?? 0) + 1);
  }
  const liveDuplicates = [...livePerBooking.values()].filter((c) => c > 1).length;
  // A booking refunded in full never needed a reservation (its hold, if placed, is cancelled).
  const withoutReservation = ids.filter((id) => !perBooking.has(id) && !refundedInFull(id));
  const wrongId = synced.filter((b) =>
    (perBooking.get(b.id) ?? []).length === 1 &&
    perBooking.get(b.id)![0] !== b.guestly_reservation_id
  );
  const counterMismatch = bookings.filter((b) => b.logged !== b.guestly_sync_attempts);
  const alertOnNonFailed = bookings.filter((b) =>
    b.alerts > 0 && !(b.guestly_sync_status === "failed" && b.guestly_sync_gave_up_at)
  );
  const failedWithoutOneAlert = failedFinal.filter((b) => b.alerts !== 1);
  // One ledger row for the payment, and one for the partial refund of a re-created stay; early
  // refunds: the payment, its refund and the Checkout event (payment and Checkout confirmed).
  const refunded = new Set([...input.recreated.refundedBefore, ...input.recreated.refundedAfter]);
  const ledgerWrong = bookings.filter((b) =>
    b.ledger !== (early.has(b.id) ? 3 : 1) + (refunded.has(b.id) ? 1 : 0) ||
    b.ledger_confirmed !== (early.has(b.id) ? 2 : 1)
  );
  const money = await moneyExact(config, sql, ids, input.recreated);
  const foreign = reservations.length - [...perBooking.values()].flat().length;
  // Money: each synced booking's Stripe payment is on its reservation exactly once.
  const paymentsOn = (b: FinalRow) =>
    guestlyPayments.filter((p) =>
      p.reservationId === b.guestly_reservation_id &&
      p.note === `Stripe ${b.stripe_payment_intent_id}`
    ).length;
  const paymentsDoubled = synced.filter((b) => paymentsOn(b) > 1);
  const paymentsMissing = synced.filter((b) => paymentsOn(b) === 0 && !refundedInFull(b.id));
  // Early refunds: Guestly holds what Stripe does — the payment once, less what was refunded;
  // a booking refunded in full has nothing live and nothing paid in Guestly.
  const [matchedLate] = await admin`
    select coalesce(jsonb_object_agg(k.id, k.n), '{}'::jsonb) as per_booking from (
      select booking_id::text as id, count(*)::int as n from guestly.admin_alerts
       where kind = 'money_matched_late' and booking_id = any(${[...early.keys()]}::uuid[])
       group by booking_id) k`;
  const earlyWrong: string[] = [];
  for (const e of input.early) {
    const b = bookings.find((row) => row.id === e.id);
    const onGuestly = guestlyPayments.filter((p) => p.note === `Stripe ${e.paymentIntentId}`);
    const net = onGuestly.reduce((sum, p) => sum + p.amount - p.refundedAmount, 0);
    const liveReservations = reservations.filter((r) =>
      (perBooking.get(e.id) ?? []).includes(r.reservationId) && r.status !== "canceled"
    ).length;
    const alerted = Number((matchedLate.per_booking as Record<string, number>)[e.id] ?? 0);
    const wantNet = e.full ? 0 : (e.amount - e.refunded) / 100;
    const problem = !b
      ? "missing"
      : e.full && liveReservations > 0
      ? `${liveReservations} live reservation(s)`
      : !e.full && onGuestly.length !== 1
      ? `${onGuestly.length} payments of ${e.paymentIntentId} in Guestly`
      : Math.abs(net - wantNet) > 0.005
      ? `Guestly shows ${net.toFixed(2)} paid, Stripe holds ${wantNet.toFixed(2)}`
      : alerted !== 1
      ? `${alerted} money_matched_late alerts`
      : null;
    if (problem) {
      earlyWrong.push(`${e.id} (${e.full ? "full" : "partial"}): ${problem}`);
    }
  }

  const creates = requests.filter(isCreate);
  // The share is measured over the creates sent while the faults were on (the settle phase
  // after them has none), leaving out those a 429 storm refused: during a storm every request
  // is refused, so nothing could meet any other fault, and a sync retrying through a storm
  // makes many of them.
  const faultedAll = creates.filter((r) => Date.parse(r.time) < input.faultsOffAt);
  const faulted = faultedAll.filter((r) => r.fault !== "storm429");
  const lyingCreates = faulted.filter((r) => LYING.test(r.fault ?? ""));
  const lyingShare = faulted.length ? lyingCreates.length / faulted.length : 0;
  const lyingShareAll = faultedAll.length ? lyingCreates.length / faultedAll.length : 0;
  const count = (pattern: RegExp) => creates.filter((r) => pattern.test(r.fault ?? "")).length;
  const faultsSeen: Record<string, number | string> = {
    "requests to Guestly API": requests.filter((r) => r.path.startsWith("/v1/")).length,
    "creates (POST reservations-v3) / committed": `${creates.length} / ${
      creates.filter((r) => r.committed).length
    }`,
    "5xx injected": requests.filter((r) => r.fault?.startsWith("error(")).length,
    "hangs (past the 2 s timeout)": requests.filter((r) => r.fault === "hang").length,
    "lost responses (done, answer dropped)":
      requests.filter((r) => r.fault?.startsWith("lostResponse")).length,
    "creates: commit then 502/503": count(/^commitThenError/),
    "creates: commit then 504": count(/^commitThen504/),
    "creates: slow commit (past the timeout)": count(/^slowCommit/),
    "creates while faults were on (all / outside 429 storms) / met a lying gateway":
      `${faultedAll.length} / ${faulted.length} / ${lyingCreates.length} (${
        (lyingShareAll * 100).toFixed(1)
      } % of all, ${(lyingShare * 100).toFixed(1)} % outside storms)`,
    "creates dropped on a reused connection": count(/^dropReusedCreate/),
    "429 storm answers": requests.filter((r) => r.fault === "storm429").length,
    "429 real rate limit": requests.filter((r) => r.status === 429 && !r.fault).length,
    "token requests": requests.filter((r) => r.path === "/oauth2/token").length,
    "payment records (POST …/payments) / answered 404 too soon after the create": `${
      requests.filter((r) => r.method === "POST" && /\/payments$/.test(r.path)).length
    } / ${requests.filter((r) => r.fault === "paymentNotReady").length}`,
  };
  // Holds (GUESTLY_HOLD_MINUTES): none left half-done; a hold that reached Guestly became the
  // booking's one reservation (the payment confirmed it: no second create).
  const holdsAsked = bookings.filter((b) => b.guestly_hold_status !== null);
  const holdsOpen = holdsAsked.filter((b) =>
    b.guestly_hold_status === "placing" || b.guestly_hold_status === "releasing"
  );
  // A stay whose reservation was deleted in Guestly and re-created keeps its confirmed hold's id
  // on record: the hold was the booking's reservation until the host deleted it.
  const deletedInGuestly = new Set(input.recreated.picked.map((b) => b.id));
  const holdNotTheReservation = synced.filter((b) =>
    b.guestly_hold_reservation_id !== null && b.guestly_hold_status === "confirmed" &&
    b.guestly_hold_reservation_id !== b.guestly_reservation_id && !deletedInGuestly.has(b.id)
  );
  const holdStates: Record<string, number> = {};
  for (const b of holdsAsked) {
    holdStates[b.guestly_hold_status!] = (holdStates[b.guestly_hold_status!] ?? 0) + 1;
  }
  const holdCreates = requests.filter((r) => isCreate(r) && r.status === 201).length;
  // Both sides: after host changes with dropped, duplicated and reordered webhooks and the
  // reconciliation, what each booking says is what Guestly holds.
  const notMatching = mismatches(bookings, reservations);
  const hostChangeText = chaos.filter((c) => c.what === "host changes").map((c) => c.detail)
    .join("; ") || "none made";
  const sample = (rows: Array<{ id: string }>) =>
    rows.slice(0, 5).map((r) => r.id).join(", ") + (rows.length > 5 ? ", …" : "");
  const done = chaosDone(chaos);
  // Issue 11 asks for at least 30 %. The configured share is of the creates the sandbox lets
  // through its other faults; 429 storms and dropped reused connections take some more, so the
  // default (0.45) leaves room above 30 %. A smaller --commit-faults lowers the bar with it.
  const lyingTarget = Math.min(0.3, Math.max(0, options.commitFaults - 0.05));
  const checks: Check[] = [
    {
      name: "every payment event accepted (re-sent until 200)",
      ok: stats.lost.length === 0,
      detail: `${stats.events - stats.lost.length}/${stats.events} accepted`,
    },
    {
      name:
        "every booking paid, one ledger row each, and one per refund (confirmed; cancelled only where the host cancelled)",
      ok: wrongStatus.length === 0 && ledgerWrong.length === 0,
      detail: `${paid.length}/${n} confirmed, ${hostCancelled.size} cancelled by the host; ` +
        `${wrongStatus.length} in another state ${sample(wrongStatus)}; ` +
        `${ledgerWrong.length} with ≠ 1 ledger row ${sample(ledgerWrong)}`,
    },
    {
      name: "every paid booking synced",
      ok: synced.length === n,
      detail: `${synced.length}/${n} synced, ${failed.length} failed (${failedFinal.length} final)`,
    },
    {
      name: "nothing stuck pending or waiting for a retry",
      ok: stuck.length === 0,
      detail: `${stuck.length} ${sample(stuck)}`,
    },
    {
      name: "exactly one Guestly reservation per booking",
      ok: duplicates.length === 0 && withoutReservation.length === 0 && wrongId.length === 0,
      detail: `${duplicates.length} duplicated, ${withoutReservation.length} missing, ` +
        `${wrongId.length} with another id than recorded${
          duplicates.length ? `: ${duplicates.slice(0, 5).map(([id]) => id).join(", ")}` : ""
        }`,
    },
    {
      name: "every synced paid booking's reservation carries our reference (set after the create)",
      ok: unreferenced.length === 0,
      detail: `${unreferenced.length} without it${
        unreferenced.length ? `: ${unreferenced.slice(0, 5).map((b) => b.id).join(", ")}` : ""
      }`,
    },
    {
      name: "every synced booking's payment recorded in Guestly exactly once",
      ok: paymentsDoubled.length === 0 && paymentsMissing.length === 0,
      detail:
        `${synced.length - paymentsDoubled.length - paymentsMissing.length}/${synced.length}` +
        ` once; ${paymentsDoubled.length} doubled ${sample(paymentsDoubled)}, ` +
        `${paymentsMissing.length} missing ${sample(paymentsMissing)}`,
    },
    {
      name: "money exact in Guestly: every stay shows what Stripe took less what it gave back",
      ok: money.exact.length === 0,
      detail: `${money.checked - money.exact.length}/${money.checked} exact${
        money.exact.length ? `: ${money.exact.slice(0, 5).join("; ")}` : ""
      }`,
    },
    {
      name: "reservations deleted in Guestly: re-created once, their payment (and refund) on " +
        "the new one",
      ok: input.recreated.deleted.length > 0 && money.recreatedWrong.length === 0,
      detail:
        `${input.recreated.deleted.length} deleted (${input.recreated.refundedBefore.length} ` +
        `refunded before, ${input.recreated.refundedAfter.length} after the re-create); ` +
        `${money.recreatedWrong.length} wrong ${money.recreatedWrong.slice(0, 5).join(", ")}`,
    },
    {
      name: "early refunds (refunded before the payment was matched): money exact in Guestly, " +
        "one money_matched_late alert each",
      ok: earlyWrong.length === 0,
      detail:
        `${input.early.length - earlyWrong.length}/${input.early.length} exact (${
          input.early.filter((e) => e.full).length
        } refunded in full: booking refunded, nothing live or paid in Guestly; the rest confirmed ` +
        `with payment less refund)${
          earlyWrong.length ? `; ${earlyWrong.slice(0, 5).join("; ")}` : ""
        }`,
    },
    {
      name: `at least ${
        (lyingTarget * 100).toFixed(0)
      } % of creates (faults on, outside 429 storms) met a lying gateway`,
      ok: lyingShare >= lyingTarget,
      detail: `${lyingCreates.length}/${faulted.length} (${(lyingShare * 100).toFixed(1)} %)`,
    },
    {
      name: "attempt log == guestly_sync_attempts for every booking",
      ok: counterMismatch.length === 0,
      detail: `${counterMismatch.length} mismatched ${sample(counterMismatch)}`,
    },
    {
      name: "holds: none left half-done; every confirmed hold is its booking's one reservation",
      ok: holdsOpen.length === 0 && holdNotTheReservation.length === 0,
      detail:
        `${holdsAsked.length} holds asked for (${
          Object.entries(holdStates).map(([k, v]) => `${v} ${k}`).join(", ") || "holds off"
        }); ${holdsOpen.length} still placing/releasing ${sample(holdsOpen)}, ` +
        `${holdNotTheReservation.length} confirmed on another reservation ` +
        `${sample(holdNotTheReservation)}`,
    },
    {
      name: "every booking matches its Guestly reservation (status, dates, guests)",
      ok: notMatching.length === 0,
      detail: `${notMatching.length} differ${
        notMatching.length ? `: ${notMatching.slice(0, 5).join("; ")}` : ""
      }; host changes ${hostChangeText}`,
    },
    {
      name: "at most one token minted",
      ok: tokens.minted <= 1,
      detail: `${tokens.minted} minted`,
    },
    {
      name: "sync_failed alerts only for final failures, one each",
      ok: alertOnNonFailed.length === 0 && failedWithoutOneAlert.length === 0,
      detail: `${alertsTotal.n} alerts; ${alertOnNonFailed.length} on non-failed bookings, ` +
        `${failedWithoutOneAlert.length} final failures without exactly one`,
    },
    {
      name: "all chaos actions done",
      ok: done.kills === 3 && done.postgres && done.queueWipe && done.storms === 3,
      detail: `${done.kills} function kill rounds, Postgres crash ${
        done.postgres ? "done" : "NOT done"
      }, queue wipe ${done.queueWipe ? "done" : "NOT done"}, ${done.storms} storms`,
    },
    {
      name: "no problems during the run",
      ok: problems.length === 0,
      detail: problems.length ? problems.join("; ") : "none",
    },
    {
      name: "the run stopped by itself within 15 min",
      ok: Date.now() - started <= options.maxRunMs + 60_000,
      detail: `${((Date.now() - started) / 1000).toFixed(0)} s`,
    },
  ];
  const counts: Record<string, number | string> = {
    "bookings": n,
    "paid (confirmed)": paid.length,
    "synced": synced.length,
    "failed (final)": `${failed.length} (${failedFinal.length})`,
    "stuck pending / retrying": stuck.length,
    "sandbox reservations (total / ours)": `${reservations.length} / ${
      [...perBooking.values()].flat().length
    }`,
    "bookings with exactly one reservation":
      [...perBooking.values()].filter((l) => l.length === 1).length,
    "bookings with more than one live reservation": liveDuplicates,
    "bookings missing a reservation": withoutReservation.length,
    "duplicate reservations": duplicates.reduce((sum, [, l]) => sum + l.length - 1, 0),
    "reservations matching no booking": foreign,
    "attempts logged (lookups / unknown outcome / retryable / 429)":
      `${attemptStats.attempts} (${attemptStats.lookups} / ${attemptStats.unknown} / ${attemptStats.retryable} / ${attemptStats.limited})`,
    "bookings whose attempt log ≠ counter": counterMismatch.length,
    "tokens minted": tokens.minted,
    "Guestly payments (recorded / on synced bookings)": `${guestlyPayments.length} / ${
      synced.reduce((sum, b) => sum + paymentsOn(b), 0)
    }`,
    "sync_failed alerts": alertsTotal.n,
    "bookings not matching their Guestly reservation": notMatching.length,
    "holds (by final state)": Object.entries(holdStates).map(([k, v]) => `${v} ${k}`).join(", ") ||
      "holds off",
    "creates answered 201 (holds and plain creates)": holdCreates,
    "function restarts (gateway)": gateway.map((g) => `${g.name} ${g.restarts}`).join(", "),
  };
  return { counts, faultsSeen, checks };
}
