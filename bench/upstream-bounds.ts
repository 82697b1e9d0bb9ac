// node --import tsx bench/upstream-bounds.ts
// What bounding a remote upstream's responses (src/upstreams/bounded-fetch.ts) adds to the SDK's
// own work on each response: read the body, decode, frame the events (SSE), JSON.parse and check
// the message with the SDK's schema. Per response, a 256 B echo result and 1 MiB results (one long
// text, and many small objects, the scanner's slowest case per byte), each as an application/json
// body and as one server-sent event, in 64 KiB chunks as they come off a socket.
// With --e2e, instead, the gateway's CPU per echo call through a remote server-everything (streamable
// HTTP, which answers every call with an event stream) and, beside it, through the same server
// over stdio (no response bounding there): the figure the per-response cost above adds to.
import { JSONRPCMessageSchema } from "@modelcontextprotocol/sdk/types.js";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { boundResponse, upstreamBounds } from "../src/upstreams/bounded-fetch.js";
import { connectClient } from "../test/helpers/client.js";
import { everythingStdio, gatewayConfig } from "../test/helpers/configs.js";
import { startGateway } from "../test/helpers/gateway.js";
import { startEverythingRemote } from "../test/helpers/upstreams.js";
import { cpuUs } from "./lib/proc.js";

const CHUNK = 64 * 1024;
const bounds = upstreamBounds(16 * 1024 * 1024);

/** A 256-byte echo result. */
function echo(): string {
  const wrap = (text: string) =>
    JSON.stringify({ jsonrpc: "2.0", id: 42, result: { content: [{ type: "text", text }] } });
  return wrap(`Echo: ${"the quick brown fox ".repeat(20)}`.slice(0, 256 - wrap("").length));
}

function longText(bytes: number): string {
  const line = 'INFO 2026-11-26T07:12:13Z handled "GET /api/v1/items/12345" in 12 ms \\ path=C:\\srv\n';
  const text = line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes);
  return JSON.stringify({ jsonrpc: "2.0", id: 42, result: { content: [{ type: "text", text }] } });
}

function manyObjects(bytes: number): string {
  const rows: object[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const row = { id: i, name: `item-${i}`, price: (i % 997) / 10, tags: ["a", "b"], ok: i % 2 === 0 };
    rows.push(row);
    n += JSON.stringify(row).length + 1;
  }
  return JSON.stringify({
    jsonrpc: "2.0",
    id: 42,
    result: { content: [], structuredContent: { rows } },
  });
}

function chunks(text: string): Buffer[] {
  const bytes = Buffer.from(text, "utf8");
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += CHUNK) out.push(bytes.subarray(i, i + CHUNK));
  return out;
}

function response(parts: Buffer[], type: string): Response {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of parts) c.enqueue(p);
      c.close();
    },
  });
  return new Response(body, { headers: { "content-type": type } });
}

/** What the SDK's streamable-HTTP client does with a response of either kind. */
async function consume(res: Response, sse: boolean): Promise<void> {
  if (!sse) {
    JSONRPCMessageSchema.parse(await res.json());
    return;
  }
  const events = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  for await (const e of events) JSONRPCMessageSchema.parse(JSON.parse(e.data));
}

async function perCall(parts: Buffer[], sse: boolean, bounded: boolean, ms: number): Promise<number> {
  const type = sse ? "text/event-stream" : "application/json";
  const run = async () => {
    const res = response(parts, type);
    await consume(bounded ? boundResponse(res, "bench", bounds, () => {}) : res, sse);
  };
  for (let i = 0; i < 50; i++) await run();
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  while (process.hrtime.bigint() < end) {
    await run();
    n++;
  }
  return Number(process.hrtime.bigint() - start) / 1000 / n;
}

const cases: Array<[string, string]> = [
  ["256 B echo", echo()],
  ["1 MiB text", longText(1 << 20)],
  ["1 MiB objects", manyObjects(1 << 20)],
];

const e2e = process.argv.includes("--e2e");
console.log(`node ${process.version}; µs per response (median of 5 rounds of 400 ms each)`);
console.log("| response | body | SDK alone | SDK + bounds | added | added % |");
console.log("|---|---|---:|---:|---:|---:|");
for (const [name, message] of e2e ? [] : cases) {
  for (const sse of [false, true]) {
    const parts = chunks(sse ? `event: message\ndata: ${message}\n\n` : message);
    const plain: number[] = [];
    const bounded: number[] = [];
    // Alternated, so that drift (thermal, other load) falls on both sides.
    for (let round = 0; round < 5; round++) {
      plain.push(await perCall(parts, sse, false, 400));
      bounded.push(await perCall(parts, sse, true, 400));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[2] as number;
    const [p, b] = [median(plain), median(bounded)];
    console.log(
      `| ${name} (${Buffer.byteLength(message)} B) | ${sse ? "SSE event" : "JSON"} | ${p.toFixed(1)} | ${b.toFixed(1)} | ${(b - p).toFixed(1)} | ${((100 * (b - p)) / p).toFixed(0)}% |`,
    );
  }
}

if (e2e) {
  const remote = await startEverythingRemote("streamableHttp");
  const gw = await startGateway(
    gatewayConfig([
      everythingStdio("local"),
      { name: "remote", url: remote.url, tools: { "*": ["demo:use"] } },
    ]),
  );
  try {
    const calls = 3000;
    console.log(`\ngateway CPU µs per echo call (${calls} calls, one in flight; median of 3 rounds)`);
    console.log("| upstream | gateway CPU µs/call |");
    console.log("|---|---:|");
    for (const tool of ["remote__echo", "local__echo"]) {
      const rounds: number[] = [];
      for (let r = 0; r < 3; r++) {
        const client = await connectClient(gw.mcpUrl);
        const call = (i: number) => client.client.callTool({ name: tool, arguments: { message: `m${i}` } });
        for (let i = 0; i < 300; i++) await call(i);
        const before = cpuUs([gw.proc.pid!]);
        for (let i = 0; i < calls; i++) await call(i);
        rounds.push((cpuUs([gw.proc.pid!]) - before) / calls);
        await client.close();
      }
      rounds.sort((a, b) => a - b);
      const what = tool === "remote__echo" ? "remote (streamable HTTP)" : "stdio";
      console.log(`| ${what} | ${rounds[1]!.toFixed(0)} |`);
    }
  } finally {
    await gw.stop();
    await remote.stop();
  }
}
