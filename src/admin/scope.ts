/** The scope every admin API route needs (and the only scope of the base URL as a resource). */
export const ADMIN_SCOPE = "warden:admin";

/** The embedded issuer's built-in public client for the admin console (PKCE, code flow only). */
export const CONSOLE_CLIENT_ID = "mcp-warden-console";

/** Where the console receives its authorization codes: `<base>/admin/`. */
export function consoleRedirectUri(base: string): string {
  return `${base.replace(/\/+$/, "")}/admin/`;
}

/** The embedded issuer's built-in public client for the connect pages' sign-in (per-user upstream OAuth). */
export const CONNECT_CLIENT_ID = "mcp-warden-connect";

/** Where the connect pages receive their sign-in codes. */
export function connectRedirectUri(base: string): string {
  return `${base.replace(/\/+$/, "")}/connect/signed-in`;
}
