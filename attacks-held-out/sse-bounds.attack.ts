// Held-out attacks on the remote-upstream message bounds (docs/operations.md, "Remote upstreams"):
// a hostile streamable-HTTP server answers tools/call with `text/event-stream` bodies crafted so
// that the gateway's framing (its own eventsource-parser run on the bytes) and the SDK client's
// (TextDecoderStream → eventsource-parser) might disagree on where events and `data:` lines are:
// BOMs (whole, cut, doubled, followed by the "ï»¿" characters eventsource-parser strips only from
// its first chunk), invalid UTF-8, CR / CRLF / lone CR at write ends, data split over many lines,
// comments, id/retry lines, fields without colon, byte-by-byte writes, content-type spellings the
// two sides may classify differently, and a priming event that makes the SDK reconnect with GET.
// Judged on outcomes: no result past the limits (depth 1000 for upstream messages, the configured
// max_upstream_message_bytes of 64 KiB) reaches the caller; refusals are -32005; the gateway stays
// up and a bystander is served. Controls (BOM at the start, multi-byte characters cut across
// writes, CRLF/comments/id/retry) must pass through intact.
//
// The hostile server runs in this process (node:http), writing each body with res.write calls of
// controlled sizes, a timer between them so that each write arrives as its own TCP segment.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { connectClient, textOf, type ConnectedClient } from "../test/helpers/client.js";
import { everythingStdio, gatewayConfig } from "../test/helpers/configs.js";
import { startGateway, type Gateway } from "../test/helpers/gateway.js";

const MAX_BYTES = 65536;
const UPSTREAM_DEPTH = 1000; // the stdio-upstream depth limit remote upstreams share (docs)
const DEEP = 1200;

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
/** The characters U+00EF U+00BB U+00BF, UTF-8 encoded: what eventsource-parser strips from its first chunk. */
const MOJI = Buffer.from("\u00ef\u00bb\u00bf", "utf8");

type Piece = string | Buffer;
type Body = { chunks: Piece[]; delayMs?: number; contentType?: string };

function deepMessage(id: unknown): string {
  return (
    `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":{"content":[{"type":"text","text":"deep"}],` +
    `"structuredContent":{"x":${"[".repeat(DEEP)}${"]".repeat(DEEP)}}}}`
  );
}
function bigMessage(id: unknown, text = "b".repeat(MAX_BYTES + 4096)): string {
  return JSON.stringify({ jsonrpc: "2.0", id, result: { content: [{ type: "text", text }] } });
}
function okMessage(id: unknown, text: string): string {
  return JSON.stringify({ jsonrpc: "2.0", id, result: { content: [{ type: "text", text }] } });
}
/** Cuts `s` into data lines of at most `n` characters (joined by "\n", still the same JSON). */
function dataLines(s: string, n: number, between = ""): string {
  let out = "";
  for (let i = 0; i < s.length; i += n) out += `${between}data: ${s.slice(i, i + n)}\n`;
  return out;
}
function bytewise(s: Piece, step = 1): Buffer[] {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, "utf8");
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += step) out.push(b.subarray(i, i + step));
  return out;
}

type Kind = "deep" | "big" | "bigcjk" | "control";
interface Case {
  kind: Kind;
  /** The body for the tools/call answer, given the request id. */
  body: (id: unknown) => Body;
  /** For controls: the text the caller must receive. */
  expect?: string;
  /** Answer GET (the SDK's resumption) with this body. */
  get?: (id: unknown) => Body;
}

const CJK_TEXT = "\u6f22".repeat(25_000); // 75,000 UTF-8 bytes, 25,000 UTF-16 units
const EMOJI_TEXT = "\u{1F600}".repeat(17_000); // 68,000 UTF-8 bytes, 34,000 UTF-16 units
const MB_TEXT = "é漢😀€ü\u2028ok"; // multi-byte characters (2, 3, 4 bytes) and a line separator

