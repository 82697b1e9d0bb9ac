import { META, MODERN_VERSION } from "../gateway/modern.js";
import { ErrorCode, PeerRpcError } from "../errors.js";
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
    result = await discover(connection, meta);
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

/**
 * `server/discover`, asked again once when the server refuses the version it was asked in with
 * -32022 while listing 2026-07-28 among those it supports (the spec's corrective retry: a server
 * may refuse the first request of a connection to learn what the client can do). Any other
 * refusal is the server's answer.
 */
async function discover(connection: UpstreamConnection, meta: JsonObject): Promise<JsonObject> {
  try {
    return await connection.request("server/discover", { _meta: meta });
  } catch (err) {
    if (!(err instanceof PeerRpcError) || err.code !== ErrorCode.UnsupportedProtocolVersion) throw err;
    const supported = isObject(err.data) ? err.data.supported : undefined;
    if (!Array.isArray(supported) || !supported.includes(MODERN_VERSION)) throw err;
    return connection.request("server/discover", { _meta: meta });
  }
}
