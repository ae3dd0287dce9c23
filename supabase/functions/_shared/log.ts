// Structured JSON logs, one line per event. Callers pass ids and outcomes, never secrets or
// card data; as a second line of defence, at any depth, keys that look secret are dropped, a
// guest's contact details and name are masked, and an email address or phone number inside any
// text (notes, Guestly's error texts) is masked — test mode logs whole payloads.
export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

const SECRET_KEY = /(secret|token|password|authorization|api_?key|card)/i;

/** Fields that hold a guest's contact details or name: their whole value is masked. */
const CONTACT_KEY = /(e-?mail|phone|first_?name|last_?name|full_?name|guest_?name)/i;
export const MASKED = "[masked]";

const EMAIL_IN_TEXT = /[^\s@"'<>()]+@[^\s@"'<>()]+\.[a-z]{2,}/gi;
/**
 * A phone number inside free text (a reservation's notes, an error text Guestly sent back):
 * 7 or more digits with the usual separators, standing alone — never part of an id or a
 * timestamp (a neighbouring letter, digit or hyphen rules it out), never an ISO date.
 */
const PHONE_IN_TEXT = /(?<![\w-])\+?\(?\d(?:[\d\s().-]*\d)?(?![\w-])/g;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Masks email addresses and phone numbers inside a string; the rest of the text stays. */
export function maskContactText(text: string): string {
  return text.replace(EMAIL_IN_TEXT, MASKED).replace(PHONE_IN_TEXT, (match) => {
    const digits = match.replace(/\D/g, "").length;
    return digits >= 7 && !ISO_DATE.test(match.trim()) ? MASKED : match;
  });
}

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === "string") return maskContactText(value);
  if (depth > 8 || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  const safe: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (SECRET_KEY.test(key)) continue;
    safe[key] = CONTACT_KEY.test(key) && inner !== null && inner !== undefined
      ? MASKED
      : redactValue(inner, depth + 1);
  }
  return safe;
}

function redact(fields: Record<string, unknown>): Record<string, unknown> {
  return redactValue(fields, 0) as Record<string, unknown>;
}

export function jsonLogger(
  write: (line: string) => void = (line) => console.log(line),
  base: Record<string, unknown> = {},
): Logger {
  const emit = (level: string) => (event: string, fields: Record<string, unknown> = {}) =>
    write(
      JSON.stringify({ ts: new Date().toISOString(), level, event, ...base, ...redact(fields) }),
    );
  return { info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/** For tests: keeps every entry. */
export function memoryLogger(): Logger & { entries: Array<Record<string, unknown>> } {
  const entries: Array<Record<string, unknown>> = [];
  const logger = jsonLogger((line) => entries.push(JSON.parse(line)));
  return Object.assign(logger, { entries });
}
