import type { IncomingMessage, ServerResponse } from "node:http";
import { BodyTooLarge, readBody } from "../transports/body.js";

/** Bodies of admin requests are small JSON objects; anything bigger is refused unread. */
export const MAX_BODY = 16 * 1024;
const MAX_REASON = 500;

/** A refusal with its HTTP status, thrown by a route and answered (and audited) by the API. */
export class AdminRefusal extends Error {
  /** Already recorded (as the `admin` event of an attempted change): not audited again as `denied`. */
  audited = false;

  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 503,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    readonly extra: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = "AdminRefusal";
  }
}

export function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  res.writeHead(status, {
    "content-type": "application/json",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...headers,
  });
  res.end(JSON.stringify(body));
}

/** A refusal the change's own `admin` event has recorded (a target not found, a stale hash). */
export function recordedRefusal(status: 404 | 409, message: string): AdminRefusal {
  const refusal = new AdminRefusal(status, message);
  refusal.audited = true;
  return refusal;
}

/** The JSON object a POST carries; 413 past MAX_BODY, 400 for anything but an object. */
export async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readBody(req, MAX_BODY);
  } catch (err) {
    if (err instanceof BodyTooLarge) throw new AdminRefusal(413, `the body is larger than ${MAX_BODY} bytes`);
    throw err;
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new AdminRefusal(400, "a JSON object is required");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new AdminRefusal(400, "a JSON object is required");
  return body as Record<string, unknown>;
}

/** Why an operator made a change: required, trimmed, 1 to 500 characters. */
export function reasonOf(body: Record<string, unknown>): string {
  const reason = typeof body.reason === "string" ? body.reason.trim() : "";
  if (reason === "" || reason.length > MAX_REASON)
    throw new AdminRefusal(400, `reason: required, at most ${MAX_REASON} characters`);
  return reason;
}

/** A required string field of at most `max` characters. */
export function stringField(body: Record<string, unknown>, name: string, max = 300): string {
  const value = Object.hasOwn(body, name) ? body[name] : undefined;
  if (typeof value !== "string" || value === "" || value.length > max)
    throw new AdminRefusal(400, `${name}: a string of 1 to ${max} characters is required`);
  return value;
}
