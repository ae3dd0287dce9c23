// The `reconciliation_drift` alert email: one per reconciliation run that found drift, written by
// guestly_reconcile.finish_run. What was healed (nothing to do but check), and what needs an
// operator, with what to do for each kind. Pure: everything comes from the alert's details
// (no guest contact data is in them: booking and reservation ids only).
import { type AlertContext, formatTime, type Section, str } from "./admin-alerts.ts";
import { ON_STAY_OF_UNBOUND_BOOKING, REINSTATED_IN_GUESTLY } from "../reconcile/classify.ts";

interface Item {
  kind: string;
  booking_id: string | null;
  reservation_id: string | null;
  action: string;
  action_detail: string | null;
  details: Record<string, unknown> | null;
}

/** What an operator does about each kind of drift that was left to them. */
export const DRIFT_ADVICE: Record<string, string> = {
  missing_in_guestly:
    "The booking's reservation is gone from Guestly. `npm run sync:reconcile -- " +
    "--fix --booking <id>` starts a sync that looks it up, then creates it again and records " +
    "its payments and refunds on it again.",
  not_ours: "A live reservation carries our source or reference but no booking here holds it " +
    "(a booking never paid, deleted, or a reservation entered by hand): check it in Guestly and " +
    "cancel it there if nobody is staying.",
  status_differs: "Guestly's status disagrees with the booking and it is not clear who is right: " +
    "check the reservation in Guestly; `npm run sync:retry -- <booking id>` sends the booking's.",
  content_differs: "Guestly holds other dates, guests or another listing than the booking (a " +
    "move to another listing is never followed on our own): decide which is right, change the " +
    "other one.",
  duplicate: "More than one live reservation carries the booking's reference: cancel the copy in " +
    "Guestly (the one the booking does not hold).",
  missed_webhook: "A change made in Guestly never reached the booking and could not be applied " +
    "now (see the reason): check the booking.",
};

/** Reasons that need words of their own in the email. */
const REASON_TEXT: Record<string, string> = {
  [REINSTATED_IN_GUESTLY]: "Guestly had it cancelled; someone there made it live again. Not " +
    "cancelled again on our own: if the guest stays, confirm the booking here; if not, cancel " +
    "it in Guestly",
  [ON_STAY_OF_UNBOUND_BOOKING]: "no reference, on the stay of this booking, which holds no " +
    "reservation (its sync failed, or it is not paid): perhaps our create that was never " +
    "recorded, perhaps another one. `npm run sync:retry -- <booking id>` binds it if it is the " +
    "booking's (the lookup checks the guest); otherwise cancel it in Guestly if nobody stays",
};

const LABEL: Record<string, string> = {
  missing_in_guestly: "missing in Guestly",
  not_ours: "in Guestly, not ours to hold",
  status_differs: "status differs",
  content_differs: "dates/guests/listing differ",
  duplicate: "duplicate reservation",
  missed_webhook: "changed in Guestly, webhook never arrived",
};

function items(ctx: AlertContext): Item[] {
  const list = ctx.alert.details?.items;
  return Array.isArray(list) ? list as Item[] : [];
}

function what(i: Item): string {
  const d = i.details ?? {};
  if (Array.isArray(d.differs) && d.differs.length) {
    return `${(d.differs as string[]).join(", ")}: here ${JSON.stringify(d.booking)}, ` +
      `Guestly ${JSON.stringify(d.guestly)}`;
  }
  if (d.guestly_status !== undefined || d.booking_status !== undefined) {
    return `here ${str(d.booking_status) ?? "-"}, Guestly ${str(d.guestly_status) ?? "-"}` +
      (d.reason ? ` (${REASON_TEXT[str(d.reason) ?? ""] ?? str(d.reason)})` : "");
  }
  return str(d.reason) ?? str(d.guestly) ?? "";
}

function line(i: Item): string {
  return `${LABEL[i.kind] ?? i.kind} — booking ${i.booking_id ?? "-"}, reservation ` +
    `${i.reservation_id ?? "-"}: ${what(i)}${i.action_detail ? ` → ${i.action_detail}` : ""}`;
}

export function reconciliationSubject(ctx: AlertContext): string {
  const d = ctx.alert.details ?? {};
  const all = items(ctx);
  const drift = Number(d.drift ?? all.length);
  // Counted over the whole run (the email lists at most 50 items).
  const actions = (d.actions ?? {}) as Record<string, unknown>;
  const healed = typeof actions.healed === "number"
    ? actions.healed
    : all.filter((i) => i.action === "healed").length;
  const open = Math.max(0, drift - healed);
  const failed = d.error ? "the run failed" : "";
  if (drift === 0) return `Reconciliation with Guestly: ${failed || "no differences"}`;
  return `Reconciliation with Guestly: ${drift} difference${drift === 1 ? "" : "s"}` +
    ` (${open} need${open === 1 ? "s" : ""} you, ${healed} healed)` +
    (failed ? ` — ${failed}` : "");
}

