import { fold } from "../../protect/normalise/index.js";
import type { JsonObject } from "../../jsonrpc.js";
import { isObject } from "../../jsonrpc.js";

/**
 * An argument name as an upstream might read it: NFKC, look-alikes folded to ASCII (the project's
 * normaliser: TR39 confusables, invisible characters removed), case folded, and spaces, `_`, `-`
 * and `.` dropped. `Database`, `DATABASE`, `"database "`, `ｄａｔａｂａｓｅ`, `data\u200bbase` and
 * `data_base` all read as `database`: a fixed or hidden argument is refused in every one of them
 * (docs/virtual-servers.md, "Arguments").
 */
export function argumentKey(name: string): string {
  let out = "";
  for (const ch of name.normalize("NFKC")) {
    const f = fold(ch.codePointAt(0) as number);
    out += f ?? ch;
  }
  return out
    .normalize("NFKC")
    .toLowerCase()
    .replace(/[\s_.-]/gu, "");
}

/**
 * The `_meta` keys the protocol defines for a request, by name: a reserved prefix is not enough, a
 * caller can write any key under `io.modelcontextprotocol/` (and an upstream may read it).
 */
const PROTOCOL_META: ReadonlySet<string> = new Set([
  "progressToken",
  "io.modelcontextprotocol/related-task",
  "io.modelcontextprotocol/protocolVersion",
  "io.modelcontextprotocol/clientCapabilities",
  "io.modelcontextprotocol/clientInfo",
  "io.modelcontextprotocol/logLevel",
  "io.modelcontextprotocol/tasks",
]);

export function isProtocolMeta(key: string): boolean {
  return PROTOCOL_META.has(key);
}

/**
 * A curated call's `_meta` as forwarded: the protocol's own keys only. A caller's other keys
 * (`_meta.arguments.database`, `_meta.database`, vendor keys) never reach the upstream, which could
 * read them as arguments the entry fixed or hid. Undefined when nothing is left.
 */
export function forwardedMeta(meta: unknown): JsonObject | undefined {
  if (!isObject(meta)) return undefined;
  const kept = Object.entries(meta).filter(([key]) => isProtocolMeta(key));
  return kept.length > 0 ? (Object.fromEntries(kept) as JsonObject) : undefined;
}
