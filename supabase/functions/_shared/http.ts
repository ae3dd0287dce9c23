// Small HTTP helpers shared by the functions' handlers.
import type { z } from "zod";
export function json(status: number, body: unknown, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

export async function readJsonBody(
  request: Request,
): Promise<{ ok: true; body: unknown } | { ok: false; response: Response }> {
  const text = await request.text();
  try {
    return { ok: true, body: JSON.parse(text) };
  } catch {
    return { ok: false, response: json(400, { error: "body must be a JSON object" }) };
  }
}

/** The JSON body checked against `schema`; a 400 naming the first wrong field otherwise. */
export async function readValidBody<T extends z.ZodTypeAny>(
  request: Request,
  schema: T,
): Promise<{ ok: true; data: z.infer<T> } | { ok: false; response: Response }> {
  const body = await readJsonBody(request);
  if (!body.ok) return body;
  const parsed = schema.safeParse(body.body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join(".") || "body";
    return { ok: false, response: json(400, { error: `${field}: ${issue.message}`, field }) };
  }
  return { ok: true, data: parsed.data };
}

export type Handler = (request: Request) => Response | Promise<Response>;

/**
 * Builds a function's handler from its configuration. If the configuration is invalid or
 * unsafe (a placeholder secret, a weak key), the function does not run with it: every request
 * is answered 500 with the reason, which names the variable and the fix, so the caller — pg_net's
 * response log, which the stall alert reads, or an operator's curl — sees why.
 */
export function handlerOrConfigurationError(
  build: () => Handler,
  logError: (message: string) => void,
): Handler {
  try {
    return build();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    logError(message);
    return () => json(500, { error: message });
  }
}
