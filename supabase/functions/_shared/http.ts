// Small HTTP helpers shared by the functions' handlers.
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
