// Held-out attacks, issue 14 §5 (resource patterns see the URI the upstream will see): spellings
// not in test/attacks/uri-normalisation.test.ts, and a generated family.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { makeTempDir, startGateway, type Gateway } from "../test/helpers/gateway.js";
import {
  attackFixture,
  errorFor,
  openSession,
  readJsonl,
  resultFor,
  type AttackSession,
  type HttpResult,
} from "../test/attacks/fixtures/attack-lib.js";

const PRIVATE = /PRIVATE-(FILE|HTTPS|NOTE)-/;
/** Where the upstream keeps the private documents, after its own normalisation. */
const PRIVATE_TARGET =
  /^(file:\/\/\/srv\/private\/|https:\/\/docs\.example\.org\/private\/|note:\/\/store\/private\/)/;

/** Where the fixture upstream would look: the same normalisation it applies. */
function upstreamTarget(uri: string): string | undefined {
  try {
    const u = new URL(uri);
    if (u.protocol === "file:") return fileURLToPath(u);
    return `${u.protocol}//${u.host}${decodeURIComponent(u.pathname)}`;
  } catch {
    return undefined;
  }
}

describe("held-out URI normalisation", () => {
  let gw: Gateway;
  let recordFile: string;
  let session: AttackSession;
  let id = 5000;

  before(async () => {
    recordFile = join(makeTempDir("warden-ho-uri-"), "docs.jsonl");
    gw = await startGateway({
      gateway: { listen: "127.0.0.1:0" },
      auth: { anonymous: ["docs:use"] },
      servers: [
        {
          name: "docs",
          command: process.execPath,
          args: [attackFixture("uri-server.mjs")],
          env: { RECORD_FILE: recordFile },
          tools: { "*": ["docs:use"] },
          resources: {
            "file:///srv/public/*": [],
            "file:///srv/private/*": ["docs:secret"],
            "https://docs.example.org/public/*": [],
            "note://store/public/*": [],
          },
        },
      ],
    });
    session = await openSession(gw.serverUrl("docs"));
    const res = await session.post({
      jsonrpc: "2.0",
      id: 1,
      method: "resources/read",
      params: { uri: "note://store/public/a" },
    });
    const result = resultFor(res, 1) as { contents?: { text?: string }[] } | undefined;
    assert.equal(
      result?.contents?.[0]?.text,
      "public note",
      `control read failed: ${res.text.slice(0, 300)}`,
    );
  });

  after(async () => {
    await gw?.stop();
  });

  async function send(method: string, uri: string): Promise<{ res: HttpResult; callId: number }> {
    const callId = ++id;
    return { res: await session.post({ jsonrpc: "2.0", id: callId, method, params: { uri } }), callId };
  }

  function upstreamAskedForPrivate() {
    return readJsonl(recordFile).filter((e) =>
      PRIVATE_TARGET.test(String((e.args as { resolved?: string } | undefined)?.resolved ?? "")),
    );
  }

  async function expectRefused(uri: string, method = "resources/read") {
    const { res, callId } = await send(method, uri);
    assert.doesNotMatch(res.text, PRIVATE, `${JSON.stringify(uri)}: private content came back`);
    const err = errorFor(res, callId);
    assert.ok(
      res.status === 401 || res.status === 403 || (err && [-32001, -32600, -32602].includes(err.code)),
      `${JSON.stringify(uri)}: expected a refusal, got ${res.status} ${res.text.slice(0, 300)}`,
    );
    const saw = readJsonl(recordFile).filter((e) => (e.args as { uri?: string } | undefined)?.uri === uri);
    assert.deepEqual(saw, [], `${JSON.stringify(uri)}: the upstream received it`);
    assert.deepEqual(upstreamAskedForPrivate(), [], "the upstream was asked for a private document");
  }

  test("mixed encoded and literal dots, several levels", async () => {
    await expectRefused("file:///srv/public/%2e./private/secret.txt");
    await expectRefused("file:///srv/public/a/b/%2E%2e/%2e%2E/../private/secret.txt");
    await expectRefused("file:///srv/public/%2e/%2e%2e/private/secret.txt");
  });

  test("tab and newline inside a dot segment (WHATWG URL drops them)", async () => {
    await expectRefused("file:///srv/public/.\t./private/secret.txt");
    await expectRefused("file:///srv/public/.\n./private/secret.txt");
    await expectRefused("file:///srv/public/..\r/private/secret.txt");
  });

  test("authority and scheme spellings", async () => {
    await expectRefused("file://localhost/srv/public/../private/secret.txt");
    await expectRefused("FILE:///srv/public/../private/secret.txt");
    await expectRefused("File:///srv/public/%2e%2e/private/secret.txt");
    await expectRefused("  file:///srv/public/../private/secret.txt");
  });

  test("backslashes with encoded dots, in file and https URIs", async () => {
    await expectRefused("file:///srv/public\\%2e%2e\\private\\secret.txt");
    await expectRefused("https://docs.example.org/public\\..\\private/payroll.html");
    await expectRefused("https://docs.example.org/public/%2e%2e/private/payroll.html");
    await expectRefused("https://DOCS.example.org/public/./../private/payroll.html");
  });

  test("custom scheme with encoded dots, read and subscribe", async () => {
    await expectRefused("note://store/public/%2e%2e/private/b");
    await expectRefused("note://store/public/.%2e/private/b");
    await expectRefused("note://store/public/%2E./private/b", "resources/subscribe");
  });

  test("double encoding and full-width dots never reach a private document", async () => {
    const uris = [
      "file:///srv/public/%252e%252e/private/secret.txt",
      "file:///srv/public/％２ｅ％２ｅ/private/secret.txt",
      "file:///srv/public/．．/private/secret.txt",
    ];
    for (const uri of uris) {
      const { res } = await send("resources/read", uri);
      assert.doesNotMatch(res.text, PRIVATE, `${uri}: private content came back`);
    }
    const mine = upstreamAskedForPrivate().filter((e) =>
      uris.includes(String((e.args as { uri?: string }).uri)),
    );
    assert.deepEqual(mine, []);
  });

  test("property: a generated path under public/ that the upstream resolves elsewhere is refused", async () => {
    const segment = fc.constantFrom(
      "..",
      ".",
      "%2e%2e",
      "%2E%2e",
      ".%2e",
      "%2e",
      "a",
      "bb",
      "public",
      "private",
      "",
    );
    const sep = fc.constantFrom("/", "/", "/", "\\");
    const path = fc.array(fc.tuple(segment, sep), { minLength: 1, maxLength: 6 });
    await fc.assert(
      fc.asyncProperty(path, async (parts) => {
        const tail = parts.map(([s, p]) => s + p).join("");
        const uri = `file:///srv/public/${tail}secret.txt`;
        const target = upstreamTarget(uri);
        const { res, callId } = await send("resources/read", uri);
        assert.doesNotMatch(res.text, PRIVATE, `${uri}: private content came back`);
        if (target !== undefined && target.startsWith("/srv/private/")) {
          const err = errorFor(res, callId);
          assert.ok(
            res.status === 401 || res.status === 403 || (err && [-32001, -32600, -32602].includes(err.code)),
            `${uri} (the upstream reads ${target}): expected a refusal, got ${res.status} ${res.text.slice(0, 200)}`,
          );
          const saw = readJsonl(recordFile).filter(
            (e) => (e.args as { uri?: string } | undefined)?.uri === uri,
          );
          assert.deepEqual(saw, [], `${uri}: the upstream received it`);
        }
      }),
      { numRuns: 150, seed: 1414 },
    );
    assert.deepEqual(upstreamAskedForPrivate(), []);
  });
});

