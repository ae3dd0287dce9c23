// The one-click retry link's token: base64url(JSON payload) "." base64url(HMAC-SHA256(payload)).
// The signature is checked before the payload is parsed; nothing unsigned is ever trusted.
// Single use is enforced by the database (guestly.used_retry_links), not by the token.

export interface RetryLinkPayload {
  /** The alert the link was sent in; also the link's id for single use. */
  alertId: string;
  bookingId: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

export type RetryTokenCheck =
  | { ok: true; payload: RetryLinkPayload }
  | { ok: false; reason: "malformed" | "forged" | "expired" };

/** How long a link stays usable after its alert was written. */
export const RETRY_LINK_TTL_MS = 72 * 60 * 60 * 1000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const B64URL = /^[A-Za-z0-9_-]+$/;

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

// An ArrayBuffer, which crypto.subtle takes under every TypeScript: a `Uint8Array<ArrayBuffer>`
// needs TypeScript 5.7 (the hosted runtime's Deno 2.1 has 5.6: TS2315), and a plain `Uint8Array`
// means `Uint8Array<ArrayBufferLike>` from 5.7 on, which crypto.subtle refuses.
function fromBase64Url(text: string): ArrayBuffer | null {
  if (!B64URL.test(text)) return null;
  let binary: string;
  try {
    binary = atob(
      text.replaceAll("-", "+").replaceAll("_", "/") +
        "=".repeat((4 - text.length % 4) % 4),
    );
  } catch {
    return null;
  }
  const buffer = new ArrayBuffer(binary.length);
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return buffer;
}

async function hmacKey(secret: string): Promise<CryptoKey> {
  if (!secret) throw new Error("RETRY_LINK_SECRET is empty");
  return await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

export async function signRetryToken(payload: RetryLinkPayload, secret: string): Promise<string> {
  const body = toBase64Url(
    new TextEncoder().encode(
      JSON.stringify({ a: payload.alertId, b: payload.bookingId, exp: payload.exp }),
    ),
  );
  const signature = await crypto.subtle.sign(
    "HMAC",
    await hmacKey(secret),
    new TextEncoder().encode(body),
  );
  return `${body}.${toBase64Url(new Uint8Array(signature))}`;
}

/** `nowMs` is injected so tests never wait for a link to expire. */
export async function verifyRetryToken(
  token: string | null | undefined,
  secret: string,
  nowMs: number,
): Promise<RetryTokenCheck> {
  const parts = (token ?? "").split(".");
  if (parts.length !== 2 || !parts[0] || !parts[1] || parts[0].length > 1024) {
    return { ok: false, reason: "malformed" };
  }
  const signature = fromBase64Url(parts[1]);
  const body = fromBase64Url(parts[0]);
  if (!signature || !body) return { ok: false, reason: "malformed" };
  // crypto.subtle.verify compares in constant time.
  const valid = await crypto.subtle.verify(
    "HMAC",
    await hmacKey(secret),
    signature,
    new TextEncoder().encode(parts[0]),
  );
  if (!valid) return { ok: false, reason: "forged" };
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const { a, b, exp } = (raw ?? {}) as Record<string, unknown>;
  if (
    typeof a !== "string" || !UUID.test(a) || typeof b !== "string" || !UUID.test(b) ||
    typeof exp !== "number" || !Number.isInteger(exp)
  ) {
    return { ok: false, reason: "malformed" };
  }
  if (exp * 1000 <= nowMs) return { ok: false, reason: "expired" };
  return { ok: true, payload: { alertId: a, bookingId: b, exp } };
}

/**
 * `RETRY_LINK_BASE_URL`: a page on the website that shows the retry and POSTs to the function
 * (for hosted Supabase without a custom domain, where the function's own page is plain text).
 * Unset or empty → null (links open the function itself). An absolute http(s) URL without a
 * fragment (the token is put in the fragment); anything else is an error naming the variable.
 */
export function parseRetryLinkBase(
  value: string | undefined,
): { ok: true; base: { url: string; origin: string } | null } | { ok: false; error: string } {
  if (value === undefined || value.trim() === "") return { ok: true, base: null };
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return { ok: false, error: `RETRY_LINK_BASE_URL must be an absolute URL, got ${value}` };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return { ok: false, error: `RETRY_LINK_BASE_URL must be an http(s) URL, got ${value}` };
  }
  if (url.search || url.hash || value.includes("#")) {
    return {
      ok: false,
      error: "RETRY_LINK_BASE_URL must not have a #fragment (the token goes there)",
    };
  }
  return { ok: true, base: { url: url.href, origin: url.origin } };
}

/**
 * The link in an alert email. Deterministic for one alert, so every resend is identical.
 * Without a base page: the function itself, `…/functions/v1/retry-link?token=…` (GET shows a
 * confirmation page, its button POSTs). With one: `<RETRY_LINK_BASE_URL>#token=…` — in the
 * fragment, so the token never reaches the website's server, its logs or a Referer — or, when
 * the base URL is this function on a custom domain (`…/functions/v1/retry-link`), `?token=…`.
 */
export async function retryLinkFor(
  supabaseUrl: string,
  alert: { id: string; bookingId: string; createdAt: string | Date },
  secret: string,
  baseUrl: string | null = null,
): Promise<{ url: string; expiresAt: Date }> {
  const exp = Math.floor((new Date(alert.createdAt).getTime() + RETRY_LINK_TTL_MS) / 1000);
  const token = await signRetryToken(
    { alertId: alert.id, bookingId: alert.bookingId, exp },
    secret,
  );
  // A base URL that is this function on a custom domain gets the token in the query (the
  // function must see it); a website page gets it in the fragment.
  const fn = baseUrl && /\/functions\/v1\/retry-link\/?$/.test(new URL(baseUrl).pathname);
  return {
    url: baseUrl
      ? `${baseUrl}${fn ? "?" : "#"}token=${token}`
      : `${supabaseUrl.replace(/\/$/, "")}/functions/v1/retry-link?token=${token}`,
    expiresAt: new Date(exp * 1000),
  };
}
