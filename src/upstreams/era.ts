import { META, MODERN_VERSION } from "../gateway/modern.js";
import { PeerRpcError } from "../errors.js";
import type { JsonObject } from "../jsonrpc.js";
import { isObject } from "../jsonrpc.js";
import type { UpstreamConnection } from "./connection.js";

/** Which protocol a server speaks: the legacy session (initialize) or 2026-07-28. */
export type Era = "legacy" | "modern";

/** The `_meta` a 2026-07-28 request carries for a client with these capabilities and identity. */
export function requestMeta(capabilities: unknown, clientInfo: unknown): JsonObject {
  return {
    [META.protocolVersion]: MODERN_VERSION,
    [META.clientCapabilities]: isObject(capabilities) ? capabilities : {},
    [META.clientInfo]: isObject(clientInfo) ? clientInfo : { name: "mcp-warden", version: "0" },
  };
}

/**
 * The era probe of the spec (versioning, "Backward Compatibility"): `server/discover` in
 * 2026-07-28 form, before anything else. A discover result offering 2026-07-28 means a modern
 * server, and it stands in for `initialize`'s result (capabilities, identity, instructions). An
 * error or another result means legacy. No answer at all (the connection's timeout, a transport
 * failure) decides nothing: the caller tries `initialize`, and whether that answers decides.
 */
export async function probe(
  connection: UpstreamConnection,
  initParams: JsonObject,
): Promise<{ era: "modern"; init: JsonObject } | { era: "legacy" } | undefined> {
  const meta = requestMeta(initParams.capabilities, initParams.clientInfo);
  let result: JsonObject;
  try {
    result = await connection.request("server/discover", { _meta: meta });
  } catch (err) {
    return err instanceof PeerRpcError ? { era: "legacy" } : undefined;
  }
  const versions = result.supportedVersions;
  if (!Array.isArray(versions) || !versions.includes(MODERN_VERSION)) return { era: "legacy" };
  const serverMeta = isObject(result._meta) ? result._meta : {};
  const serverInfo = serverMeta[META.serverInfo] ?? result.serverInfo;
  const init: JsonObject = {
    protocolVersion: MODERN_VERSION,
    capabilities: isObject(result.capabilities) ? result.capabilities : {},
    serverInfo: isObject(serverInfo) ? serverInfo : { name: "unknown", version: "0" },
  };
  if (typeof result.instructions === "string") init.instructions = result.instructions;
  return { era: "modern", init };
}
