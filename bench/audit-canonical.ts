// node --import tsx bench/audit-canonical.ts
// What serialising an event for the chain costs (src/audit/canonical.ts's reason to be): RFC 8785
// text of a stored tool_call event by the canonicalize package and by canonicalData, beside plain
// JSON.stringify, and the HMAC the chain computes over it. µs of CPU per event.
import { createHmac } from "node:crypto";
import * as jcs from "canonicalize";
import { canonicalData } from "../src/audit/canonical.js";
import { chain, EMPTY_HEAD } from "../src/audit/chain.js";
import { benchEvent } from "./lib/audit-event.js";

const canonicalize = (jcs as unknown as { default: (value: unknown) => string | undefined }).default;
const N = Number(process.env.N ?? 200_000);
const key = new Uint8Array(32).fill(7);

const stored = chain(key, EMPTY_HEAD, benchEvent(4));
const text = canonicalize(stored) as string;
if (canonicalData(stored) !== text) throw new Error("canonicalData disagrees with canonicalize");

function measure(name: string, fn: () => unknown): void {
  for (let i = 0; i < N / 10; i++) fn();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < N; i++) fn();
  const cpu = process.cpuUsage(cpu0);
  console.log(`${name.padEnd(28)} ${((cpu.user + cpu.system) / N).toFixed(2).padStart(5)} µs/event`);
}

console.log(`node ${process.version}; ${N} events per row; ${text.length} bytes of text`);
for (let round = 0; round < 2; round++) {
  measure("canonicalize (package)", () => canonicalize(stored));
  measure("canonicalData", () => canonicalData(stored));
  measure("JSON.stringify", () => JSON.stringify(stored));
  measure("HMAC-SHA256 of the text", () => createHmac("sha256", key).update(text).digest("hex"));
}
