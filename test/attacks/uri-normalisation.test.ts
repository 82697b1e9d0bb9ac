// Issue 14 §5: authorization sees what the upstream will see. Resource scope patterns
// (docs/authorization.md) must be matched on the URI in RFC 3986 normal form, and a URI that still
// holds a dot segment is refused: `file:///srv/public/../private/x` must not pass as public. The
// upstream here normalises like real servers (WHATWG URL, fileURLToPath) and would serve the
// private document; the gateway must refuse before it asks.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import {
  attackFixture,
  errorFor,
  openSession,
  readJsonl,
  resultFor,
  type AttackSession,
  type HttpResult,
} from "./fixtures/attack-lib.js";

const PRIVATE = /PRIVATE-(FILE|HTTPS|NOTE)-/;
/** Where the upstream keeps the private documents, after its own normalisation. */
const PRIVATE_TARGET =
  /^(file:\/\/\/srv\/private\/|https:\/\/docs\.example\.org\/private\/|note:\/\/store\/private\/)/;

describe("URI normalisation: resource patterns cannot be walked out of", () => {
  let gw: Gateway;
  let recordFile: string;
  let session: AttackSession;
  let id = 10;

  before(async () => {
    recordFile = join(makeTempDir("warden-uri-"), "docs.jsonl");
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
  });

  after(async () => {
    await gw?.stop();
  });

  async function request(method: string, uri: string): Promise<{ res: HttpResult; callId: number }> {
    const callId = ++id;
    const res = await session.post({ jsonrpc: "2.0", id: callId, method, params: { uri } });
    return { res, callId };
  }

  function upstreamSaw(uri: string) {
    return readJsonl(recordFile).filter((e) => (e.args as { uri?: string } | undefined)?.uri === uri);
  }

  async function expectRefused(uri: string, method = "resources/read") {
    const { res, callId } = await request(method, uri);
    assert.doesNotMatch(res.text, PRIVATE, `${JSON.stringify(uri)}: private content came back`);
    const err = errorFor(res, callId);
    const httpRefusal = res.status === 401 || res.status === 403;
    assert.ok(
      httpRefusal || (err && [-32001, -32600, -32602].includes(err.code)),
      `${JSON.stringify(uri)}: expected a refusal by the gateway, got ${res.status} ${res.text.slice(0, 300)}`,
    );
    assert.deepEqual(upstreamSaw(uri), [], `${JSON.stringify(uri)}: the upstream received the ${method}`);
    const leaked = readJsonl(recordFile).filter((e) =>
      PRIVATE_TARGET.test(String((e.args as { resolved?: string } | undefined)?.resolved ?? "")),
    );
    assert.deepEqual(leaked, [], `the upstream was asked for a private document`);
  }

  test("control: a public document is served", async () => {
    const { res, callId } = await request("resources/read", "file:///srv/public/readme.txt");
    const result = resultFor(res, callId) as { contents?: { text?: string }[] } | undefined;
    assert.equal(result?.contents?.[0]?.text, "public readme", res.text.slice(0, 300));
  });

  test("plain dot-dot segments", async () => {
    await expectRefused("file:///srv/public/../private/secret.txt");
    await expectRefused("file:///srv/public/sub/../../private/secret.txt");
  });

  test("percent-encoded dots, lower and upper case", async () => {
    await expectRefused("file:///srv/public/%2e%2e/private/secret.txt");
    await expectRefused("file:///srv/public/%2E%2E/private/secret.txt");
    await expectRefused("file:///srv/public/.%2e/private/secret.txt");
  });

  test("./.. and single-dot segments", async () => {
    await expectRefused("file:///srv/public/./../private/secret.txt");
    await expectRefused("file:///srv/public/././../private/secret.txt");
  });

  test("backslashes, which WHATWG URL reads as slashes in special schemes", async () => {
    await expectRefused("file:///srv/public\\..\\private\\secret.txt");
    await expectRefused("file:///srv/public/..\\private/secret.txt");
  });

  test("other schemes: https and a custom hierarchical scheme", async () => {
    await expectRefused("https://docs.example.org/public/../private/payroll.html");
    await expectRefused("note://store/public/../private/b");
  });

  test("resources/subscribe is judged on the same normal form", async () => {
    await expectRefused("file:///srv/public/../private/secret.txt", "resources/subscribe");
    await expectRefused("note://store/public/%2e%2e/private/b", "resources/subscribe");
  });

  test("property: every spelling of a walk out of public/ is refused", async () => {
    const dots = ["..", "%2e%2e", "%2E%2e", ".%2E", "%2e."];
    const prefixes = ["", "./", "x/../", "a/b/../../"];
    let n = 0;
    for (const d of dots) {
      for (const p of prefixes) {
        await expectRefused(`file:///srv/public/${p}${d}/private/secret.txt`);
        n++;
      }
    }
    assert.equal(n, dots.length * prefixes.length);
  });
});