describe("held-out URI normalisation: a catch-all pattern after the private one", () => {
  let gw: Gateway;
  let recordFile: string;
  let session: AttackSession;
  let id = 9000;

  before(async () => {
    recordFile = join(makeTempDir("warden-ho-uri2-"), "docs.jsonl");
    gw = await startGateway({
      gateway: { listen: "127.0.0.1:0" },
      auth: { anonymous: ["docs:use"] },
      servers: [
        {
          name: "docs",
          command: process.execPath,
          args: [attackFixture("uri-server.mjs")],
          env: { RECORD_FILE: recordFile },
          tools: { "*": ["docs:use"] },
          // Order matters: the private patterns first, then everything else under the roots for free.
          resources: {
            "file:///srv/private/*": ["docs:secret"],
            "https://docs.example.org/private/*": ["docs:secret"],
            "note://store/private/*": ["docs:secret"],
            "file:///srv/*": [],
            "https://docs.example.org/*": [],
            "note://store/*": [],
          },
        },
      ],
    });
    session = await openSession(gw.serverUrl("docs"));
  });

  after(async () => {
    await gw?.stop();
  });

  async function expectNoPrivate(uri: string, method = "resources/read") {
    const callId = ++id;
    const res = await session.post({ jsonrpc: "2.0", id: callId, method, params: { uri } });
    assert.doesNotMatch(res.text, PRIVATE, `${JSON.stringify(uri)}: private content came back`);
    const asked = readJsonl(recordFile).filter(
      (e) =>
        (e.args as { uri?: string } | undefined)?.uri === uri &&
        PRIVATE_TARGET.test(String((e.args as { resolved?: string }).resolved ?? "")),
    );
    assert.deepEqual(asked, [], `${JSON.stringify(uri)}: the upstream was asked for a private document`);
  }

  test("control: the catch-all serves a public document", async () => {
    const res = await session.post({
      jsonrpc: "2.0",
      id: 1,
      method: "resources/read",
      params: { uri: "file:///srv/public/readme.txt" },
    });
    assert.match(res.text, /public readme/);
  });

  test("percent-encoded letters of the private segment", async () => {
    await expectNoPrivate("file:///srv/%70rivate/secret.txt");
    await expectNoPrivate("file:///srv/priv%61te/secret.txt");
    await expectNoPrivate("https://docs.example.org/%70riv%61te/payroll.html");
    await expectNoPrivate("note://store/%70rivate/b");
  });

  test("a backslash instead of the slash after the private segment (no dot segment at all)", async () => {
    await expectNoPrivate("file:///srv/private\\secret.txt");
    await expectNoPrivate("file:///srv\\private\\secret.txt");
    await expectNoPrivate("https://docs.example.org/private\\payroll.html");
    await expectNoPrivate("https://docs.example.org\\private\\payroll.html");
  });

  test("tab or newline inside the private segment", async () => {
    await expectNoPrivate("file:///srv/pri\tvate/secret.txt");
    await expectNoPrivate("https://docs.example.org/pri\nvate/payroll.html");
  });

  test("host and port spellings of the https scheme", async () => {
    await expectNoPrivate("https://DOCS.example.org/private/payroll.html");
    await expectNoPrivate("https://docs.example.org:443/private/payroll.html");
    await expectNoPrivate("https://docs.example.org./private/payroll.html");
    await expectNoPrivate("https://user@docs.example.org/private/payroll.html");
  });

  test("subscribe and completion are judged the same way", async () => {
    await expectNoPrivate("file:///srv/private\\secret.txt", "resources/subscribe");
    const res = await session.post({
      jsonrpc: "2.0",
      id: ++id,
      method: "completion/complete",
      params: {
        ref: { type: "ref/resource", uri: "file:///srv/public/../private/{x}" },
        argument: { name: "x", value: "s" },
      },
    });
    assert.ok(
      res.status === 403 || errorFor(res)?.code === -32001,
      `completion on a walked-out template must be refused by the gateway: ${res.status} ${res.text.slice(0, 200)}`,
    );
  });
});
