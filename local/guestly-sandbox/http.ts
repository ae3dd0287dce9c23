// Request context and response helpers shared by every concern module of the sandbox.

import type http from "node:http";
import { Buffer } from "node:buffer";
import type { RequestLogEntry, SandboxState } from "./state.ts";

export interface Ctx {
  state: SandboxState;
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  body: string;
  entry: RequestLogEntry;
  start: number;
  /** Headers added to every normal answer of this request (rate-limit headers). */
  headers: Record<string, string>;
}

/** A 400 with `{error: {code: "BAD_REQUEST", message}}`. */
export class BadRequest extends Error {}

const MAX_BODY = 1024 * 1024;

export function errBody(code: string, message: string, extra: Record<string, unknown> = {}) {
  return { error: { code, message, ...extra } };
}

export function escapeHtml(s: unknown): string {
  return String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function isPositiveInt(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v > 0;
}

export function isNonNegInt(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0;
}

export function isRate(v: unknown): v is number {
  return typeof v === "number" && v >= 0 && v <= 1;
}

export function isNonNegNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0;
}

export function isAdminPath(pathname: string): boolean {
  return pathname === "/__sandbox" || pathname.startsWith("/__sandbox/");
}

/** The client can no longer receive an answer (it gave up, or we dropped it, or we answered). */
export function socketGone(ctx: Ctx): boolean {
  return ctx.res.headersSent || ctx.res.destroyed || ctx.req.socket.destroyed;
}

export function finish(ctx: Ctx, status: number) {
  if (!ctx.entry.pending) return;
  ctx.entry.pending = false;
  ctx.entry.status = status;
  ctx.entry.durationMs = Math.round((performance.now() - ctx.start) * 10) / 10;
  if (ctx.state.quiet || isAdminPath(ctx.url.pathname)) return;
  const e = ctx.entry;
  console.log(
    `[guestly-sandbox] ${e.method} ${ctx.url.pathname}${ctx.url.search} -> ${status || "DROPPED"}${
      e.fault ? ` (fault: ${e.fault})` : ""
    }${
      e.committed === null ? "" : e.committed ? " committed" : " not committed"
    } conn#${e.connectionId}${e.reusedConnection ? " (reused)" : ""} ${e.durationMs}ms`,
  );
}

export interface SendOptions {
  headers?: Record<string, string>;
  /** Leave out the per-request headers (rate limits): an answer made up by a proxy in front. */
  bare?: boolean;
}

export function send(
  ctx: Ctx,
  status: number,
  payload: string,
  contentType: string,
  opts: SendOptions = {},
) {
  if (socketGone(ctx)) {
    // Nobody to answer (the caller gave up): the entry records that no answer went out.
    finish(ctx, 0);
    return;
  }
  const all: Record<string, string> = {
    "Content-Type": contentType,
    "Content-Length": String(Buffer.byteLength(payload)),
    ...(opts.bare ? {} : ctx.headers),
    ...(opts.headers ?? {}),
  };
  ctx.res.writeHead(status, all);
  ctx.res.end(payload);
  finish(ctx, status);
}

export function json(
  ctx: Ctx,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  send(ctx, status, JSON.stringify(body), "application/json; charset=utf-8", { headers });
}

/** Destroys the socket without sending any response bytes. */
export function drop(ctx: Ctx, fault: string) {
  ctx.entry.fault = fault;
  ctx.req.socket.destroy();
  finish(ctx, 0);
}

export function parseJsonBody(ctx: Ctx): unknown {
  try {
    return JSON.parse(ctx.body);
  } catch {
    throw new BadRequest("request body must be valid JSON");
  }
}

export function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    // Decoded as it arrives (not Buffer.concat): one typing that both Deno versions' TypeScript
    // accept with the pinned @types/node.
    const decoder = new TextDecoder();
    let text = "";
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new BadRequest("request body too large"));
        return;
      }
      text += decoder.decode(c, { stream: true });
    });
    req.on("end", () => resolve(text + decoder.decode()));
    req.on("error", reject);
  });
}
