// Reads a function's environment through its zod schema; a bad value stops the function at start
// with a message naming the variable.
import type { z } from "zod";

export function parseEnv<T extends z.ZodTypeAny>(
  schema: T,
  env: Record<string, string | undefined>,
): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid configuration: ${issue.path.join(".")}: ${issue.message}`);
  }
  return parsed.data;
}
