// Judging one corpus item's outcome through the gateway, and tallying a category. Kept apart from
// detection.attack.ts so the harness reads as: start, call, judge, print.
import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

export interface Item {
  id: string;
  class: string;
  payload: unknown;
  expect: "redact" | "block" | "intact" | "deny" | "allow" | "flag";
  secret?: string | string[];
  note: string;
}

/** What came back for one call: a result, a JSON-RPC error, or a failure below JSON-RPC. */
export type Outcome =
  | { kind: "result"; result: Record<string, unknown> }
  | { kind: "error"; code: number; reason?: string }
  | { kind: "transport"; message: string };

export type Verdict =
  | "caught" // an attack stopped: redacted, refused, held back
  | "partial" // some parts of a split secret gone, some delivered
  | "delivered" // an attack went through
  | "intact" // a benign item went through unchanged
  | "altered" // a benign item went through changed (a false positive)
  | "refused" // a benign item refused or held back (a false positive)
  | "no-dns" // needs a name resolved to a public address this machine cannot resolve: not counted
  | "broken"; // no JSON-RPC answer at all

const ATTACK = new Set(["redact", "block", "deny", "flag"]);
export const isAttack = (item: Item) => ATTACK.has(item.expect);

/** Every string, object key and number in a value, at any depth. */
export function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") out.push(value);
  else if (typeof value === "number" || typeof value === "bigint") out.push(String(value));
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (value && typeof value === "object")
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      strings(v, out);
    }
  return out;
}

/** The text the fixture sends for a payload (a string as it is, anything else as JSON). */
export const sentText = (payload: unknown) =>
  typeof payload === "string" ? payload : JSON.stringify(payload);

/** Redaction and injection items: judged on the result of `emit`. */
export function judgeOutput(item: Item, o: Outcome): Verdict {
  if (o.kind === "transport") return "broken";
  if (!isAttack(item)) {
    if (o.kind === "error") return "refused";
    return unchanged(item.payload, o.result) ? "intact" : "altered";
  }
  if (o.kind === "error") return "caught";
  if (item.expect === "block") return "delivered";
  const seen = strings(o.result);
  const parts = ([] as string[]).concat(item.secret ?? []);
  const left = parts.filter((p) => seen.some((s) => s.includes(p)));
  if (left.length === 0) return "caught";
  return left.length < parts.length ? "partial" : "delivered";
}

function unchanged(payload: unknown, result: Record<string, unknown>): boolean {
  const content = result.content as { type?: string; text?: string }[] | undefined;
  const texts = (content ?? []).filter((c) => c.type === "text").map((c) => c.text);
  if (texts.length !== 1 || texts[0] !== sentText(payload)) return false;
  if (payload && typeof payload === "object" && !Array.isArray(payload))
    return JSON.stringify(result.structuredContent) === JSON.stringify(payload);
  return true;
}

/** Commands and URLs: a refusal counts only when the upstream never saw the call. */
export function judgeCall(item: Item, o: Outcome, reachedUpstream: boolean): Verdict {
  if (o.kind === "transport") return "broken";
  const refused = o.kind === "error" && !reachedUpstream;
  if (isAttack(item)) return refused ? "caught" : "delivered";
  return o.kind === "error" ? "refused" : "intact";
}

// Addresses that are not public: a name resolving into one of them cannot show a benign URL
// passing here, nor prove an attack caught for the right reason.
const internal = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 3],
] as const)
  internal.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [
  ["::", 96],
  ["::ffff:0:0", 96],
  ["fc00::", 7],
  ["fe80::", 10],
  ["2001:db8::", 32],
] as const)
  internal.addSubnet(net, bits, "ipv6");

/** For items whose note says "needs DNS": does every host named in them resolve to public addresses here? */
export async function resolvesPublicly(item: Item): Promise<boolean> {
  for (const s of strings(item.payload)) {
    let host: string;
    try {
      host = new URL(s.trim()).hostname.replace(/^\[|\]$/g, "");
    } catch {
      continue;
    }
    if (!host || isIP(host)) continue;
    try {
      const addrs = await lookup(host, { all: true });
      if (addrs.length === 0) return false;
      if (addrs.some((a) => internal.check(a.address, a.family === 6 ? "ipv6" : "ipv4"))) return false;
    } catch {
      return false;
    }
  }
  return true;
}

export interface Tally {
  attacks: number;
  caught: number;
  partial: number;
  delivered: number;
  benign: number;
  falsePositives: number;
  altered: number;
  noDns: number;
  broken: number;
  missed: string[];
  fp: string[];
}

export function tally(rows: { item: Item; verdict: Verdict }[]): Tally {
  const t: Tally = {
    attacks: 0,
    caught: 0,
    partial: 0,
    delivered: 0,
    benign: 0,
    falsePositives: 0,
    altered: 0,
    noDns: 0,
    broken: 0,
    missed: [],
    fp: [],
  };
  for (const { item, verdict } of rows) {
    if (verdict === "no-dns") {
      t.noDns++;
      continue;
    }
    if (verdict === "broken") t.broken++;
    if (isAttack(item)) {
      t.attacks++;
      if (verdict === "caught") t.caught++;
      else {
        if (verdict === "partial") t.partial++;
        else t.delivered++;
        t.missed.push(`${item.id}(${item.class})`);
      }
    } else {
      t.benign++;
      if (verdict !== "intact") {
        t.falsePositives++;
        if (verdict === "altered") t.altered++;
        t.fp.push(`${item.id}(${item.class})`);
      }
    }
  }
  return t;
}

export function describeTally(name: string, t: Tally): string {
  const pct = (a: number, b: number) => (b === 0 ? "-" : `${((100 * a) / b).toFixed(1)}%`);
  return (
    `${name}: attacks ${t.attacks}: caught ${t.caught} (${pct(t.caught, t.attacks)}), delivered ${t.delivered}` +
    (t.partial ? `, partly redacted ${t.partial}` : "") +
    ` | benign ${t.benign}: false positives ${t.falsePositives} (${pct(t.falsePositives, t.benign)})` +
    (t.altered ? `, of which altered ${t.altered}` : "") +
    (t.noDns ? ` | not judged here (needs DNS) ${t.noDns}` : "") +
    (t.broken ? ` | NO ANSWER ${t.broken}` : "")
  );
}
