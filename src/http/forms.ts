import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/**
 * A bounded application/x-www-form-urlencoded body (the sign-in, consent and connect pages' forms),
 * or undefined for another content type or a body past `maxBytes` (declared or sent).
 */
export async function readForm(req: IncomingMessage, maxBytes: number): Promise<URLSearchParams | undefined> {
  const type = String(req.headers["content-type"] ?? "")
    .split(";")[0]
    ?.trim()
    .toLowerCase();
  if (type !== "application/x-www-form-urlencoded") return undefined;
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > maxBytes) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

/** Whether a value a browser sent (a CSRF token, a link's digest) is `expected`, in constant time. */
export function sameSecret(given: string | null | undefined, expected: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