const CASES: Record<string, Case> = {
  // -- baselines (documented refusals) --
  "base-deep": { kind: "deep", body: (id) => ({ chunks: [`event: message\ndata: ${deepMessage(id)}\n\n`] }) },
  "base-big": { kind: "big", body: (id) => ({ chunks: [`event: message\ndata: ${bigMessage(id)}\n\n`] }) },
  // -- BOM and the characters eventsource-parser strips --
  "bom-deep": {
    kind: "deep",
    body: (id) => ({ chunks: [Buffer.concat([BOM, Buffer.from(`data: ${deepMessage(id)}\n\n`)])] }),
  },
  "bom-moji-deep": {
    kind: "deep",
    body: (id) => ({ chunks: [Buffer.concat([BOM, MOJI, Buffer.from(`data: ${deepMessage(id)}\n\n`)])] }),
  },
  "bom|moji-deep": {
    kind: "deep",
    body: (id) => ({
      chunks: [BOM, Buffer.concat([MOJI, Buffer.from(`data: ${deepMessage(id)}\n\n`)])],
      delayMs: 60,
    }),
  },
  "bomcut|moji-deep": {
    kind: "deep",
    body: (id) => ({
      chunks: [
        BOM.subarray(0, 1),
        BOM.subarray(1),
        Buffer.concat([MOJI, Buffer.from(`data: ${deepMessage(id)}\n\n`)]),
      ],
      delayMs: 60,
    }),
  },
  "c3|moji-rest-deep": {
    kind: "deep",
    body: (id) => ({
      chunks: [
        MOJI.subarray(0, 1),
        Buffer.concat([MOJI.subarray(1), Buffer.from(`data: ${deepMessage(id)}\n\n`)]),
      ],
      delayMs: 60,
    }),
  },
  "moji|data-deep": {
    kind: "deep",
    body: (id) => ({ chunks: [MOJI, `data: ${deepMessage(id)}\n\n`], delayMs: 60 }),
  },
  "moji-bytewise-deep": {
    kind: "deep",
    body: (id) => ({ chunks: [...bytewise(MOJI), `data: ${deepMessage(id)}\n\n`], delayMs: 40 }),
  },
  "ff|moji-deep": {
    // an invalid byte decodes to U+FFFD: not the characters, nothing stripped, both sides ignore the line
    kind: "deep",
    body: (id) => ({
      chunks: [Buffer.from([0xff]), Buffer.concat([MOJI, Buffer.from(`\ndata: ${deepMessage(id)}\n\n`)])],
      delayMs: 60,
    }),
  },
  "bom-bom-nl-deep": {
    kind: "deep",
    body: (id) => ({ chunks: [Buffer.concat([BOM, BOM, Buffer.from(`\ndata: ${deepMessage(id)}\n\n`)])] }),
  },
  "bom-midstream-deep": {
    kind: "deep",
    body: (id) => ({
      chunks: [
        `: hi\n\n`,
        Buffer.concat([BOM, Buffer.from(`data: x\n\n`)]),
        Buffer.concat([MOJI, Buffer.from(`\ndata: ${deepMessage(id)}\n\n`)]),
      ],
      delayMs: 60,
    }),
  },
  // -- line endings --
  // (a lone CR ending the stream is never a line end for eventsource-parser: end with a comment line)
  "cr-only-deep": {
    kind: "deep",
    body: (id) => ({ chunks: [`event: message\rdata: ${deepMessage(id)}\r\r:\r`] }),
  },
  "cr-at-stream-end-deep": {
    // the SDK never dispatches this event (its blank line is a CR held for a next chunk that never
    // comes): it may be refused or time out, but must not be delivered
    kind: "deep",
    body: (id) => ({ chunks: [`event: message\rdata: ${deepMessage(id)}\r`, `\r`], delayMs: 60 }),
  },
  "crlf-deep": {
    kind: "deep",
    body: (id) => ({ chunks: [`event: message\r\ndata: ${deepMessage(id)}\r\n\r\n`] }),
  },
  "lone-cr-at-end-deep": {
    kind: "deep",
    body: (id) => ({ chunks: [`: c\r`, `\ndata: ${deepMessage(id)}\r`, `\n\r`, `\n`], delayMs: 60 }),
  },
  "cr|lf-split-lines-deep": {
    kind: "deep",
    body: (id) => ({
      chunks: (dataLines(deepMessage(id), 50).replace(/\n/g, "\r\n") + "\r\n").split(/(?<=\r)/),
      delayMs: 5,
    }),
  },
  "mixed-eol-deep": {
    kind: "deep",
    body: (id) => {
      const lines = dataLines(deepMessage(id), 40).split("\n").filter(Boolean);
      const eols = ["\n", "\r", "\r\n"];
      return { chunks: [lines.map((l, i) => l + eols[i % 3]).join("") + "\n"] };
    },
  },
  "nul-and-u2028-deep": {
    kind: "deep",
    body: (id) => ({ chunks: [`id: a\0b\nevent: message\n: \u2028\ndata:${deepMessage(id)}\u2028\n\n`] }),
  },
  "invalid-utf8-lines-deep": {
    kind: "deep",
    body: (id) => ({
      chunks: [
        Buffer.from([0xe2, 0x80]),
        Buffer.from(`\n`),
        Buffer.from([0xf0, 0x9f]),
        Buffer.from(`\ndata: ${deepMessage(id)}\n\n`),
      ],
      delayMs: 40,
    }),
  },
  // -- field shapes --
  "event-nospace-deep": {
    kind: "deep",
    body: (id) => ({ chunks: [`event:message\ndata:${deepMessage(id)}\n\n`] }),
  },
  "many-data-lines-deep": {
    kind: "deep",
    body: (id) => ({ chunks: [dataLines(deepMessage(id), 3) + "\n"] }),
  },
  "comments-between-deep": {
    kind: "deep",
    body: (id) => ({ chunks: [dataLines(deepMessage(id), 7, ": x\n") + "\n"] }),
  },
  "id-retry-deep": {
    kind: "deep",
    body: (id) => ({
      chunks: [
        `id: 1\nretry: 5\nretry: x\nfoo\nfoo: bar\ndata\n${dataLines(deepMessage(id), 100, "id: 2\n")}\n`,
      ],
    }),
  },
  "data-empty-first-deep": {
    kind: "deep",
    body: (id) => ({ chunks: [`data\ndata:\ndata: ${deepMessage(id)}\n\n`] }),
  },
  "event-then-reset-deep": {
    kind: "deep",
    body: (id) => ({ chunks: [`event: other\n\ndata: ${deepMessage(id)}\n\n`] }),
  },
  // -- tiny writes --
  "bytewise-deep": {
    kind: "deep",
    body: (id) => ({ chunks: bytewise(`event: message\r\ndata: ${deepMessage(id)}\r\n\r\n`, 1), delayMs: 1 }),
  },
  "bytewise-bom-moji-deep": {
    kind: "deep",
    body: (id) => ({
      chunks: bytewise(Buffer.concat([BOM, MOJI, Buffer.from(`data: ${deepMessage(id)}\n\n`)]), 1),
      delayMs: 1,
    }),
  },
  // -- size --
  "big-many-lines-comments": {
    kind: "big",
    body: (id) => ({ chunks: [dataLines(bigMessage(id), 1000, ": pad\n") + "\n"] }),
  },
  "big-cjk-chars": { kind: "bigcjk", body: (id) => ({ chunks: [`data: ${bigMessage(id, CJK_TEXT)}\n\n`] }) },
  "big-emoji-chars": {
    kind: "bigcjk",
    body: (id) => ({ chunks: [`data: ${bigMessage(id, EMOJI_TEXT)}\n\n`] }),
  },
  // each invalid byte 0xFF is one byte on the wire and U+FFFD (3 UTF-8 bytes) once decoded
  "ff-amplified-big": {
    kind: "bigcjk",
    body: (id) => {
      const [head, tail] = bigMessage(id, "@").split("@");
      return {
        chunks: [
          Buffer.concat([
            Buffer.from(`data: ${head}`),
            Buffer.alloc(40_000, 0xff),
            Buffer.from(`${tail}\n\n`),
          ]),
        ],
      };
    },
  },
  "ff-amplified-big-ct-json": {
    kind: "bigcjk",
    body: (id) => {
      const [head, tail] = bigMessage(id, "@").split("@");
      return {
        contentType: "application/json",
        chunks: [Buffer.concat([Buffer.from(head!), Buffer.alloc(40_000, 0xff), Buffer.from(tail!)])],
      };
    },
  },
  "big-bom-moji": {
    kind: "big",
    body: (id) => ({
      chunks: [BOM, Buffer.concat([MOJI, Buffer.from(`data: ${bigMessage(id)}\n\n`)])],
      delayMs: 60,
    }),
  },
  "big-crlf-split": {
    kind: "big",
    body: (id) => ({
      chunks: [
        `data: ${bigMessage(id).slice(0, 40000)}\r`,
        `\ndata: ${bigMessage(id).slice(40000)}\r`,
        `\n\r`,
        `\n`,
      ],
      delayMs: 60,
    }),
  },
  // -- content-type spellings (gateway and SDK may classify differently) --
  "ct-upper-sse-deep": {
    kind: "deep",
    body: (id) => ({ contentType: "TEXT/Event-Stream", chunks: [`:"\ndata: ${deepMessage(id)}\n\n:"\n`] }),
  },
  "ct-params-sse-deep": {
    kind: "deep",
    body: (id) => ({
      contentType: 'text/event-stream ; charset="utf-8"; x="application/json"',
      chunks: [`:"\ndata: ${deepMessage(id)}\n\n`],
    }),
  },
  "ct-json-param-sse-json-deep": {
    kind: "deep",
    body: (id) => ({
      contentType: 'application/json; profile="text/event-stream"',
      chunks: [deepMessage(id)],
    }),
  },
  "ct-json-upper-deep": {
    kind: "deep",
    body: (id) => ({ contentType: "Application/JSON", chunks: [deepMessage(id)] }),
  },
  "ct-sse-latin1-moji": {
    kind: "deep",
    body: (id) => ({
      contentType: "text/event-stream; charset=iso-8859-1",
      chunks: [BOM, Buffer.concat([MOJI, Buffer.from(`data: ${deepMessage(id)}\n\n`)])],
      delayMs: 60,
    }),
  },
  "json-bom-deep": {
    kind: "deep",
    body: (id) => ({ contentType: "application/json", chunks: [BOM, deepMessage(id)], delayMs: 60 }),
  },
  "json-escapes-deep": {
    kind: "deep",
    body: (id) => ({
      contentType: "application/json",
      chunks: [deepMessage(id).replace('"text":"deep"', '"text":"a\\\\\\"]]]}}}\\\\"')],
    }),
  },
  "sse-json-escapes-split-deep": {
    kind: "deep",
    body: (id) => ({
      chunks: bytewise(
        `data: ${deepMessage(id).replace('"text":"deep"', '"text":"a\\\\\\"\\n]]]}}}\\\\"')}\n\n`,
        7,
      ),
      delayMs: 2,
    }),
  },
  // -- resumption: a priming event, then the stream ends; the SDK reconnects with GET --
  "prime-then-get-deep": {
    kind: "deep",
    body: () => ({ chunks: [`id: e1\nretry: 10\ndata:\n\n`] }),
    get: (id) => ({ chunks: [`id: e2\ndata: ${deepMessage(id)}\n\n`] }),
  },
  "prime-then-get-bom-moji-deep": {
    kind: "deep",
    body: () => ({ chunks: [`id: e1\nretry: 10\ndata:\n\n`] }),
    get: (id) => ({
      chunks: [BOM, Buffer.concat([MOJI, Buffer.from(`id: e2\ndata: ${deepMessage(id)}\n\n`)])],
      delayMs: 60,
    }),
  },
  // -- controls: must pass intact --
  "ctl-bom-start": {
    kind: "control",
    expect: "hello-bom",
    body: (id) => ({
      chunks: [Buffer.concat([BOM, Buffer.from(`event: message\ndata: ${okMessage(id, "hello-bom")}\n\n`)])],
    }),
  },
  "ctl-bom-own-write": {
    kind: "control",
    expect: "hello-bom2",
    body: (id) => ({ chunks: [BOM, `data: ${okMessage(id, "hello-bom2")}\n\n`], delayMs: 60 }),
  },
  "ctl-multibyte-bytewise": {
    kind: "control",
    expect: MB_TEXT,
    body: (id) => ({
      chunks: bytewise(`event: message\ndata: ${okMessage(id, MB_TEXT)}\n\n`, 1),
      delayMs: 2,
    }),
  },
  "ctl-multibyte-cut": {
    kind: "control",
    expect: MB_TEXT,
    body: (id) => {
      const b = Buffer.from(`data: ${okMessage(id, MB_TEXT)}\n\n`, "utf8");
      const at = b.indexOf(Buffer.from("漢")) + 1;
      const at2 = b.indexOf(Buffer.from("😀")) + 2;
      return { chunks: [b.subarray(0, at), b.subarray(at, at2), b.subarray(at2)], delayMs: 60 };
    },
  },
  "ctl-crlf-comments-id-retry": {
    kind: "control",
    expect: "hello-crlf",
    body: (id) => ({
      chunks: [
        `: hi\r\nid: 7\r\nretry: 100\r\ndata: ${okMessage(id, "hello-crlf").split(",").join(",\r\n: c\r\ndata: ")}\r\n\r`,
        `\n`,
      ],
      delayMs: 60,
    }),
  },
  "ctl-lone-cr": {
    kind: "control",
    expect: "hello-cr",
    body: (id) => ({
      chunks: [`event: message\rdata: ${okMessage(id, "hello-cr")}\r`, `\r: end\r`],
      delayMs: 60,
    }),
  },
  "ctl-near-limit": {
    kind: "control",
    expect: "n".repeat(60_000),
    body: (id) => ({ chunks: [`data: ${okMessage(id, "n".repeat(60_000))}\n\n`] }),
  },
};
const NAMES = Object.keys(CASES);
const serverName = (c: string) => `s${NAMES.indexOf(c)}`;

