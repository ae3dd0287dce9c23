// `npm run guestly:webhook`: registering twice never makes two subscriptions, a subscription
// missing one of the v2 events gets it added, and status shows what guestly-webhook lacks.
import assert from "node:assert/strict";
import { planRegistration } from "../../functions/_shared/guestly-webhook/subscriptions.ts";
import {
  formatLedger,
  formatSubscriptions,
  resolveSettings,
} from "../../../scripts/guestly-webhook.ts";
import { formatGuestlyChanges } from "../../../scripts/sync-status-guestly.ts";

const URL_ = "https://abc.supabase.co/functions/v1/guestly-webhook";

Deno.test("register: create when absent, nothing when complete, widen when an event is missing", () => {
  assert.deepEqual(planRegistration([], URL_), {
    action: "create",
    url: URL_,
    events: ["reservation.created.v2", "reservation.updated.v2"],
  });
  const complete = [{
    _id: "w1",
    url: URL_,
    events: ["reservation.updated.v2", "reservation.created.v2"],
  }];
  assert.deepEqual(planRegistration(complete, URL_), { action: "none", id: "w1" });
  const legacy = [{ _id: "w2", url: URL_, events: ["reservation.new", "reservation.updated.v2"] }];
  assert.deepEqual(planRegistration(legacy, URL_), {
    action: "update",
    id: "w2",
    url: URL_,
    events: ["reservation.new", "reservation.updated.v2", "reservation.created.v2"],
  });
  const other = [{ _id: "w3", url: "https://elsewhere.example/hook", events: [] }];
  assert.equal(planRegistration(other, URL_).action, "create", "another URL is not ours");
});

Deno.test("status lines name missing events and an empty ledger", () => {
  const lines = formatSubscriptions([{ _id: "w2", url: URL_, events: ["reservation.new"] }]);
  assert.match(
    lines[0],
    /missing for guestly-webhook: reservation\.created\.v2, reservation\.updated\.v2/,
  );
  assert.deepEqual(formatSubscriptions([]), ["no webhook subscriptions in Guestly"]);
  assert.match(formatLedger([])[0], /no Guestly event received/);
  assert.match(
    formatLedger([{ outcome: null, count: 2, last_received_at: null }]).join("\n"),
    /waiting to be applied\s+2/,
  );
});

Deno.test("a real Guestly account needs the project's database (the shared token cache)", async () => {
  await assert.rejects(
    resolveSettings({ GUESTLY_BASE_URL: "https://open-api.guesty.com/v1" }),
    /SUPABASE_DB_URL/,
  );
});

Deno.test("sync:status shows what Guestly changed and what waits to be applied", () => {
  const text = formatGuestlyChanges({
    counts: { applied: 2, ignored: 5, waiting: 1 },
    applied: [{
      received_at: new Date("2026-12-02T10:00:00Z"),
      event_type: "reservation.updated.v2",
      reservation_id: "r1",
      outcome: "applied",
      reason: null,
      booking_id: "b1",
      changes: { status: ["confirmed", "cancelled"] },
      apply_attempts: 0,
      last_error: null,
    }],
    waiting: [{
      received_at: new Date("2026-12-02T10:05:00Z"),
      event_type: "reservation.updated.v2",
      reservation_id: "r2",
      outcome: null,
      reason: null,
      booking_id: null,
      changes: null,
      apply_attempts: 2,
      last_error: "reading reservation r2 from Guestly: HTTP 503",
    }],
  });
  assert.match(text, /applied 2 · no_change 0 · stale 0 · ignored 5 · waiting 1/);
  assert.match(text, /booking b1: status confirmed → cancelled/);
  assert.match(text, /r2 · 2 attempt\(s\) · reading reservation r2 from Guestly: HTTP 503/);
});
