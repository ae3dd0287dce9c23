import assert from "node:assert/strict";
import {
  classifyHttpStatus,
  guestlyErrorMessage,
  parseRetryAfterMs,
  retryDelayMs,
} from "../../functions/_shared/guestly/retry-policy.ts";

Deno.test("a round retries after 1 s, 2 s and 4 s", () => {
  assert.deepEqual([1, 2, 3].map((retry) => retryDelayMs(retry)), [1000, 2000, 4000]);
});

Deno.test("a longer Retry-After wins, a shorter one does not", () => {
  assert.equal(retryDelayMs(1, 5000), 5000);
  assert.equal(retryDelayMs(3, 1000), 4000);
});

Deno.test("jitter adds at most 10 %", () => {
  assert.equal(retryDelayMs(2, undefined, 1), 2200);
});

Deno.test("status codes classify before bodies", () => {
  assert.equal(classifyHttpStatus(201), "success");
  assert.equal(classifyHttpStatus(429), "retryable");
  assert.equal(classifyHttpStatus(503), "retryable");
  assert.equal(classifyHttpStatus(408), "retryable");
  assert.equal(classifyHttpStatus(401), "auth");
  assert.equal(classifyHttpStatus(422), "permanent");
  assert.equal(classifyHttpStatus(400), "permanent");
  assert.equal(classifyHttpStatus(404), "permanent");
});

Deno.test("Retry-After in seconds or as an HTTP date", () => {
  assert.equal(parseRetryAfterMs("3", 0), 3000);
  assert.equal(parseRetryAfterMs(new Date(10_000).toUTCString(), 4000), 6000);
  assert.equal(parseRetryAfterMs(null, 0), undefined);
  assert.equal(parseRetryAfterMs("soon", 0), undefined);
});

Deno.test("error messages are read from every body shape Guestly uses", () => {
  assert.equal(
    guestlyErrorMessage(422, JSON.stringify({ error: { message: "guest.email: invalid" } })),
    "Guestly HTTP 422: guest.email: invalid",
  );
  assert.equal(
    guestlyErrorMessage(404, JSON.stringify("Reservation not found")),
    "Guestly HTTP 404: Reservation not found",
  );
  assert.equal(
    guestlyErrorMessage(502, "<html>bad gateway</html>"),
    "Guestly HTTP 502: <html>bad gateway</html>",
  );
  assert.equal(guestlyErrorMessage(500, ""), "Guestly HTTP 500: (empty body)");
});