const calls: Record<string, number> = {};
const gets: Record<string, number> = {};
const lastId: Record<string, unknown> = {};

async function readJson(
  req: IncomingMessage,
): Promise<{ id?: unknown; method?: string; params?: { name?: string; protocolVersion?: string } }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function writeBody(res: ServerResponse, body: Body) {
  res.writeHead(200, {
    "content-type": body.contentType ?? "text/event-stream",
    "cache-control": "no-cache",
  });
  res.flushHeaders();
  for (const c of body.chunks) {
    if (res.destroyed) return;
    res.write(typeof c === "string" ? Buffer.from(c, "utf8") : c);
    await new Promise((r) => setTimeout(r, body.delayMs ?? 0));
  }
  res.end();
}

async function handle(req: IncomingMessage, res: ServerResponse) {
  const name = decodeURIComponent(new URL(req.url!, "http://x").pathname.split("/")[2] ?? "");
  const c = CASES[name];
  if (!c) return res.writeHead(404).end();
  if (req.method === "GET") {
    if (c.get && lastId[name] !== undefined && req.headers["last-event-id"]) {
      gets[name] = (gets[name] ?? 0) + 1;
      return writeBody(res, c.get(lastId[name]));
    }
    return res.writeHead(405, { allow: "POST" }).end();
  }
  if (req.method === "DELETE") return res.writeHead(200).end();
  const m = await readJson(req);
  if (m.id === undefined) return res.writeHead(202).end();
  let result: unknown;
  if (m.method === "initialize")
    result = {
      protocolVersion: m.params?.protocolVersion ?? "2025-06-18",
      capabilities: { tools: {} },
      serverInfo: { name: "sse-hostile", version: "1.0.0" },
    };
  else if (m.method === "tools/list")
    result = { tools: [{ name: "go", description: "answers", inputSchema: { type: "object" } }] };
  else if (m.method === "ping") result = {};
  else if (m.method === "tools/call") {
    calls[name] = (calls[name] ?? 0) + 1;
    lastId[name] = m.id;
    return writeBody(res, c.body(m.id));
  }
  const msg =
    result === undefined
      ? { jsonrpc: "2.0", id: m.id, error: { code: -32601, message: "nf" } }
      : { jsonrpc: "2.0", id: m.id, result };
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(msg));
}

