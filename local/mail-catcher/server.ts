/**
 * Local mail catcher that speaks the subset of Resend's HTTP API the project uses
 * (`POST /emails`, `GET /emails/{id}`), stores every message in memory and shows an inbox.
 * Local-only infrastructure: never deployed.
 *
 * Point the Resend SDK at it with `RESEND_BASE_URL=http://127.0.0.1:54324`
 * (or `new Resend(key, { baseUrl })`).
 */

export interface StoredEmail {
  id: string;
  from: string;
  to: string[];
  cc: string[] | null;
  bcc: string[] | null;
  reply_to: string[] | null;
  subject: string;
  html: string | null;
  text: string | null;
  headers: Record<string, string> | null;
  tags: Array<{ name: string; value: string }> | null;
  idempotencyKey: string | null;
  receivedAt: string;
}

export interface MailCatcherOptions {
  /** 0 = random free port. Default 0. */
  port?: number;
  /** Default 127.0.0.1. */
  hostname?: string;
  /** Suppress the startup / per-message log lines. */
  quiet?: boolean;
}

export interface MailCatcher {
  url: string;
  port: number;
  close(): Promise<void>;
}

const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

interface IdempotencyRecord {
  fingerprint: string;
  id: string;
  at: number;
}

class ValidationError extends Error {}

function json(body: unknown, status = 200): Response {
  return Response.json(body, { status });
}

function resendError(status: number, name: string, message: string): Response {
  return json({ statusCode: status, name, message }, status);
}

function escapeHtml(value: unknown): string {
  return String(value ?? "")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** Stable JSON (sorted object keys) so that key order does not change a payload's identity. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

function isNonEmptyString(v: unknown): v is string {
  return typeof v === "string" && v.trim() !== "";
}

function addressList(field: string, v: unknown, required: boolean): string[] | null {
  if (v === undefined || v === null) {
    if (required) throw new ValidationError(`The \`${field}\` field is missing.`);
    return null;
  }
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) {
    if (required) throw new ValidationError(`The \`${field}\` field must not be empty.`);
    return null;
  }
  if (list.length > 50) {
    throw new ValidationError(`The \`${field}\` field must contain at most 50 addresses.`);
  }
  for (const item of list) {
    if (!isNonEmptyString(item) || !item.includes("@")) {
      throw new ValidationError(
        `The \`${field}\` field must be an email address or a list of email addresses.`,
      );
    }
  }
  return list as string[];
}

function parseEmail(body: unknown): Omit<StoredEmail, "id" | "idempotencyKey" | "receivedAt"> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new ValidationError("The request body must be a JSON object.");
  }
  const b = body as Record<string, unknown>;
  if (b.from === undefined || b.from === null) {
    throw new ValidationError("The `from` field is missing.");
  }
  if (!isNonEmptyString(b.from) || !b.from.includes("@")) {
    throw new ValidationError(
      "The `from` field must be a valid email address or `Name <email@example.com>`.",
    );
  }
  const to = addressList("to", b.to, true)!;
  if (b.subject === undefined || b.subject === null) {
    throw new ValidationError("The `subject` field is missing.");
  }
  if (typeof b.subject !== "string") {
    throw new ValidationError("The `subject` field must be a string.");
  }
  const html = b.html ?? null;
  const text = b.text ?? null;
  if (html !== null && typeof html !== "string") {
    throw new ValidationError("The `html` field must be a string.");
  }
  if (text !== null && typeof text !== "string") {
    throw new ValidationError("The `text` field must be a string.");
  }
  if (html === null && text === null) {
    throw new ValidationError("The `html` or `text` field is missing: one of them is required.");
  }
  let headers: Record<string, string> | null = null;
  if (b.headers !== undefined && b.headers !== null) {
    if (typeof b.headers !== "object" || Array.isArray(b.headers)) {
      throw new ValidationError("The `headers` field must be an object of strings.");
    }
    headers = {};
    for (const [k, v] of Object.entries(b.headers as Record<string, unknown>)) {
      if (typeof v !== "string") {
        throw new ValidationError("The `headers` field must be an object of strings.");
      }
      headers[k] = v;
    }
  }
  let tags: Array<{ name: string; value: string }> | null = null;
  if (b.tags !== undefined && b.tags !== null) {
    if (!Array.isArray(b.tags)) throw new ValidationError("The `tags` field must be an array.");
    tags = b.tags.map((t) => {
      const tag = t as Record<string, unknown> | null;
      if (!tag || typeof tag.name !== "string" || typeof tag.value !== "string") {
        throw new ValidationError("The `tags` field must contain `{ name, value }` strings.");
      }
      return { name: tag.name, value: tag.value };
    });
  }
  return {
    from: b.from,
    to,
    cc: addressList("cc", b.cc, false),
    bcc: addressList("bcc", b.bcc, false),
    reply_to: addressList("reply_to", b.reply_to, false),
    subject: b.subject,
    html,
    text,
    headers,
    tags,
  };
}

