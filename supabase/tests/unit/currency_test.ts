import assert from "node:assert/strict";
import { majorToMinor, minorToMajor, minorUnitDigits } from "../../functions/_shared/currency.ts";
import { formatAmount } from "../../functions/_shared/notifications/admin-alerts.ts";

Deno.test("currency: Guestly's money converts back to the booking's amount, ISK included", () => {
  // What the sync sends (minor → major) and what the webhook and the reconciliation read back
  // (major → minor) must meet, or every ISK stay reads as "the price differs".
  const cases: Array<[number, string]> = [
    [1_500_000, "isk"], // Stripe: two-decimal (ISO 4217 says 0)
    [64_000, "eur"],
    [12_000, "jpy"],
    [10_000_000, "krw"],
    [12_340, "kwd"],
    [99, "usd"],
  ];
  for (const [minor, currency] of cases) {
    assert.equal(majorToMinor(minorToMajor(minor, currency), currency), minor, currency);
    assert.equal(majorToMinor(minorToMajor(minor, currency), currency.toUpperCase()), minor);
  }
  assert.equal(minorToMajor(1_500_000, "ISK"), 15_000);
  assert.equal(minorUnitDigits("ISK"), 2);
  assert.equal(majorToMinor(15_000, "ISK"), 1_500_000);
  assert.equal(majorToMinor(1, "not a code"), null);
});

Deno.test("currency: an email shows an ISK amount in whole krónur, not a hundred times more", () => {
  assert.equal(formatAmount(1_500_000, "isk"), "ISK 15,000");
  assert.equal(formatAmount(12_340, "kwd"), "KWD 12.340");
});
