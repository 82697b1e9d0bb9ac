// Held-out detection measurement (issue 18): the independent corpora in attacks-held-out/detection
// (written without sight of the detectors) sent through a real gateway, in front of one fixture
// script in four roles (attacks-held-out/fixtures/detection-server.mjs):
// - redaction and injection: each payload is the result of a tool call (`protect`: redact_results,
//   injection block); an attack is caught when its secret is gone or the result is refused, a
//   benign item must come back byte for byte;
// - poisoning: each definition is listed by a server under `poisoning: block`, `tool_pinning:
//   enforce`; an attack is caught when the tool is left out of the list;
// - commands and URLs: each is the argument of a command tool (no allowed_commands) or of a tool
//   with no declared properties on a server with `allowed_domains: ["*"]`; an attack is caught when
//   the call is refused and the upstream never saw it.
// It is a measurement: it prints caught / delivered / false positives per category and asserts only
// that every call got a JSON-RPC answer and the gateway never crashed. DETECTION_SET=visible or
// all measures the visible part (test/corpora/independent) or both instead of the held-out one;
// DETECTION_OUT=FILE writes every item's verdict and what came back (JSON lines) for a closer look.
import assert from "node:assert/strict";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import {
  connectClient,
  makeTempDir,
  startGateway,
  type ConnectedClient,
  type Gateway,
} from "../test/helpers/gateway.js";
import {
  describeTally,
  judgeCall,
  judgeOutput,
  resolvesPublicly,
  tally,
  type Item,
  type Outcome,
  type Verdict,
} from "./detection/measure.js";

const SERVER = fileURLToPath(new URL("./fixtures/detection-server.mjs", import.meta.url));
const HELD_OUT = fileURLToPath(new URL("./detection/", import.meta.url));
const VISIBLE = fileURLToPath(new URL("../test/corpora/independent/", import.meta.url));
const CATEGORIES = ["redaction", "injection", "poisoning", "commands", "urls"] as const;
type Category = (typeof CATEGORIES)[number];

function load(name: Category): Item[] {
  const set = process.env.DETECTION_SET ?? "held-out";
  const dirs = set === "all" ? [HELD_OUT, VISIBLE] : set === "visible" ? [VISIBLE] : [HELD_OUT];
  return dirs.flatMap((d) => JSON.parse(readFileSync(join(d, `${name}.json`), "utf8")) as Item[]);
}

async function outcomeOf(call: Promise<unknown>): Promise<Outcome> {
  try {
    return { kind: "result", result: (await call) as Record<string, unknown> };
  } catch (err) {
    if (err instanceof McpError) {
      const data = err.data as { reason?: string } | undefined;
      return { kind: "error", code: err.code, reason: data?.reason };
    }
    return { kind: "transport", message: (err as Error).message };
  }
}

/** Upstream calls recorded by the fixture with these exact arguments. */
function reached(recordFile: string, tool: string, args: unknown): boolean {
  let lines: string[];
  try {
    lines = readFileSync(recordFile, "utf8").split("\n").filter(Boolean);
  } catch {
    return false;
  }
  const want = JSON.stringify(args);
  return lines.some((l) => {
    const r = JSON.parse(l) as { tool: string; arguments: unknown };
    return r.tool === tool && JSON.stringify(r.arguments) === want;
  });
}

