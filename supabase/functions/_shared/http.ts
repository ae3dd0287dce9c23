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

/**
 * How much of an oversized request body is still read, and dropped, before the 413. Deno 2.1
 * (the hosted edge runtime's) closes a connection whose request body was left unread, and a
 * caller or proxy still sending it then sees a broken pipe instead of the answer (the local
 * gateway, streaming the body like the platform's proxy, answered 502). Past this the body is
 * cancelled: only an abusive caller sends that much to a webhook.
 */
export const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024;

/**
 * The request body if it is at most `limit` bytes, counted as they are read (a Content-Length
 * may be absent or wrong); `null` if it is larger. A larger body is read to its end without
 * being kept (see DRAIN_LIMIT_BYTES), so the caller receives the 413.
 */
export async function readBodyAtMost(request: Request, limit: number): Promise<Uint8Array | null> {
  if (!request.body) return new Uint8Array();
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > DRAIN_LIMIT_BYTES) {
    await request.body.cancel();
    return null;
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > DRAIN_LIMIT_BYTES) {
      await reader.cancel();
      return null;
    }
    if (size <= limit) chunks.push(value);
    else chunks.length = 0; // too large: the rest is only read to its end
  }
  if (size > limit) return null;
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
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
