import { isIP } from "node:net";
import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import { safeForCredentials } from "../origin.js";

/** Metadata, registration and token responses are small: anything bigger is refused, not read. */
const MAX_BODY_BYTES = 256 * 1024;
const TIMEOUT_MS = 10_000;

/** A request to an authorization server (or for its metadata) the gateway refused to make. */
export class AuthFetchRefused extends Error {
  readonly code = "ERR_AUTH_FETCH";
}

/**
 * The fetch the OAuth steps use (discovery, registration, token, revocation): every URL came from a
 * server, so each is checked before anything is sent. https, or http to this machine; never a
 * link-local address (cloud metadata services live there); no redirects followed; bounded in time
 * and size. Cookies and ambient credentials are never added.
 */
export const authFetch: FetchLike = async (input, init) => {
  const url = new URL(String(input instanceof Request ? input.url : input));
  const refused = refusal(url);
  if (refused) throw new AuthFetchRefused(`${url.origin}: ${refused}`);
  const signal = init?.signal
    ? AbortSignal.any([init.signal, AbortSignal.timeout(TIMEOUT_MS)])
    : AbortSignal.timeout(TIMEOUT_MS);
  const res = await fetch(url, { ...init, redirect: "manual", signal });
  const length = Number(res.headers.get("content-length") ?? 0);
  if (length > MAX_BODY_BYTES) {
    await res.body?.cancel().catch(() => {});
    throw new AuthFetchRefused(`${url.origin}: response too large`);
  }
  const body = await readBounded(res);
  return new Response(res.status === 204 || res.status === 304 ? null : body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
};

function refusal(url: URL): string | undefined {
  if (!safeForCredentials(url)) return "needs https (or http to a loopback address)";
  if (url.username || url.password) return "a URL with credentials";
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (isIP(host) === 4 && (host.startsWith("169.254.") || host.startsWith("0.")))
    return "a link-local address";
  if (isIP(host) === 6 && /^(?:fe[89ab][0-9a-f]:|::ffff:169\.254\.)/i.test(host))
    return "a link-local address";
  return undefined;
}

async function readBounded(res: Response): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks);
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      throw new AuthFetchRefused("response too large");
    }
    chunks.push(value);
  }
}
