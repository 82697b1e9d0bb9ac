// The aggregate endpoint (/mcp) and the per-server endpoints (/servers/<name>/mcp) in front of two
// real npm servers over stdio: capabilities, tools, resources, prompts and completion.
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connectClient, mcpError, reasonOf, textOf, type ConnectedClient } from "../helpers/client.js";
import { everythingStdio, filesystemStdio, gatewayConfig, READ_ONLY_FILE_TOOLS } from "../helpers/configs.js";
import { makeTempDir, startGateway, type Gateway } from "../helpers/gateway.js";
import { raw, mcpHeaders, initializeRequest } from "../helpers/http.js";

const FEATURES_DOC = "demo://resource/static/document/features.md";
const TEXT_TEMPLATE = "demo://resource/dynamic/text/{resourceId}";

describe("aggregate and per-server endpoints", () => {
  let gw: Gateway;
  let agg: ConnectedClient;
  let filesDir: string;
  const clients: ConnectedClient[] = [];

  before(async () => {
    filesDir = makeTempDir("warden-files-");
    writeFileSync(join(filesDir, "hello.txt"), "hello from the filesystem server\n");
    gw = await startGateway(
      gatewayConfig([everythingStdio(), filesystemStdio(filesDir)], {
        anonymous: ["demo:use", "files:read"],
      }),
    );
    agg = await connectClient(gw.mcpUrl);
    clients.push(agg);
  });

  after(async () => {
    for (const c of clients) await c.close();
    await gw?.stop();
  });

  async function connect(url: string) {
    const c = await connectClient(url);
    clients.push(c);
    return c;
  }

  describe("initialize", () => {
    test("the aggregate endpoint merges the upstreams' capabilities", () => {
      const caps = agg.client.getServerCapabilities();
      assert.ok(caps, "no server capabilities");
      assert.ok(caps.tools, "tools capability missing");
      assert.ok(caps.prompts, "prompts capability missing (server-everything has prompts)");
      assert.ok(caps.resources, "resources capability missing (server-everything has resources)");
      assert.equal(caps.resources.subscribe, true, "server-everything supports resource subscriptions");
      assert.ok(caps.logging, "logging capability missing (server-everything logs)");
      assert.ok(caps.completions, "completions capability missing (server-everything completes)");
      assert.ok(agg.client.getServerVersion()?.name, "serverInfo.name missing");
    });

    test("a per-server endpoint reports that server's own capabilities", async () => {
      const files = await connect(gw.serverUrl("files"));
      const caps = files.client.getServerCapabilities();
      assert.ok(caps?.tools, "tools capability missing on /servers/files/mcp");
      const everything = await connect(gw.serverUrl("everything"));
      const ecaps = everything.client.getServerCapabilities();
      assert.ok(ecaps?.prompts && ecaps.resources && ecaps.tools, JSON.stringify(ecaps));
    });

    test("an unknown server's endpoint is 404", async () => {
      const res = await raw(gw.serverUrl("no-such-server"), {
        headers: mcpHeaders(),
        body: JSON.stringify(initializeRequest()),
      });
      assert.equal(res.status, 404);
    });
  });

  describe("tools", () => {
    test("aggregate tools/list names every tool <server>__<tool>, with schemas intact", async () => {
      const { tools } = await agg.client.listTools();
      const names = tools.map((t) => t.name);
      for (const n of [
        "everything__echo",
        "everything__get-sum",
        "files__read_text_file",
        "files__list_directory",
      ]) {
        assert.ok(names.includes(n), `${n} missing from ${names.join(", ")}`);
      }
      for (const n of names) assert.match(n, /^(everything|files)__./);
      const echo = tools.find((t) => t.name === "everything__echo");
      assert.ok(echo?.inputSchema.properties && "message" in echo.inputSchema.properties, "echo schema lost");
      assert.equal(echo?.description, "Echoes back the input string");
    });

    test("tools with no mapping are hidden from tools/list", async () => {
      const names = (await agg.client.listTools()).tools.map((t) => t.name);
      const files = names.filter((n) => n.startsWith("files__")).map((n) => n.slice("files__".length));
      assert.deepEqual(
        files.sort(),
        [...READ_ONLY_FILE_TOOLS].sort(),
        "only the mapped filesystem tools are listed",
      );
      for (const hidden of ["write_file", "edit_file", "move_file", "create_directory", "read_media_file"]) {
        assert.ok(!names.includes(`files__${hidden}`), `files__${hidden} must be hidden`);
      }
    });

    test("per-server tools/list uses the original names and the same filter", async () => {
      const files = await connect(gw.serverUrl("files"));
      const names = (await files.client.listTools()).tools.map((t) => t.name);
      assert.deepEqual(names.sort(), [...READ_ONLY_FILE_TOOLS].sort());
    });

    test("tools/call through the aggregate endpoint", async () => {
      assert.equal(
        textOf(await agg.client.callTool({ name: "everything__echo", arguments: { message: "hi" } })),
        "Echo: hi",
      );
      const sum = await agg.client.callTool({ name: "everything__get-sum", arguments: { a: 2, b: 40 } });
      assert.match(textOf(sum), /is 42\./);
      const file = await agg.client.callTool({
        name: "files__read_text_file",
        arguments: { path: join(filesDir, "hello.txt") },
      });
      assert.equal(file.isError ?? false, false, textOf(file));
      assert.match(textOf(file), /hello from the filesystem server/);
    });

    test("tools/call through a per-server endpoint", async () => {
      const everything = await connect(gw.serverUrl("everything"));
      assert.equal(
        textOf(await everything.client.callTool({ name: "echo", arguments: { message: "direct" } })),
        "Echo: direct",
      );
      const files = await connect(gw.serverUrl("files"));
      const listing = await files.client.callTool({ name: "list_directory", arguments: { path: filesDir } });
      assert.match(textOf(listing), /hello\.txt/);
    });

    test("an unmapped tool is denied with -32001 tool_not_mapped and never reaches the server", async () => {
      const target = join(filesDir, "written-by-a-denied-call.txt");
      const err = await mcpError(() =>
        agg.client.callTool({ name: "files__write_file", arguments: { path: target, content: "pwned" } }),
      );
      assert.equal(err.code, -32001);
      assert.equal(reasonOf(err), "tool_not_mapped");
      assert.equal(existsSync(target), false, "the filesystem server wrote the file: the call was forwarded");

      const files = await connect(gw.serverUrl("files"));
      const err2 = await mcpError(() =>
        files.client.callTool({ name: "write_file", arguments: { path: target, content: "pwned" } }),
      );
      assert.equal(err2.code, -32001);
      assert.equal(reasonOf(err2), "tool_not_mapped");
      assert.equal(existsSync(target), false, "the filesystem server wrote the file: the call was forwarded");
    });
  });

  describe("resources", () => {
    test("resources/list keeps the upstream URIs", async () => {
      const { resources } = await agg.client.listResources();
      const uris = resources.map((r) => r.uri);
      assert.ok(uris.includes(FEATURES_DOC), `${FEATURES_DOC} missing from ${uris.join(", ")}`);
    });

    test("resources/templates/list keeps the upstream templates", async () => {
      const { resourceTemplates } = await agg.client.listResourceTemplates();
      const templates = resourceTemplates.map((t) => t.uriTemplate);
      assert.ok(templates.includes(TEXT_TEMPLATE), `${TEXT_TEMPLATE} missing from ${templates.join(", ")}`);
    });

    test("resources/read is routed to the server that owns the URI", async () => {
      const doc = await agg.client.readResource({ uri: FEATURES_DOC });
      assert.equal(doc.contents[0]?.uri, FEATURES_DOC);
      assert.ok("text" in doc.contents[0]! && String(doc.contents[0].text).length > 0);

      const dyn = await agg.client.readResource({ uri: "demo://resource/dynamic/text/7" });
      assert.ok("text" in dyn.contents[0]!);
      assert.match(String(dyn.contents[0].text), /^Resource 7: /);
    });

    test("resources/read through the per-server endpoint", async () => {
      const everything = await connect(gw.serverUrl("everything"));
      const dyn = await everything.client.readResource({ uri: "demo://resource/dynamic/blob/3" });
      assert.ok("blob" in dyn.contents[0]!);
      assert.match(Buffer.from(String(dyn.contents[0].blob), "base64").toString(), /^Resource 3: /);
    });

    test("resources/subscribe and unsubscribe are answered", async () => {
      assert.deepEqual(await agg.client.subscribeResource({ uri: FEATURES_DOC }), {});
      assert.deepEqual(await agg.client.unsubscribeResource({ uri: FEATURES_DOC }), {});
    });
  });

  describe("prompts", () => {
    test("prompts/list names every prompt <server>__<prompt>", async () => {
      const names = (await agg.client.listPrompts()).prompts.map((p) => p.name);
      for (const n of [
        "everything__simple-prompt",
        "everything__args-prompt",
        "everything__completable-prompt",
      ]) {
        assert.ok(names.includes(n), `${n} missing from ${names.join(", ")}`);
      }
      for (const n of names) assert.match(n, /^everything__./);
    });

    test("prompts/get with arguments, through the aggregate endpoint", async () => {
      const p = await agg.client.getPrompt({
        name: "everything__args-prompt",
        arguments: { city: "Paris", state: "TX" },
      });
      const m = p.messages[0]?.content;
      assert.equal(m?.type, "text");
      assert.equal(m.type === "text" && m.text, "What's weather in Paris, TX?");
    });

    test("prompts/get through the per-server endpoint", async () => {
      const everything = await connect(gw.serverUrl("everything"));
      const names = (await everything.client.listPrompts()).prompts.map((p) => p.name);
      assert.ok(names.includes("simple-prompt"), names.join(", "));
      const p = await everything.client.getPrompt({ name: "simple-prompt" });
      const m = p.messages[0]?.content;
      assert.equal(m?.type === "text" && m.text, "This is a simple prompt without arguments.");
    });
  });

  describe("completion", () => {
    test("completion/complete for a prompt argument", async () => {
      const r = await agg.client.complete({
        ref: { type: "ref/prompt", name: "everything__completable-prompt" },
        argument: { name: "department", value: "En" },
      });
      assert.deepEqual(r.completion.values, ["Engineering"]);
    });

    test("completion/complete passes the context arguments", async () => {
      const r = await agg.client.complete({
        ref: { type: "ref/prompt", name: "everything__completable-prompt" },
        argument: { name: "name", value: "" },
        context: { arguments: { department: "Sales" } },
      });
      assert.deepEqual(r.completion.values, ["David", "Eve", "Frank"]);
    });

    test("completion/complete for a resource template is routed by URI", async () => {
      const r = await agg.client.complete({
        ref: { type: "ref/resource", uri: TEXT_TEMPLATE },
        argument: { name: "resourceId", value: "5" },
      });
      assert.deepEqual(r.completion.values, ["5"]);
    });

    test("completion/complete through the per-server endpoint uses the original prompt name", async () => {
      const everything = await connect(gw.serverUrl("everything"));
      const r = await everything.client.complete({
        ref: { type: "ref/prompt", name: "completable-prompt" },
        argument: { name: "department", value: "S" },
      });
      assert.deepEqual(r.completion.values, ["Sales", "Support"]);
    });
  });
});
