import { request } from "node:http";
import { Readable } from "node:stream";

const NO_BODY = new Set([101, 204, 205, 304]);

/**
 * A fetch whose connections leave from `localAddress` (e.g. 127.0.0.2: all of 127/8 is loopback on
 * Linux), so a test can be several anonymous callers told apart by source address. Built on
 * node:http because the global fetch's undici cannot be given a local address without the undici
 * package. Handles what the SDK's client transport sends: string bodies, streamed (SSE) answers.
 */
export function fetchFrom(localAddress: string): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, key) => (headers[key] = value));
    const body = init?.body;
    if (body !== undefined && body !== null && typeof body !== "string")
      throw new TypeError("fetchFrom sends string bodies only");
    return new Promise<Response>((resolve, reject) => {
      const req = request(
        url,
        { method: init?.method ?? "GET", headers, localAddress, signal: init?.signal ?? undefined },
        (res) => {
          const out = new Headers();
          for (const [key, value] of Object.entries(res.headers)) {
            if (Array.isArray(value)) for (const v of value) out.append(key, v);
            else if (value !== undefined) out.set(key, value);
          }
          const status = res.statusCode ?? 500;
          const stream = NO_BODY.has(status) ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
          if (stream === null) res.resume();
          resolve(new Response(stream, { status, statusText: res.statusMessage, headers: out }));
        },
      );
      req.on("error", reject);
      req.end(body ?? undefined);
    });
  };
}

/** POSTs one JSON-RPC message from `localAddress` and returns the status and parsed JSON answer. */
export async function postFrom(
  localAddress: string,
  url: string,
  message: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetchFrom(localAddress)(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: JSON.stringify(message),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // An SSE answer or an empty body stays text.
  }
  return { status: res.status, body, headers: res.headers };
}

/** A raw HTTP answer: status, headers and the body as text. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * One request on a connection of its own, leaving from `localAddress` (default 127.0.0.1), so a
 * test can flood from one source and watch another. POST unless told.
 */
export function sendFrom(
  url: string,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    localAddress?: string;
  } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: opts.method ?? "POST",
        headers: opts.headers,
        localAddress: opts.localAddress ?? "127.0.0.1",
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.setTimeout(20_000, () => req.destroy(new Error(`${url} timed out`)));
    req.on("error", reject);
    req.end(opts.body);
  });
}
