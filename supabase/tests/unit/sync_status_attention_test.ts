// sync:status puts stalls and undelivered alerts first: when notify-admin is what is broken,
// this report is where an operator learns that nobody was told.
import assert from "node:assert/strict";
import {
  formatStatus,
  type Overview,
  statusJson,
  toOverview,
} from "../../../scripts/sync-status.ts";

const AS_OF = new Date("2026-12-02T12:00:00Z");
const OVERVIEW: Overview = { ...toOverview({ pending: 1, alerts_waiting: 2 }), as_of: AS_OF };

const ATTENTION = {
  stalled: [{
    booking_id: "5eed0000-0000-4000-8000-000000000001",
    guest_name: "Ada Lovelace",
    property_name: "Ocean View Loft",
    waiting_since: new Date("2026-12-02T11:40:00Z"),
    cause: "unauthorized",
    reason: "guestly-sync answered HTTP 401 to the database's calls: the key in the Vault " +
      "secret service_role_key is not accepted by the function.",
    alerted: true,
    alert_sent_at: null,
  }],
  undelivered: [
    {
      alert_id: "a1e70000-0000-4000-8000-000000000001",
      kind: "sync_stalled",
      booking_id: "5eed0000-0000-4000-8000-000000000001",
      created_at: new Date("2026-12-02T11:56:00Z"),
      send_attempts: 0,
      why: "notify-admin answered HTTP 401: the key the database sends (Vault secret " +
        "service_role_key) is not accepted — set it to the project's service_role key",
    },
    {
      alert_id: "a1e70000-0000-4000-8000-000000000002",
      kind: "sync_failed",
      booking_id: null,
      created_at: new Date("2026-12-02T11:59:30Z"),
      send_attempts: 0,
      why: "written, not picked up by notify-admin yet",
    },
  ],
};

Deno.test("undelivered alerts lead the report, with why; fresh ones are in flight", () => {
  const text = formatStatus(OVERVIEW, [], { total: 0, newest: [] }, ATTENTION);
  const lines = text.split("\n");
  assert.equal(
    lines[2],
    "!!! 1 ADMIN ALERT NOT DELIVERED (oldest 4m 00s): nobody has been emailed about these.",
  );
  assert.match(
    lines[3],
    /^!!! why: notify-admin answered HTTP 401: .*Vault secret service_role_key/,
  );
  assert.match(lines[4], /sync_stalled +booking 5eed0000-0000-4000-8000-000000000001 · written/);
  assert.ok(!text.includes("a1e70000-0000-4000-8000-000000000002"), "30 s old: still in flight");
  assert.ok(!text.includes("booking - ·"), "the fresh alert is not listed");
});

Deno.test("stalled bookings are listed with cause, reason and alert state", () => {
  const text = formatStatus(OVERVIEW, [], { total: 0, newest: [] }, ATTENTION);
  assert.match(text, /Stalled bookings \(1\): paid, owed to Guestly, going nowhere/);
  assert.match(text, /waiting 20m 00s · cause unauthorized · alert written, NOT sent yet/);
  assert.match(text, /HTTP 401 to the database's calls/);
  const json = statusJson(OVERVIEW, [], { total: 0, newest: [] }, ATTENTION);
  assert.equal(json.stalled[0].waiting_since, "2026-12-02T11:40:00.000Z");
  assert.equal(json.undelivered_alerts.length, 2);
});

Deno.test("nothing stalled, nothing undelivered: no banner", () => {
  const text = formatStatus(OVERVIEW, []);
  assert.ok(!text.includes("!!!"));
  assert.ok(!text.includes("Stalled bookings"));
});

Deno.test("sync:status counts holds under awaiting payment, only when there are any", () => {
  const none = formatStatus(OVERVIEW, []);
  assert.doesNotMatch(none, /holds:/);
  const withHolds = formatStatus({
    ...toOverview({ awaiting_payment: 6, holds_placing: 1, holds_held: 4, holds_unavailable: 1 }),
    as_of: AS_OF,
  }, []);
  assert.match(withHolds, /holds: 1 being placed, 4 held, 1 refused \(nights taken\)/);
});
