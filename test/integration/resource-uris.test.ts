// Resource scope patterns decide on the URI the upstream will resolve: a caller allowed only
// `file:///srv/public/*` never reads /srv/private through dot segments in any spelling, and the
// refused URI never reaches the (careless, decode-everything) upstream.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connectClient, mcpError, reasonOf, type ConnectedClient } from "../helpers/client.js";
import { gatewayConfig } from "../helpers/configs.js";
import { fixture, makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";

const SECRET = "private-4f1c9e-the-upstream-served-it";

describe("resource URIs are normalised before scope patterns match", () => {
  let gw: Gateway;
  let c: ConnectedClient;
  let records: string;

  before(async () => {
    records = join(makeTempDir("warden-uris-"), "reads.jsonl");
    gw = await startGateway(
      gatewayConfig(
        [
          {
            name: "files",
            command: process.execPath,
            args: [fixture("file-resources-server.mjs")],
            env: { RECORD_FILE: records },
            tools: { "*": ["demo:use"] },
            // The private folder first, then a catch-all that needs less: a spelling that misses the
            // first pattern must not land in the private folder upstream.
            resources: {
              "file:///srv/private/*": ["files:admin"],
              "file:///srv/public/*": ["demo:use"],
              "file:///srv/*": ["demo:use"],
            },
          },
        ],
        { anonymous: ["demo:use"] },
      ),
    );
    c = await connectClient(gw.serverUrl("files"));
  });

  after(async () => {
    await c?.close();
    await gw?.stop();
  });

  const reads = () =>
    existsSync(records)
      ? readFileSync(records, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => (JSON.parse(l) as { uri: string }).uri)
      : [];

  test("a public file reads, in any equivalent spelling", async () => {
    for (const uri of [
      "file:///srv/public/readme.txt",
      "FILE:///srv/public/readme.txt",
      "file:///srv/%70ublic/readme.txt",
    ]) {
      const res = await c.client.readResource({ uri });
      assert.equal((res.contents[0] as { text?: string }).text, "public readme", uri);
    }
  });

  test("dot segments in every spelling: -32001 uri_not_canonical, the upstream never asked", async () => {
    const attacks = [
      "file:///srv/public/../private/secret.txt",
      "file:///srv/public/%2e%2e/private/secret.txt",
      "file:///srv/public/%2E%2E/private/secret.txt",
      "file:///srv/public/.%2e/private/secret.txt",
      "file:///srv/public/%252e%252e/private/secret.txt",
      "file:///srv/public/..%2fprivate/secret.txt",
      "file:///srv/public/..%5cprivate/secret.txt",
      "file:///srv/public\\..\\private\\secret.txt",
      "file:///srv/public/./../private/secret.txt",
      "file:///srv/public/x/../../private/secret.txt",
    ];
    const before = reads().length;
    for (const uri of attacks) {
      const err = await mcpError(() => c.client.readResource({ uri }));
      assert.equal(err.code, -32001, uri);
      assert.equal(reasonOf(err), "uri_not_canonical", uri);
      assert.ok(!JSON.stringify(err).includes(SECRET), uri);
    }
    assert.deepEqual(reads().slice(before), [], "a refused URI reached the upstream");
  });

  test("separators only some servers see: -32001 uri_not_canonical, the upstream never asked", async () => {
    const before = reads().length;
    for (const uri of [
      "file:///srv/private\\secret.txt",
      "file:///srv/private%5Csecret.txt",
      "file:///srv/private%2Fsecret.txt",
      "file:///srv/private%252fsecret.txt",
      "file:///srv/private\uff0fsecret.txt",
    ]) {
      const err = await mcpError(() => c.client.readResource({ uri }));
      assert.equal(err.code, -32001, uri);
      assert.equal(reasonOf(err), "uri_not_canonical", uri);
      assert.ok(!JSON.stringify(err).includes(SECRET), uri);
    }
    for (const uri of ["file:///srv/private\\secret.txt", "file:///srv/private%2Fsecret.txt"]) {
      const err = await mcpError(() => c.client.subscribeResource({ uri }));
      assert.equal(err.code, -32001, `subscribe ${uri}`);
    }
    assert.deepEqual(reads().slice(before), [], "a refused URI reached the upstream");
  });

  test("the private file itself still needs its own scope (and the case of the scheme changes nothing)", async () => {
    for (const uri of ["file:///srv/private/secret.txt", "File:///srv/private/secret.txt"]) {
      // Only a scope is missing: HTTP 403 step-up, carrying the -32001 refusal.
      const err = await c.client.readResource({ uri }).then(
        () => assert.fail(`${uri} was served`),
        (e: Error) => e,
      );
      assert.match(err.message, /"code":-32001.*"insufficient_scope".*files:admin/, uri);
      assert.ok(!err.message.includes(SECRET));
    }
    assert.ok(
      !reads().some((u) => u.toLowerCase().includes("private")),
      "the upstream was asked for /srv/private",
    );
  });

  test("the list shows only the public file", async () => {
    const uris = (await c.client.listResources()).resources.map((r) => r.uri);
    assert.deepEqual(uris, ["file:///srv/public/readme.txt"]);
  });

  test("each refusal is audited", async () => {
    const { spawnSync } = await import("node:child_process");
    const { CLI } = await import("../helpers/gateway.js");
    const out = spawnSync(process.execPath, [CLI, "audit", "query", "-c", gw.configFile, "--json"], {
      encoding: "utf8",
    });
    const refused = out.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { reason?: string; status?: string })
      .filter((e) => e.reason === "uri_not_canonical");
    assert.ok(refused.length >= 17, `audited ${refused.length} uri_not_canonical refusals`);
    assert.ok(refused.every((e) => e.status === "denied"));
  });
});
