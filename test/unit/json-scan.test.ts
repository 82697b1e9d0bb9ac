import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { depthExceeds } from "../../src/jsonrpc.js";
import { JsonScanner, measureJson, scanJson, type JsonLimits } from "../../src/transports/json-scan.js";
import { MessageIdFinder } from "../../src/transports/message-id.js";
import { ScanningReadBuffer, scanStdioInput } from "../../src/transports/stdio-scan.js";

const NO_LIMITS: JsonLimits = { depth: Infinity, width: Infinity, values: Infinity };

// Strings made of what the scan must not mistake for structure: brackets, quotes, backslashes,
// commas, colons, line breaks and multi-byte characters.
const trickyUnit = fc.constantFrom(
  "[",
  "]",
  "{",
  "}",
  '"',
  "\\",
  ",",
  ":",
  "a",
  " ",
  "\n",
  "é",
  "\u2028",
  "😀",
);
const jsonValue = fc.oneof(
  fc.jsonValue({ maxDepth: 8, stringUnit: trickyUnit }),
  fc.jsonValue({ maxDepth: 30, depthSize: "large" }),
);
// The same value written compactly or with indentation (whitespace between every token).
const jsonText = fc
  .tuple(jsonValue, fc.constantFrom(undefined, 1, 2, "\t"))
  .map(([value, indent]) => JSON.stringify(value, null, indent));

/** The bytes of `text` cut into chunks at the given points. */
function chunked(text: string, cuts: number[]): Buffer[] {
  const bytes = Buffer.from(text, "utf8");
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  return out;
}

test("the scan measures depth, width and values exactly as the parsed value has them", () => {
  fc.assert(
    fc.property(jsonText, fc.array(fc.nat(), { maxLength: 8 }), (text, cuts) => {
      const expected = measureJson(JSON.parse(text));
      const whole = new JsonScanner();
      assert.equal(whole.write(Buffer.from(text, "utf8")), undefined);
      assert.deepEqual(whole.shape, expected);
      // Cut anywhere (inside a string, an escape, a multi-byte character): the same result.
      const parts = new JsonScanner();
      for (const chunk of chunked(text, cuts)) parts.write(chunk);
      assert.deepEqual(parts.shape, expected);
    }),
    { numRuns: 500 },
  );
});

test("a text within its limits passes, and one below any measure is refused for that limit", () => {
  fc.assert(
    fc.property(jsonText, (text) => {
      const shape = measureJson(JSON.parse(text));
      assert.equal(scanJson(text, shape), undefined);
      if (shape.depth > 0) assert.equal(scanJson(text, { ...NO_LIMITS, depth: shape.depth - 1 }), "depth");
      if (shape.width > 0) assert.equal(scanJson(text, { ...NO_LIMITS, width: shape.width - 1 }), "width");
      assert.equal(scanJson(text, { ...NO_LIMITS, values: shape.values - 1 }), "values");
    }),
    { numRuns: 300 },
  );
});

test("the depth refusal agrees with depthExceeds on the parsed value, at every limit", () => {
  fc.assert(
    fc.property(jsonText, fc.integer({ min: 1, max: 40 }), (text, limit) => {
      const refused = scanJson(text, { ...NO_LIMITS, depth: limit }) === "depth";
      assert.equal(refused, depthExceeds(JSON.parse(text), limit));
    }),
    { numRuns: 300 },
  );
});

test("any bytes at all: the scan returns, never throws, and a refusal sticks", () => {
  const limits = { depth: 8, width: 16, values: 64 };
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.string({ unit: trickyUnit }).map((s) => Buffer.from(s)),
        ),
        { maxLength: 6 },
      ),
      (chunks) => {
        const scanner = new JsonScanner(limits);
        let first: string | undefined;
        for (const chunk of chunks) {
          const excess = scanner.write(chunk);
          if (first !== undefined) assert.equal(excess, first, "a refusal never changes");
          first ??= excess;
        }
        const { depth, width, values } = scanner.shape;
        assert.ok(depth <= limits.depth + 1 && width <= limits.width + 1 && values <= limits.values + 1);
      },
    ),
    { numRuns: 500 },
  );
});