export function reconciliationSections(ctx: AlertContext): Section[] {
  const d = ctx.alert.details ?? {};
  const all = items(ctx);
  const open = all.filter((i) => i.action !== "healed");
  const healed = all.filter((i) => i.action === "healed");
  const kindsOpen = [...new Set(open.map((i) => i.kind))];
  const sections: Section[] = [
    {
      title: "What happened",
      lines: [
        `The reconciliation of ${formatTime(str(d.started_at))} compared ` +
        `${d.bookings_checked ?? "?"} bookings with ${d.reservations_seen ?? "?"} Guestly ` +
        `reservations (${d.requests_used ?? "?"} Guestly requests) and found ` +
        `${d.drift ?? all.length} difference(s).`,
        d.fix
          ? "Safe differences were healed through the normal sync (or applied as the lost " +
            "webhook would have been); the rest is listed below for you."
          : "This run only reported (no --fix): nothing was changed.",
        ...(d.error
          ? [
            `The run failed and stopped early: ${str(d.error)}. What it did not reach is ` +
            "unchecked until the next run (daily at 03:17 UTC, or npm run sync:reconcile).",
          ]
          : []),
        "Full list: npm run sync:status, or select * from guestly_reconcile.drift_items where " +
        `run_id = '${str(d.run_id) ?? "?"}';`,
      ],
    },
  ];
  if (open.length) {
    sections.push({ title: `Needs you (${open.length})`, lines: open.map(line) });
    sections.push({
      title: "What to do",
      lines: kindsOpen.map((k) => `${LABEL[k] ?? k}: ${DRIFT_ADVICE[k] ?? "check it in Guestly."}`),
    });
  }
  if (healed.length) {
    sections.push({
      title: `Healed (${healed.length})`,
      lines: [
        ...healed.map(line),
        "Nothing to do: sync:status shows the syncs these started.",
      ],
    });
  }
  const shown = all.length;
  const drift = Number(d.drift ?? shown);
  if (drift > shown) {
    sections.push({ title: "More", lines: [`${drift - shown} more not listed here.`] });
  }
  return sections;
}

// The `reconciliation_abandoned` email: a run that never recorded its result, found by
// guestly_reconcile.abandon_dead_runs (the 5-minute check, or the next run's begin).

export function abandonedRunSubject(ctx: AlertContext): string {
  const d = ctx.alert.details ?? {};
  return `Reconciliation with Guestly: the run of ${formatTime(str(d.started_at))} never finished`;
}

export function abandonedRunSections(ctx: AlertContext): Section[] {
  const d = ctx.alert.details ?? {};
  const budget = typeof d.time_budget_seconds === "number" ? d.time_budget_seconds : null;
  const healed = Number(d.healed ?? 0);
  const recorded = Number(d.drift_recorded ?? 0);
  return [
    {
      title: "What happened",
      lines: [
        `The reconciliation that began ${formatTime(str(d.started_at))} (${
          str(d.triggered_by) ?? "?"
        }${d.fix ? ", with --fix" : ""}) never recorded a result; it was marked failed at ` +
        `${formatTime(str(d.abandoned_at))}.`,
        budget === null
          ? "It ran without a time limit (npm run sync:reconcile in a process of its own) and " +
            "gave no result within an hour: the process was stopped or lost its connection."
          : `It ran inside guestly-reconcile with a ${budget} s budget. No function lives past ` +
            "the platform's wall clock (150 s on the free plan, 400 s on paid plans), so the " +
            "function was ended before the run could stop itself: the wall clock (a budget " +
            "above the plan's limit), memory, or a deploy or crash.",
        `Before it died it had recorded ${recorded} difference(s)` +
        (healed ? `, ${healed} of them healed (sync:status shows those syncs)` : "") +
        ". Nothing after its last step was compared or healed; the next daily run (03:17 UTC) " +
        "checks everything again.",
      ],
    },
    {
      title: "What to do",
      lines: [
        "Look at guestly-reconcile's logs around the start time (guestly.reconcile.* lines) " +
        "for how far it got.",
        budget === null
          ? "Run npm run sync:reconcile -- --fix again from a machine that stays up."
          : "If it hit the wall clock, set GUESTLY_RECONCILE_TIME_BUDGET_SECONDS below your " +
            "plan's limit (free plan: the default 120; paid: up to 390), or run " +
            "npm run sync:reconcile -- --fix from a machine (no time limit).",
        "To check now instead of waiting for tomorrow: npm run sync:reconcile -- --fix.",
        `The run: select * from guestly_reconcile.runs where id = '${str(d.run_id) ?? "?"}';`,
      ],
    },
  ];
}
