import type { Config } from "../config/types.js";
import { VERSION } from "../version.js";

export interface BannerFacts {
  readonly config: Config;
  /** The public base URL (`public_url`, else the listening address). */
  readonly base: string;
  /** Every MCP route's path: `/mcp`, `/servers/{name}/mcp`, `/v/{name}/mcp`. */
  readonly routes: readonly string[];
  /** Whether a bootstrap token was made and printed above (a terminal only ever gets one there). */
  readonly bootstrap: boolean;
}

/**
 * What a person at a terminal needs after `npm start`: where to point a client, where the console
 * is and how to get in. Printed on a terminal only; the JSON log's "listening" line says the rest.
 */
export function startBanner(f: BannerFacts): string {
  const rows: [string, string][] = f.routes.map((path) => [
    path === "/mcp" ? "MCP, every server" : `MCP, ${path.split("/")[2] ?? path}`,
    f.base + path,
  ]);
  const anonymous = f.config.auth.anonymous;
  rows.push([
    "without a token",
    anonymous.length > 0
      ? `allowed, with ${anonymous.join(" ")}`
      : "refused: clients sign in (OAuth) or send an API key",
  ]);
  rows.push(["admin console", `${f.base}/admin/`]);
  rows.push(["sign in with", signIn(f)]);
  const width = Math.max(...rows.map(([label]) => label.length));
  return [
    "",
    `mcp-warden ${VERSION} is serving ${f.config.file}`,
    "",
    ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`),
    "",
    `  try: npx @modelcontextprotocol/inspector --cli ${f.base}/mcp --method tools/list`,
    "  stop: Ctrl-C",
    "",
  ].join("\n");
}

function signIn(f: BannerFacts): string {
  if (f.bootstrap) return "the admin bootstrap token printed above (from this machine only)";
  if (f.config.auth.issuer !== "embedded") return "your identity provider (a user holding warden:admin)";
  return "a user, client or API key holding warden:admin";
}
