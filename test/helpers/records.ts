import { existsSync, readFileSync } from "node:fs";

/** One line of a fixture server's record file (see test/fixtures/recorder-server.mjs). */
export interface RecordEntry {
  pid: number;
  event: "started" | "message" | "tool" | "aborted" | "crashing";
  /** For "message": the JSON-RPC message exactly as the upstream received it. */
  message?: { id?: string | number; method?: string; params?: Record<string, unknown> };
  tool?: string;
  requestId?: string | number;
  [k: string]: unknown;
}

export function readRecords(file: string): RecordEntry[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as RecordEntry);
}

/** The JSON-RPC messages the upstream received, in order. */
export function receivedMessages(file: string): NonNullable<RecordEntry["message"]>[] {
  return readRecords(file).flatMap((r) => (r.event === "message" && r.message ? [r.message] : []));
}

/** The tools/call requests the upstream received (by the tool's upstream name). */
export function receivedToolCalls(file: string, tool?: string) {
  return receivedMessages(file).filter(
    (m) => m.method === "tools/call" && (tool === undefined || m.params?.name === tool),
  );
}