function toResendShape(m: StoredEmail) {
  return {
    object: "email",
    id: m.id,
    from: m.from,
    to: m.to,
    cc: m.cc,
    bcc: m.bcc,
    reply_to: m.reply_to,
    subject: m.subject,
    html: m.html,
    text: m.text,
    headers: m.headers,
    tags: m.tags,
    created_at: m.receivedAt,
    scheduled_at: null,
    last_event: "delivered",
  };
}

const PAGE_STYLE = `body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}iframe{width:100%;min-height:20rem;border:1px solid #ddd}`;

function inboxPage(messages: StoredEmail[]): string {
  const rows = [...messages].reverse().map((m) =>
    `<tr><td>${escapeHtml(m.receivedAt)}</td><td>${escapeHtml(m.from)}</td>` +
    `<td>${escapeHtml(m.to.join(", "))}</td>` +
    `<td><a href="/__catcher/messages/${encodeURIComponent(m.id)}.html">${
      escapeHtml(m.subject || "(no subject)")
    }</a></td></tr>`
  ).join("\n");
  return `<!doctype html><html><head><meta charset="utf-8"><title>Mail catcher</title>
<style>${PAGE_STYLE}</style></head><body><h1>Mail catcher (${messages.length})</h1>
<table><thead><tr><th>Received</th><th>From</th><th>To</th><th>Subject</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="4">No messages yet.</td></tr>'}
</tbody></table></body></html>`;
}

