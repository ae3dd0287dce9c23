import assert from "node:assert/strict";
import { maskContactText, MASKED, memoryLogger } from "../../functions/_shared/log.ts";
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
  assert.deepEqual(entry.payload, { guest: { firstName: MASKED, email: MASKED, phones: MASKED } });
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

Deno.test("test mode logs neither the guest's name nor a phone kept as entered in the notes", async () => {
  // A phone libphonenumber cannot read travels in the notes as the guest typed it.
  const store = new MemoryStore(bookingRow({ guest_phone: "call 0761 234 567 after 6" }));
  const { deps, log } = testDeps(store, new FakeGuestly([]));
  deps.settings.testMode = true;
  await syncBookingToGuestly(store.row!.id, deps);
  const line = JSON.stringify(log.entries.find((e) => e.event === "guestly.sync.test_mode"));
  assert.match(line, /64f1a2b3c4d5e6f7a8b9c0d1/, "the payload is there");
  assert.doesNotMatch(line, /0761 234 567/);
  assert.doesNotMatch(line, new RegExp(store.row!.guest_last_name));
});

Deno.test("Guestly's error texts are logged with contact details masked, ids and dates kept", () => {
  const log = memoryLogger();
  log.warn("guestly.sync.failed", {
    booking_id: "0b0e7f3a-0000-4000-8000-000000000001",
    error: 'Guestly HTTP 422: guest.email "zoe@example.com" and phone +44 7700 900123 refused',
  });
  const [entry] = log.entries;
  assert.equal(entry.booking_id, "0b0e7f3a-0000-4000-8000-000000000001");
  assert.equal(
    entry.error,
    `Guestly HTTP 422: guest.email "${MASKED}" and phone ${MASKED} refused`,
  );
  for (
    const kept of [
      "stay 2026-12-21 … 2026-12-25",
      "at 2026-12-07T10:36:06.123Z",
      "reservation 64f1a2b3c4d5e6f7a8b9c0d1",
      "amount 64000 eur",
      "Guestly HTTP 503 after 2000 ms",
    ]
  ) assert.equal(maskContactText(kept), kept);
  assert.equal(maskContactText("tel. (030) 1234-5678"), `tel. ${MASKED}`);
});
