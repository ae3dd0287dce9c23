// Structured JSON logs, one line per event. Callers pass ids and outcomes, never secrets or
// card data; keys that look secret are dropped as a second line of defence.
export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

const SECRET_KEY = /(secret|token|password|authorization|api_?key|card)/i;

function redact(fields: Record<string, unknown>): Record<string, unknown> {
  const safe: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (!SECRET_KEY.test(key)) safe[key] = value;
  }
  return safe;
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