function messagePage(m: StoredEmail): string {
  const meta: Array<[string, unknown]> = [
    ["Id", m.id],
    ["Received", m.receivedAt],
    ["From", m.from],
    ["To", m.to.join(", ")],
    ["Cc", m.cc?.join(", ")],
    ["Bcc", m.bcc?.join(", ")],
    ["Reply-To", m.reply_to?.join(", ")],
    ["Subject", m.subject],
    ["Idempotency-Key", m.idempotencyKey],
    ["Headers", m.headers ? JSON.stringify(m.headers) : null],
    ["Tags", m.tags ? JSON.stringify(m.tags) : null],
  ];
  const metaRows = meta.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join("\n");
  // The HTML body is shown in a sandboxed iframe (srcdoc is attribute-escaped), and as source.
  const htmlPart = m.html === null
    ? "<p>(no html body)</p>"
    : `<iframe sandbox srcdoc="${
      escapeHtml(m.html)
    }"></iframe><details><summary>HTML source</summary><pre>${escapeHtml(m.html)}</pre></details>`;
  const textPart = m.text === null ? "<p>(no text body)</p>" : `<pre>${escapeHtml(m.text)}</pre>`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>${
    escapeHtml(m.subject)
  }</title><style>${PAGE_STYLE}</style></head><body><p><a href="/">&larr; Inbox</a></p>
<h1>${escapeHtml(m.subject || "(no subject)")}</h1><table>${metaRows}</table>
<h2>HTML body</h2>${htmlPart}<h2>Text body</h2>${textPart}</body></html>`;
}

function html(body: string, status = 200): Response {
  return new Response(body, { status, headers: { "content-type": "text/html; charset=utf-8" } });
}

export async function startMailCatcher(options: MailCatcherOptions = {}): Promise<MailCatcher> {
  const hostname = options.hostname ?? "127.0.0.1";
  const log = options.quiet ? () => {} : (msg: string) => console.log(`[mail-catcher] ${msg}`);
  const messages: StoredEmail[] = [];
  const idempotency = new Map<string, IdempotencyRecord>();
  let down = false;

  function hasApiKey(req: Request): boolean {
    const auth = req.headers.get("authorization") ?? "";
    const m = /^Bearer\s+(\S.*)$/i.exec(auth.trim());
    return m !== null && m[1].trim() !== "";
  }

  async function sendEmail(req: Request): Promise<Response> {
    if (!hasApiKey(req)) {
      return resendError(401, "missing_api_key", "Missing API key in the authorization header");
    }
    if (down) {
      return resendError(
        503,
        "service_unavailable",
        "The mail catcher is simulating an outage (POST /__catcher/down).",
      );
    }
    let body: unknown;
    try {
      body = await req.json();
    } catch {
      return resendError(422, "validation_error", "The request body must be valid JSON.");
    }
    let parsed;
    try {
      parsed = parseEmail(body);
    } catch (e) {
      if (e instanceof ValidationError) return resendError(422, "validation_error", e.message);
      throw e;
    }
    const key = req.headers.get("idempotency-key");
    const now = Date.now();
    if (key !== null) {
      for (const [k, rec] of idempotency) {
        if (now - rec.at > IDEMPOTENCY_TTL_MS) idempotency.delete(k);
      }
      const fingerprint = canonicalJson(body);
      const rec = idempotency.get(key);
      if (rec) {
        if (rec.fingerprint !== fingerprint) {
          return resendError(
            409,
            "invalid_idempotent_request",
            "Same idempotency key used with a different request payload. Change your idempotency key or payload.",
          );
        }
        return json({ id: rec.id });
      }
      const id = crypto.randomUUID();
      idempotency.set(key, { fingerprint, id, at: now });
      store(id, parsed, key, now);
      return json({ id });
    }
    const id = crypto.randomUUID();
    store(id, parsed, null, now);
    return json({ id });
  }

  function store(
    id: string,
    parsed: ReturnType<typeof parseEmail>,
    idempotencyKey: string | null,
    at: number,
  ) {
    messages.push({ id, ...parsed, idempotencyKey, receivedAt: new Date(at).toISOString() });
    log(`${id} "${parsed.subject}" ${parsed.from} -> ${parsed.to.join(", ")}`);
  }

  async function handler(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const method = req.method;

    if (path === "/emails" && method === "POST") return await sendEmail(req);

    const emailMatch = /^\/emails\/([^/]+)$/.exec(path);
    if (emailMatch && method === "GET") {
      if (!hasApiKey(req)) {
        return resendError(401, "missing_api_key", "Missing API key in the authorization header");
      }
      const m = messages.find((x) => x.id === decodeURIComponent(emailMatch[1]));
      return m ? json(toResendShape(m)) : resendError(404, "not_found", "Email not found");
    }

    if (path === "/__catcher/messages") {
      if (method === "GET") return json(messages);
      if (method === "DELETE") {
        const count = messages.length;
        messages.length = 0;
        idempotency.clear();
        return json({ deleted: count });
      }
    }

    const pageMatch = /^\/__catcher\/messages\/([^/]+?)(\.html)?$/.exec(path);
    if (pageMatch && method === "GET") {
      const m = messages.find((x) => x.id === decodeURIComponent(pageMatch[1]));
      if (pageMatch[2]) return m ? html(messagePage(m)) : html("<p>Message not found</p>", 404);
      return m ? json(m) : json({ error: "not found" }, 404);
    }

    if (path === "/__catcher/down" && method === "POST") {
      let b: unknown;
      try {
        b = await req.json();
      } catch {
        b = null;
      }
      const d = (b as { down?: unknown } | null)?.down;
      if (typeof d !== "boolean") return json({ error: 'expected {"down": true|false}' }, 400);
      down = d;
      log(down ? "simulating outage: POST /emails -> 503" : "outage over");
      return json({ down });
    }
    if (path === "/__catcher/down" && method === "GET") return json({ down });

    if (path === "/" && (method === "GET" || method === "HEAD")) return html(inboxPage(messages));

    return resendError(404, "not_found", "The requested endpoint does not exist.");
  }

  const ready = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    port: options.port ?? 0,
    hostname,
    onListen: (addr) => ready.resolve(addr as Deno.NetAddr),
  }, async (req) => {
    try {
      return await handler(req);
    } catch (e) {
      return resendError(500, "application_error", e instanceof Error ? e.message : String(e));
    }
  });
  const addr = await ready.promise;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = `http://${host}:${addr.port}`;
  log(`listening on ${url} (inbox: ${url}/)`);
  let closed: Promise<void> | null = null;
  return {
    url,
    port: addr.port,
    close() {
      closed ??= server.shutdown().then(() => server.finished);
      return closed;
    },
  };
}
