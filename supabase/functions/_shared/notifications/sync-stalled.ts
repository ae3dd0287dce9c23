// The `sync_stalled` alert email: a paid booking has owed Guestly a sync for longer than
// GUESTLY_STALL_ALERT_MINUTES and nothing got anywhere. Pure: everything comes from the alert's
// details, written by guestly.detect_stalled_syncs (cause, reason, evidence).
import {
  type AlertContext,
  bookingRows,
  formatTime,
  retryCommands,
  type Row,
  type Section,
  str,
} from "./admin-alerts.ts";

/** What an admin does about each cause the detector can name. */
export const STALL_ADVICE: Record<string, string[]> = {
  sync_disabled: [
    "Turn the sync on: supabase secrets set GUESTLY_SYNC_ENABLED=true (guestly-sync restarts " +
    "with it). Every waiting booking is then synced by the sweep within a few minutes.",
    "If this deployment is meant to be off, enter the booking in Guestly by hand.",
  ],
  test_mode: [
    "Turn test mode off: supabase secrets set GUESTLY_TEST_MODE=false. Waiting bookings are " +
    "then synced by the sweep within a few minutes.",
  ],
  unauthorized: [
    "Put the project's service_role key (Dashboard → Project Settings → API) into Vault:",
    "select vault.update_secret((select id from vault.secrets where name = 'service_role_key'), " +
    "'<service_role key>');",
  ],
  function_not_found: [
    "Deploy the function (supabase functions deploy guestly-sync) and check the Vault secret " +
    "project_url (https://<project-ref>.supabase.co).",
  ],
  function_error: [
    "Open the guestly-sync logs (Dashboard → Edge Functions → guestly-sync → Logs). A line " +
    "'invalid configuration: NAME: …' at start-up names the setting to fix (supabase secrets " +
    "set NAME=…); 'guestly.sync.crashed' names a database error.",
  ],
  unreachable: [
    "Check the Vault secret project_url (https://<project-ref>.supabase.co) and that the " +
    "project's Edge Functions answer.",
  ],
  no_progress: [
    "guestly-sync runs but gives the booking back without trying (its answer is below): a busy " +
    "rate limiter or a held lease. If it persists, read the guestly-sync logs for this booking.",
  ],
  not_called: [
    "Create or fix the Vault secrets project_url and service_role_key, and check that pg_net " +
    "is enabled (Dashboard → Database → Extensions).",
  ],
  no_response: [
    "Check that pg_net is enabled and answering: " +
    "select * from net._http_response order by created desc limit 5;",
  ],
  not_invoked: [
    "Check the pg_cron job guestly-sync-sweep: " +
    "select * from cron.job_run_details order by start_time desc limit 5; and that pg_net is " +
    "enabled.",
  ],
};

const FALLBACK_ADVICE = ["Read the reason above and the guestly-sync logs for this booking."];

function obj(value: unknown): Record<string, unknown> | null {
  return value && typeof value === "object" ? value as Record<string, unknown> : null;
}

function minutesBetween(from: unknown, to: unknown): number | null {
  const a = new Date(String(from)).getTime();
  const b = new Date(String(to)).getTime();
  return Number.isFinite(a) && Number.isFinite(b)
    ? Math.max(0, Math.round((b - a) / 60_000))
    : null;
}

export function syncStalledSubject(ctx: AlertContext, who: string, booking: string): string {
  const d = ctx.alert.details ?? {};
  const waited = minutesBetween(d.due_since, d.detected_at ?? ctx.alert.created_at);
  const cause = String(d.cause ?? "unknown cause").replaceAll("_", " ");
  const waitedText = waited === null ? "" : `nothing for ${waited} min: `;
  return `Guestly sync stalled: ${booking} — ${who} (${waitedText}${cause})`;
}

export function syncStalledSections(ctx: AlertContext): Section[] {
  const d = ctx.alert.details ?? {};
  const cause = str(d.cause) ?? "unknown";
  const response = obj(d.last_response);
  const attempt = obj(d.last_attempt);
  const state = obj(d.function_state);
  const waited = minutesBetween(d.due_since, d.detected_at ?? ctx.alert.created_at);

  const evidence: Row[] = [
    ["Likely cause", cause],
    ["Waiting since", formatTime(str(d.due_since))],
    ["Threshold", `${d.stall_minutes ?? 15} min (GUESTLY_STALL_ALERT_MINUTES)`],
    [
      "Calls to guestly-sync",
      `${Number(d.calls ?? 0)} since then` +
      (Number(d.calls_not_made ?? 0) ? `, ${d.calls_not_made} could not be made` : "") +
      (Number(d.calls_unanswered ?? 0) ? `, ${d.calls_unanswered} unanswered` : ""),
    ],
    [
      "Latest answer",
      response
        ? `${response.http_status != null ? `HTTP ${response.http_status}` : "no HTTP answer"}` +
          ` at ${formatTime(str(response.at))}` +
          (str(response.error) ? ` — ${response.error}` : "") +
          (str(response.body) ? ` — ${response.body}` : "")
        : "(none recorded)",
    ],
    [
      "Function reported",
      state
        ? `GUESTLY_SYNC_ENABLED=${state.enabled} GUESTLY_TEST_MODE=${state.test_mode}` +
          ` at ${formatTime(str(state.reported_at))}`
        : "(nothing: guestly-sync has not reported since it last started)",
    ],
    [
      "Last attempt",
      attempt
        ? `#${attempt.attempt} (${attempt.operation}) at ${formatTime(str(attempt.started_at))}: ` +
          `${attempt.http_status != null ? `HTTP ${attempt.http_status}` : "no response"} ` +
          `${attempt.error ?? attempt.outcome ?? ""}`.trimEnd()
        : "(no attempt in this episode)",
    ],
  ];
  if (str(d.call_error)) evidence.push(["Call error", String(d.call_error)]);

  const bookingId = ctx.booking?.id ?? ctx.alert.booking_id;
  const retry: Section = { title: "After the fix", lines: [], rows: [] };
  if (bookingId) {
    const commands = retryCommands(bookingId);
    retry.lines = [
      "Nothing else to do: the sweep keeps calling guestly-sync for this booking and syncs it " +
      "once the cause is gone. To start at once (a new episode) use one of:",
    ];
    retry.rows = [["CLI", commands.cli], ["SQL (Studio)", commands.sql]];
  } else retry.lines = ["The booking no longer exists: there is nothing to retry."];

  return [
    {
      title: "What happened",
      lines: [
        `This paid booking has owed Guestly a sync${
          waited === null ? "" : ` for ${waited} minutes`
        } and no attempt got anywhere: Guestly does not know about it yet. The database keeps ` +
        "trying; this alert is sent once for this episode.",
        `Likely cause: ${str(d.reason) ?? "(not determined)"}`,
        `Alert written ${formatTime(ctx.alert.created_at)}.`,
      ],
    },
    { title: "What to do", lines: STALL_ADVICE[cause] ?? FALLBACK_ADVICE },
    { title: "Booking", rows: bookingRows(ctx) },
    { title: "What the database saw", rows: evidence },
    retry,
  ];
}