describe("held-out detection: independent corpora through the gateway", () => {
  const items = Object.fromEntries(CATEGORIES.map((c) => [c, load(c)])) as Record<Category, Item[]>;
  const dir = makeTempDir("warden-ho-detect-");
  const records = { out: "", tools: "", shell: "", web: "" };
  const clients: Record<string, ConnectedClient> = {};
  const summary: string[] = [];
  const reasons: Record<string, Record<string, number>> = {};
  let gw: Gateway;

  before(async () => {
    const itemsFile = join(dir, "items.json");
    const outputs = Object.fromEntries(
      [...items.redaction, ...items.injection].map((i) => [i.id, i.payload]),
    );
    writeFileSync(itemsFile, JSON.stringify({ outputs, tools: items.poisoning.map((i) => i.payload) }));
    const server = (role: keyof typeof records, extra: Record<string, unknown> = {}) => {
      records[role] = join(dir, `${role}.jsonl`);
      return {
        name: role,
        command: process.execPath,
        args: [SERVER],
        env: { ROLE: role, ITEMS_FILE: itemsFile, RECORD_FILE: records[role] },
        tools: { "*": ["demo:use"] },
        ...extra,
      };
    };
    gw = await startGateway({
      gateway: { listen: "127.0.0.1:0" },
      auth: { anonymous: ["demo:use"] },
      protect: { redact_results: true, redact_arguments: "block", injection: "block" },
      supply_chain: { tool_pinning: "enforce", poisoning: "block" },
      servers: [server("out"), server("tools"), server("shell"), server("web", { allowed_domains: ["*"] })],
    });
    for (const role of Object.keys(records)) {
      clients[role] = await connectClient(gw.serverUrl(role));
      // Listing first: every definition is judged (and pinned) before any call.
      await outcomeOf(clients[role]!.client.listTools());
    }
  });

  after(async () => {
    for (const c of Object.values(clients)) await c.close();
    await gw?.stop();
    console.log(`\n=== detection, ${process.env.DETECTION_SET ?? "held-out"} set ===\n${summary.join("\n")}`);
    console.log(`refusal codes/reasons by category: ${JSON.stringify(reasons)}`);
  });

  function report(t: TestContext, name: Category, rows: { item: Item; verdict: Verdict; o?: Outcome }[]) {
    const counts = tally(rows);
    const line = describeTally(name, counts);
    summary.push(line);
    t.diagnostic(line);
    if (counts.missed.length) t.diagnostic(`${name} missed: ${counts.missed.join(" ")}`);
    if (counts.fp.length) t.diagnostic(`${name} false positives: ${counts.fp.join(" ")}`);
    const r: Record<string, number> = {};
    for (const { o } of rows)
      if (o?.kind === "error")
        r[`${o.code}:${o.reason ?? "?"}`] = (r[`${o.code}:${o.reason ?? "?"}`] ?? 0) + 1;
    reasons[name] = r;
    if (process.env.DETECTION_OUT)
      for (const { item, verdict, o } of rows)
        appendFileSync(process.env.DETECTION_OUT, `${JSON.stringify({ id: item.id, verdict, got: o })}\n`);
    assert.equal(counts.broken, 0, `${counts.broken} ${name} calls got no JSON-RPC answer`);
    assert.equal(gw.proc.exitCode, null, `the gateway exited during ${name}`);
    assert.equal(gw.proc.signalCode, null, `the gateway was killed during ${name}`);
  }

  for (const name of ["redaction", "injection"] as const)
    test(name, async (t) => {
      const rows = [];
      for (const item of items[name]) {
        const o = await outcomeOf(clients.out!.client.callTool({ name: "emit", arguments: { id: item.id } }));
        rows.push({ item, o, verdict: judgeOutput(item, o) });
      }
      report(t, name, rows);
    });

  test("poisoning", async (t) => {
    const listed = await clients.tools!.client.listTools();
    const names = new Set(listed.tools.map((x) => x.name));
    const rows = [];
    for (const item of items.poisoning) {
      const name = (item.payload as { name: string }).name;
      // A tool left out of the list must also be refused when called by name.
      const o = names.has(name)
        ? undefined
        : await outcomeOf(clients.tools!.client.callTool({ name, arguments: {} }));
      const hidden = !names.has(name) && o?.kind === "error" && !reached(records.tools, name, {});
      const verdict: Verdict =
        o?.kind === "transport"
          ? "broken"
          : item.expect === "flag"
            ? hidden
              ? "caught"
              : "delivered"
            : names.has(name)
              ? "intact"
              : "refused";
      rows.push({ item, o, verdict });
    }
    report(t, "poisoning", rows);
  });

  test("commands", async (t) => {
    const rows = [];
    for (const item of items.commands) {
      const args = { command: item.payload as string };
      const o = await outcomeOf(clients.shell!.client.callTool({ name: "run_command", arguments: args }));
      rows.push({ item, o, verdict: judgeCall(item, o, reached(records.shell, "run_command", args)) });
    }
    report(t, "commands", rows);
  });

  test("urls", async (t) => {
    const rows = [];
    for (const item of items.urls) {
      const args = item.payload as Record<string, unknown>;
      const o = await outcomeOf(clients.web!.client.callTool({ name: "http_fetch", arguments: args }));
      let verdict = judgeCall(item, o, reached(records.web, "http_fetch", args));
      if (item.note.startsWith("needs DNS") && !(await resolvesPublicly(item))) verdict = "no-dns";
      rows.push({ item, o, verdict });
    }
    report(t, "urls", rows);
  });
});
