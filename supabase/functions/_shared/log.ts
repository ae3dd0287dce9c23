// Structured JSON logs, one line per event. Callers pass ids and outcomes, never secrets or
// card data; as a second line of defence, at any depth, keys that look secret are dropped and a
// guest's contact details (email, phone) are masked — test mode logs whole payloads.
export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

const SECRET_KEY = /(secret|token|password|authorization|api_?key|card)/i;

const CONTACT_KEY = /(e-?mail|phone)/i;
export const MASKED = "[masked]";

function redactValue(value: unknown, depth: number): unknown {
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
