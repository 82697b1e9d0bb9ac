import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import { compileUrlGuard } from "../../policy/guards/url.js";
import { safeForCredentials } from "../origin.js";
import { BodyTooLarge, readBounded } from "../read-bounded.js";

/** Metadata, registration and token responses are small: anything bigger is refused, not read. */
const MAX_BODY_BYTES = 256 * 1024;
const TIMEOUT_MS = 10_000;

/**
 * Where an authorization server may be: anywhere a server's own URL may be (internal networks
 * included: every network is exempted), but never a cloud metadata service, by address or by name,
 * whatever a host name resolves to. The argument URL guard's rules, not a second copy of them.
 */
const NO_METADATA = compileUrlGuard({ allowedDomains: ["*"], allowNetworks: ["0.0.0.0/0", "::/0"] });

/** A request to an authorization server (or for its metadata) the gateway refused to make. */
export class AuthFetchRefused extends Error {
  readonly code = "ERR_AUTH_FETCH";
}

/**
 * The fetch the OAuth steps use (discovery, registration, token, revocation): every URL came from a
 * server, so each is checked before anything is sent: https, or http to this machine; no
 * credentials in it; never a metadata service. No redirects followed; bounded in time and size.
 * Cookies and ambient credentials are never added.
 */
export const authFetch: FetchLike = async (input, init) => {
  const url = new URL(String(input instanceof Request ? input.url : input));
  if (!safeForCredentials(url))
    throw new AuthFetchRefused(`${url.origin}: needs https (or http to a loopback address)`);
  const verdict = await NO_METADATA.check(url.href);
  if (!verdict.allowed) throw new AuthFetchRefused(`${url.origin}: ${verdict.detail}`);
  const signal = init?.signal
    ? AbortSignal.any([init.signal, AbortSignal.timeout(TIMEOUT_MS)])
    : AbortSignal.timeout(TIMEOUT_MS);
  const res = await fetch(url, { ...init, redirect: "manual", signal });
  if (Number(res.headers.get("content-length") ?? 0) > MAX_BODY_BYTES) {
    await res.body?.cancel().catch(() => {});
    throw new AuthFetchRefused(`${url.origin}: response too large`);
  }
  const body = await readBounded(res, MAX_BODY_BYTES).catch((err: unknown) => {
    throw err instanceof BodyTooLarge ? new AuthFetchRefused(`${url.origin}: response too large`) : err;
  });
  return new Response(res.status === 204 || res.status === 304 ? null : body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
};
