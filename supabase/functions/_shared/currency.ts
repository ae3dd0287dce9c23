// One currency table for every conversion between Stripe's minor units (what a booking and a
// payment carry) and major units (Guestly's money, and what an email shows). Stripe's table, not
// ISO 4217's: Stripe treats ISK as two-decimal (ISO says 0), so Intl's digits would read an ISK
// amount a hundred times too large. Pure: no I/O.

/** Stripe's zero-decimal currencies: a minor unit is a whole unit. */
const ZERO_DECIMAL = new Set([
  "bif",
  "clp",
  "djf",
  "gnf",
  "jpy",
  "kmf",
  "krw",
  "mga",
  "pyg",
  "rwf",
  "ugx",
  "vnd",
  "vuv",
  "xaf",
  "xof",
  "xpf",
]);

/** Stripe's three-decimal currencies: minor units are thousandths (Stripe wants the last 0). */
const THREE_DECIMAL = new Set(["bhd", "jod", "kwd", "omr", "tnd"]);

/** How many decimals a currency's minor units have, as Stripe counts them (ISK: 2). */
export function minorUnitDigits(currency: string): 0 | 2 | 3 {
  const code = currency.toLowerCase();
  if (ZERO_DECIMAL.has(code)) return 0;
  return THREE_DECIMAL.has(code) ? 3 : 2;
}

/** Stripe amounts are in minor units; Guestly's money is in major units. */
export function minorToMajor(amount: number, currency: string): number {
  const digits = minorUnitDigits(currency);
  if (digits === 0) return amount;
  // Rounded to the currency's digits: 1234.5 / 100 in floating point can end in …0000001.
  return Number((amount / 10 ** digits).toFixed(digits));
}

/** Major units (Guestly's money) to minor units (the booking's); null for a code that is not one. */
export function majorToMinor(amount: number, currency: string): number | null {
  if (!/^[A-Za-z]{3}$/.test(currency)) return null;
  return Math.round(amount * 10 ** minorUnitDigits(currency));
}