function depthOf(v: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x !== null && typeof x === "object") {
      if (d + 1 > max) max = d + 1;
      for (const y of Object.values(x as object)) stack.push([y, d + 1]);
    }
  }
  return max;
}

type Outcome = { result?: unknown; error?: unknown; ms: number };

describe("SSE framing disagreements between the gateway's bound and the SDK client", () => {
  let server: Server;
  let gw: Gateway;
  let attacker: ConnectedClient;
  let bystander: ConnectedClient;
  const outcomes: Record<string, Promise<Outcome>> = {};
  const bystanderAnswers: string[] = [];
  let attacking = true;
  let bystanderLoop: Promise<void>;

  before(async () => {
    server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    gw = await startGateway(
      gatewayConfig(
        [
          everythingStdio("everything"),
          ...NAMES.map((n) => ({
            name: serverName(n),
            url: `${base}/mcp/${encodeURIComponent(n)}`,
            transport: "streamable_http",
            tools: { "*": ["demo:use"] },
          })),
        ],
        { gateway: { upstream_timeout: "12s", max_upstream_message_bytes: MAX_BYTES } },
      ),
      { readyTimeoutMs: 60_000 },
    );
    attacker = await connectClient(gw.mcpUrl);
    bystander = await connectClient(gw.mcpUrl);
    bystanderLoop = (async () => {
      do {
        const t = textOf(
          await bystander.client.callTool({
            name: "everything__echo",
            arguments: { message: `b${bystanderAnswers.length}` },
          }),
        );
        bystanderAnswers.push(t);
        await new Promise((r) => setTimeout(r, 50));
      } while (attacking);
    })();
    for (const n of NAMES) {
      const t0 = Date.now();
      outcomes[n] = attacker.client
        .callTool({ name: `${serverName(n)}__go`, arguments: {} }, undefined, { timeout: 40_000 })
        .then(
          (result) => ({ result, ms: Date.now() - t0 }),
          (error) => ({ error, ms: Date.now() - t0 }),
        );
    }
  });

  after(async () => {
    attacking = false;
    await bystanderLoop?.catch(() => undefined);
    await attacker?.close();
    await bystander?.close();
    await gw?.stop();
    await new Promise((r) => server?.close(r));
  });

  for (const n of NAMES) {
    const c = CASES[n]!;
    test(`${n} (${c.kind})`, async () => {
      const o = await outcomes[n]!;
      const err = o.error as McpError | undefined;
      const code = err instanceof McpError ? err.code : undefined;
      const data = err instanceof McpError ? (err.data as Record<string, unknown> | undefined) : undefined;
      const info = `${o.result ? "result" : `error ${code} ${JSON.stringify(data)} ${String((o.error as Error)?.message).slice(0, 160)}`} after ${o.ms} ms, calls=${calls[n] ?? 0} gets=${gets[n] ?? 0}`;
      console.log(`# ${n}: ${info}`);
      if (c.kind === "control") {
        assert.ok(o.result, `control refused: ${info}`);
        assert.equal(textOf(o.result), c.expect);
        return;
      }
      assert.ok((calls[n] ?? 0) >= 1, `the server was never called: ${info}`);
      if (o.result) {
        const json = JSON.stringify(o.result);
        const depth = depthOf(o.result);
        const text = textOf(o.result);
        assert.ok(depth <= UPSTREAM_DEPTH, `a result ${depth} deep reached the caller`);
        assert.ok(
          Buffer.byteLength(text) < MAX_BYTES,
          `a result of ${Buffer.byteLength(text)} text bytes (${text.length} UTF-16 units, ${json.length} chars of JSON) reached the caller`,
        );
        assert.fail(
          `the hostile answer was delivered (within limits after processing?): ${json.slice(0, 200)}`,
        );
      }
      // The hostile event must be refused as documented, not leak or wait for the call timeout.
      assert.equal(code, -32005, info);
      if (n === "cr-at-stream-end-deep" && data?.reason === "upstream_timeout") return; // never dispatched by the SDK
      assert.equal(data?.reason, "upstream_limit_exceeded", info);
    });
  }

  test("the gateway stayed up and the bystander was served throughout", async () => {
    await Promise.all(Object.values(outcomes));
    attacking = false;
    await bystanderLoop;
    assert.ok(bystanderAnswers.length > 0);
    assert.deepEqual(
      bystanderAnswers,
      bystanderAnswers.map((_, i) => `Echo: b${i}`),
    );
    assert.equal(gw.proc.exitCode, null, "the gateway exited");
    assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
    const t = textOf(
      await bystander.client.callTool({ name: "everything__echo", arguments: { message: "after" } }),
    );
    assert.equal(t, "Echo: after");
    // Nothing deep or big on the attacker's wire either (notifications, errors).
    for (const m of attacker.wire) {
      const s = JSON.stringify(m);
      assert.ok(
        !s.includes("[[[[[[[[[[") &&
          !s.includes("bbbbbbbbbbbbbbbb") &&
          !s.includes("\u6f22\u6f22\u6f22\u6f22"),
        `hostile bytes on the wire: ${s.slice(0, 200)}`,
      );
    }
  });
});
