import { isIP } from "node:net";

/** True for http(s) URLs whose host is this machine: localhost, 127.0.0.0/8 or ::1. */
export function isLoopbackUrl(url: string | URL): boolean {
  const host = (typeof url === "string" ? new URL(url) : url).hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

/** Credentials travel encrypted, or not beyond this machine. */
export function safeForCredentials(url: string | URL): boolean {
  const u = typeof url === "string" ? new URL(url) : url;
  return u.protocol === "https:" || (u.protocol === "http:" && isLoopbackUrl(u));
}
