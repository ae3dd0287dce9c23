import assert from "node:assert/strict";
import { MASKED, memoryLogger } from "../../functions/_shared/log.ts";
import { syncBookingToGuestly } from "../../functions/_shared/guestly/sync.ts";
import { bookingRow, FakeGuestly, MemoryStore, testDeps } from "./fakes.ts";

Deno.test("logs drop secrets and mask guest contact details at any depth", () => {
  const log = memoryLogger();
  log.info("x", {
    booking_id: "b1",
    api_key: "sk_live_123",
    payload: { guest: { firstName: "Zoë", email: "zoe@example.com", phones: ["+447700900123"] } },
    list: [{ guest_phone: "+15555550100", authorization: "Bearer abc" }],
  });
  const [entry] = log.entries;
  assert.equal(entry.booking_id, "b1");
  assert.equal("api_key" in entry, false);
  assert.deepEqual(entry.payload, { guest: { firstName: "Zoë", email: MASKED, phones: MASKED } });
  assert.deepEqual(entry.list, [{ guest_phone: MASKED }]);
});

Deno.test("test mode logs what would be sent without the guest's email or phone", async () => {
  const store = new MemoryStore(bookingRow());
  const { deps, log } = testDeps(store, new FakeGuestly([]));
  deps.settings.testMode = true;
  await syncBookingToGuestly(store.row!.id, deps);
  const line = JSON.stringify(log.entries.find((e) => e.event === "guestly.sync.test_mode"));
  assert.match(line, /64f1a2b3c4d5e6f7a8b9c0d1/, "the payload is there");
  assert.doesNotMatch(line, /zoe@example\.com/);
  assert.doesNotMatch(line, /7700/);
});
