import { EVERYTHING_BIN, FILESYSTEM_BIN, fixture } from "./paths.js";

type Tools = Record<string, string[]>;

/** A gateway config listening on a random port of 127.0.0.1; anonymous callers get `anonymous`. */
export function gatewayConfig(
  servers: object[],
  opts: { gateway?: Record<string, unknown>; anonymous?: string[] } = {},
): Record<string, unknown> {
  return {
    gateway: { listen: "127.0.0.1:0", ...opts.gateway },
    auth: { anonymous: opts.anonymous ?? ["demo:use"] },
    servers,
  };
}

/** @modelcontextprotocol/server-everything over stdio; every tool needs demo:use unless told. */
export function everythingStdio(name = "everything", extra: Record<string, unknown> = {}) {
  return { name, command: EVERYTHING_BIN, args: ["stdio"], tools: { "*": ["demo:use"] }, ...extra };
}

/** The filesystem tools that only read. */
export const READ_ONLY_FILE_TOOLS = [
  "read_text_file",
  "read_multiple_files",
  "list_directory",
  "directory_tree",
  "search_files",
  "get_file_info",
  "list_allowed_directories",
] as const;

/** @modelcontextprotocol/server-filesystem over stdio on `dir`, with only the read tools mapped. */
export function filesystemStdio(dir: string, name = "files", scope = "files:read") {
  return {
    name,
    command: FILESYSTEM_BIN,
    args: [dir],
    tools: Object.fromEntries(READ_ONLY_FILE_TOOLS.map((t) => [t, [scope]])),
  };
}

/** test/fixtures/recorder-server.mjs, recording what it receives into `recordFile`. */
export function recorderStdio(
  name: string,
  recordFile: string,
  tools: Tools,
  env: Record<string, string> = {},
): Record<string, unknown> {
  return {
    name,
    command: process.execPath,
    args: [fixture("recorder-server.mjs")],
    env: { RECORD_FILE: recordFile, ...env },
    tools,
  };
}

/** test/fixtures/changing-server.mjs: tools, prompts and resources added on request. */
export function changingStdio(name = "changing", tools: Tools = { "*": ["demo:use"] }) {
  return { name, command: process.execPath, args: [fixture("changing-server.mjs")], tools };
}