test("two million nested brackets are refused at the first byte past the depth limit", () => {
  const body = Buffer.from(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":${"[".repeat(2_000_000)}`);
  const scanner = new JsonScanner({ depth: 64, width: 10_000, values: 100_000 });
  assert.equal(scanner.write(body), "depth");
  assert.equal(scanner.shape.depth, 65, "it stopped there, without reading the rest");
});

test("brackets inside strings, and escaped quotes, are not structure", () => {
  const limits = { depth: 2, width: 2, values: 4 };
  assert.equal(scanJson(JSON.stringify({ a: "[[[[{{{{,,,,".repeat(1000) }), limits), undefined);
  assert.equal(scanJson('{"a":"\\"[[[[[[\\\\"}', limits), undefined);
  // An escaped backslash before the quote: the string ends there, and what follows is structure.
  assert.equal(scanJson('["\\\\",[[[]]]]', limits), "depth");
  assert.equal(scanJson("[1,2,3]", limits), "width");
  assert.equal(scanJson('{"a":1,"b":2,"c":3}', limits), "width");
  assert.equal(scanJson("[[1,2],[3]]", limits), "values");
});

/** A JSON-RPC notification line carrying `value`. */
const line = (value: unknown) => `${JSON.stringify({ jsonrpc: "2.0", method: "m", params: { value } })}\n`;

test("stdio lines: a line past a limit is dropped whole, the lines around it come through", () => {
  const limits = { depth: 6, width: 50, values: 500 };
  const good = fc.jsonValue({ maxDepth: 3, stringUnit: trickyUnit }).filter((v) => {
    const s = measureJson({ jsonrpc: "2.0", method: "m", params: { value: v } });
    return s.depth <= limits.depth && s.width <= limits.width && s.values <= limits.values;
  });
  const bad = fc.oneof(
    fc.integer({ min: 7, max: 5000 }).map((n) => `${"[".repeat(n)}\n`),
    fc.constant(`${JSON.stringify({ a: Array.from({ length: 60 }, (_, i) => i) })}\n`),
  );
  const stream = fc.array(
    fc.oneof(
      good.map((v) => ({ ok: true as const, text: line(v), value: v })),
      bad.map((text) => ({ ok: false as const, text, value: undefined })),
    ),
    { maxLength: 8 },
  );
  fc.assert(
    fc.property(stream, fc.array(fc.nat(), { maxLength: 10 }), (lines, cuts) => {
      const refusals: string[] = [];
      const buffer = new ScanningReadBuffer(limits, (excess) => refusals.push(excess));
      const received: unknown[] = [];
      // As the SDK does: append a chunk, then read every complete message.
      for (const chunk of chunked(lines.map((l) => l.text).join(""), cuts)) {
        buffer.append(chunk);
        for (let m = buffer.readMessage(); m !== null; m = buffer.readMessage()) {
          received.push((m as unknown as { params: { value: unknown } }).params.value);
        }
      }
      const expected = lines.filter((l) => l.ok).map((l) => JSON.parse(JSON.stringify(l.value)) as unknown);
      assert.deepEqual(received, expected);
      assert.equal(refusals.length, lines.filter((l) => !l.ok).length);
    }),
    { numRuns: 300 },
  );
});

test("stdio lines: a refusal callback that throws ends the stream before the line is parsed", () => {
  const buffer = new ScanningReadBuffer({ depth: 4, width: 10, values: 100 }, (excess) => {
    throw new Error(`past ${excess}`);
  });
  assert.throws(() => buffer.append(Buffer.from(`${"[".repeat(100)}\n`)), /past depth/);
  assert.equal(buffer.readMessage(), null, "nothing of it is left to parse");
});

test("the SDK's stdio transports still have the read buffer the scan replaces", async () => {
  const { StdioServerTransport } = await import("@modelcontextprotocol/sdk/server/stdio.js");
  const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
  const refuse = () => {};
  const limits = { depth: 4, width: 4, values: 4 };
  for (const transport of [new StdioServerTransport(), new StdioClientTransport({ command: "true" })]) {
    const buffer = new ScanningReadBuffer(limits, refuse);
    scanStdioInput(transport, buffer);
    assert.equal((transport as unknown as { _readBuffer: unknown })._readBuffer, buffer);
  }
  assert.throws(() => scanStdioInput({}, new ScanningReadBuffer(limits, refuse)), /no read buffer/);
  // readMessage's fast path reads the SDK's own field for the bytes appended.
  const buffer = new ScanningReadBuffer(limits, refuse);
  buffer.append(Buffer.from('{"jsonrpc":"2.0","id":1'));
  assert.ok(
    Buffer.isBuffer((buffer as unknown as { _buffer?: unknown })._buffer),
    "the SDK keeps its bytes in _buffer",
  );
});

test("the top-level id of a message is found in its bytes, wherever it sits and however it is cut", () => {
  const id = fc.oneof(fc.string({ unit: trickyUnit, maxLength: 40 }), fc.maxSafeInteger(), fc.integer());
  const members = fc.dictionary(
    fc.string({ unit: trickyUnit, maxLength: 6 }).filter((k) => k !== "id"),
    fc.jsonValue({ maxDepth: 4, stringUnit: trickyUnit }),
    { maxKeys: 5 },
  );
  fc.assert(
    fc.property(
      id,
      members,
      fc.nat({ max: 5 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (value, rest, at, cuts) => {
        const entries = Object.entries(rest);
        entries.splice(Math.min(at, entries.length), 0, ["id", value]);
        const text = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`;
        const finder = new MessageIdFinder();
        for (const chunk of chunked(text, cuts)) finder.write(chunk);
        assert.equal(finder.id, value);
        // Without an id member, none is found.
        const none = new MessageIdFinder();
        none.write(Buffer.from(JSON.stringify(rest)));
        assert.equal(none.id, undefined);
      },
    ),
    { numRuns: 500 },
  );
  const finder = new MessageIdFinder();
  finder.write(Buffer.from('[{"jsonrpc":"2.0","id":1,"method":"m"}]'));
  assert.equal(finder.id, undefined, "a batch has no single id");
  finder.reset();
  finder.write(Buffer.from('{"params":{"id":7},"id":{"x":1}}'));
  assert.equal(finder.id, undefined, "a nested id, or an object, is not the message's id");
});

test("stdio lines: a refused request is reported with its id once its line has ended", () => {
  const dropped: Array<[string, unknown]> = [];
  const buffer = new ScanningReadBuffer(
    { depth: 4, width: 10, values: 100 },
    () => {},
    (excess, id) => dropped.push([excess, id]),
  );
  const line = `{"jsonrpc":"2.0","id":"call-9","method":"tools/call","params":{"a":${"[".repeat(5000)}${"]".repeat(5000)}}}\n`;
  const bytes = Buffer.from(line);
  buffer.append(bytes.subarray(0, 100));
  assert.deepEqual(dropped, [], "not before the line has ended");
  buffer.append(bytes.subarray(100));
  assert.deepEqual(dropped, [["depth", "call-9"]]);
  assert.equal(buffer.readMessage(), null);
});

test("stdio lines: a response reads exactly as the SDK's own parse reads it, fast path or not", async () => {
  const { JSONRPCMessageSchema } = await import("@modelcontextprotocol/sdk/types.js");
  const none = { depth: 1000, width: 100000, values: 1000000 };
  const member = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constantFrom(undefined, null, [], {}, "2.0", 1.5, -0, 2 ** 53, "x", { _meta: { progressToken: {} } }),
  );
  const response = fc.record(
    {
      jsonrpc: fc.oneof(fc.constant("2.0"), member),
      id: fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), member),
      result: fc.oneof(
        fc.dictionary(fc.constantFrom("content", "isError", "_meta", "__proto__", "x"), member, {
          maxKeys: 3,
        }),
        member,
      ),
      error: member,
      extra: member,
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(response, (value) => {
      const text = JSON.stringify(value);
      if (text === undefined) return;
      const buffer = new ScanningReadBuffer(none, () => {});
      buffer.append(Buffer.from(`${text}\r\n`));
      let ours: unknown;
      let theirs: unknown;
      try {
        ours = buffer.readMessage();
      } catch {
        ours = "rejected";
      }
      try {
        theirs = JSONRPCMessageSchema.parse(JSON.parse(text));
      } catch {
        theirs = "rejected";
      }
      assert.deepEqual(ours, theirs);
    }),
    { numRuns: 2000 },
  );
});
