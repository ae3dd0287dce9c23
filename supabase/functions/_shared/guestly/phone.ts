// Guest phone numbers as Guestly accepts them (E.164), with libphonenumber-js. A number written
// locally ("07700 900123") is read in the property's country. One that cannot be read is never a
// reason to refuse a paid booking: it travels in the reservation's notes instead.
import { type CountryCode, parsePhoneNumberFromString } from "libphonenumber-js";

export type PhoneResult =
  | { kind: "e164"; phone: string }
  | { kind: "unreadable"; raw: string }
  | { kind: "none" };

export function normalisePhone(
  raw: string | null | undefined,
  country?: string | null,
): PhoneResult {
  const text = raw?.trim();
  if (!text) return { kind: "none" };
  const region = country && /^[A-Z]{2}$/.test(country) ? country as CountryCode : undefined;
  try {
    const parsed = parsePhoneNumberFromString(text, region);
    // isPossible, not isValid: the length fits the country's plan. isValid also needs the
    // number's range to be allocated, which refuses real-looking test and new ranges.
    if (parsed?.isPossible()) return { kind: "e164", phone: parsed.number };
  } catch { /* unreadable: below */ }
  return { kind: "unreadable", raw: text };
}
