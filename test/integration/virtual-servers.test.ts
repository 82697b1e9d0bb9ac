// Virtual servers through the real gateway (docs/virtual-servers.md): a curated endpoint at
// /v/{name}/mcp renames and re-describes tools, fixes, defaults and hides arguments (the upstream
// sees the fixed value; a caller who sets one is refused and the upstream never sees the call),
// serves a poisoned upstream tool under its curated text while a change after pinning stays held,
// passes an upstream's list_changed on, and a `search: true` endpoint finds only what the caller
// may call and runs `call_tool` exactly as the direct call. Both protocol eras; one gateway.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { connectClient, mcpError, reasonOf, textOf, type ConnectedClient } from "../helpers/client.js";
import { changingStdio, gatewayConfig } from "../helpers/configs.js";
import { fixture, makeTempDir, runCli, startGateway, type Gateway } from "../helpers/gateway.js";
import { connectModern } from "../helpers/modern-client.js";
import { auditEvents, ran, rugPullStdio } from "../helpers/supply.js";
import { freePort } from "../helpers/upstreams.js";
import { modernStdio } from "../helpers/modern-server.js";

/**
 * A refusal's JSON-RPC code and reason, whether it came as a JSON-RPC error or as the HTTP 403
 * step-up that carries one (insufficient_scope).
 */
async function refusalOf(fn: () => Promise<unknown>): Promise<{ code: number; reason: unknown }> {
  try {
    await fn();
  } catch (err) {
    const e = err as { code?: number; data?: { reason?: unknown }; message?: string };
    const body = /\{"jsonrpc".*\}/.exec(e.message ?? "")?.[0];
    if (body) {
      const error = (JSON.parse(body) as { error: { code: number; data?: { reason?: unknown } } }).error;
      return { code: error.code, reason: error.data?.reason };
    }
    return { code: e.code as number, reason: e.data?.reason };
  }
  assert.fail("expected a refusal");
}

/** Every tools/call the curated fixture received, as its params. */
function upstreamCalls(recordFile: string): Array<{ name: string; arguments?: Record<string, unknown> }> {
  if (!existsSync(recordFile)) return [];
  return readFileSync(recordFile, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as { message: { method?: string; params?: Record<string, unknown> } })
    .filter((r) => r.message.method === "tools/call")
    .map((r) => r.message.params as { name: string; arguments?: Record<string, unknown> });
}

describe("virtual servers", () => {
  let gw: Gateway;
  let dir: string;
  let tracker: string;
  let rugPull: string;
  let rugPullSession: string;
  let team: ConnectedClient;

  before(async () => {
    dir = makeTempDir("warden-virtual-");
    tracker = join(dir, "tracker.jsonl");
    rugPull = join(dir, "rp.jsonl");
    rugPullSession = join(dir, "rps.jsonl");
    // A fixed port: a token's audience names the endpoint's URL.
    const port = await freePort();
    gw = await startGateway({
      ...gatewayConfig([
        {
          name: "tracker",
          command: process.execPath,
          args: [fixture("curated-server.mjs")],
          env: { RECORD_FILE: tracker },
          tools: {
            create_issue: ["demo:use"],
            search_issues: ["demo:use"],
            read_file: ["demo:use"],
            delete_repo: ["admin"],
          },
          allowed_paths: [dir],
        },
        // One process for every caller: a rug pull through one route changes what all see.
        { ...rugPullStdio("rp", rugPull, { POISONED: "1" }), isolation: "shared" },
        { ...changingStdio("changing"), isolation: "shared" },
        { ...modernStdio("modern"), isolation: "shared" },
        // One process per session (the default): a rug pull changes only its caller's process.
        rugPullStdio("rps", rugPullSession),
      ]),
      gateway: { listen: `127.0.0.1:${port}` },
      supply_chain: { tool_pinning: "enforce", poisoning: "block", new_tools: "trust" },
      virtual_servers: [
        {
          name: "team",
          tools: [
            {
              tool: "tracker/create_issue",
              name: "new_issue",
              title: "New web issue",
              description: "File a bug against the web app.",
              arguments: {
                fixed: { repo: "acme/web" },
                defaults: { labels: ["triage"] },
                hide: ["assignee"],
              },
              annotations: { destructiveHint: false },
            },
            { tool: "tracker/search_*" },
            { tool: "tracker/delete_repo" },
            { tool: "tracker/read_file", arguments: { defaults: { path: "/etc/shadow" } } },
            { tool: "rp/add", description: "Adds the numbers a and b.", arguments: { hide: ["note"] } },
            { tool: "rp/weather", name: "forecast" },
            { tool: "changing/add_*" },
          ],
          prompts: ["changing/base_*"],
          resources: ["changing"],
        },
        // What check cannot know offline: a glob that matches nothing, a fixed argument the tool lacks.
        {
          name: "broken",
          tools: [
            { tool: "tracker/nothing_*" },
            { tool: "tracker/search_issues", arguments: { fixed: { org: "acme" } } },
          ],
        },
        {
          name: "finder",
          search: true,
          tools: [{ tool: "tracker/*" }, { tool: "rp/weather" }, { tool: "modern/ask_name" }],
        },
        {
          name: "solo",
          search: true,
          tools: [{ tool: "rps/weather", name: "rps_forecast", description: "Today's weather." }],
        },
      ],
    });
    team = await connectClient(`${gw.url}/v/team/mcp`);
  });

  after(async () => {
    await team?.close();
    await gw?.stop();
  });

  test("lists the curated tools: renamed, re-described, fixed and hidden arguments gone, defaults shown", async () => {
    const { tools } = await team.client.listTools();
    const names = tools.map((t) => t.name).sort();
    // delete_repo needs a scope this caller lacks: never shown. The glob shows search_issues only.
    assert.deepEqual(names, [
      "add",
      "add_prompt",
      "add_resource",
      "add_tool",
      "forecast",
      "new_issue",
      "read_file",
      "search_issues",
    ]);
    const issue = tools.find((t) => t.name === "new_issue")!;
    assert.equal(issue.description, "File a bug against the web app.");
    assert.equal(issue.title, "New web issue");
    assert.equal(issue.annotations?.destructiveHint, false);
    const props = issue.inputSchema.properties as Record<string, { default?: unknown }>;
    assert.deepEqual(Object.keys(props).sort(), ["body", "labels", "title"]);
    assert.deepEqual(props.labels?.default, ["triage"]);
    assert.deepEqual(issue.inputSchema.required, ["title"]);
  });

  test("a call forwards the fixed value and the defaults; audit records both names", async () => {
    const r = await team.client.callTool({ name: "new_issue", arguments: { title: "broken" } });
    assert.match(textOf(r), /create_issue/);
    const sent = upstreamCalls(tracker).filter((c) => c.name === "create_issue");
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0]?.arguments, { repo: "acme/web", labels: ["triage"], title: "broken" });
    const events = await auditEvents(gw, "--event", "tool_call");
    const e = events.find((x) => x.tool === "create_issue");
    assert.ok(e, JSON.stringify(events));
    assert.equal(e.server, "tracker");
    assert.deepEqual((e.detail as { virtual?: unknown }).virtual, { server: "team", tool: "new_issue" });
  });

  test("a caller who sets a fixed or hidden argument is refused, and the upstream never sees it", async () => {
    const before = upstreamCalls(tracker).length;
    const fixed = await mcpError(() =>
      team.client.callTool({ name: "new_issue", arguments: { title: "x", repo: "evil/repo" } }),
    );
    assert.equal(fixed.code, -32001);
    assert.equal(reasonOf(fixed), "fixed_argument");
    assert.match(fixed.message, /repo is fixed/);
    const hidden = await mcpError(() =>
      team.client.callTool({ name: "new_issue", arguments: { title: "x", assignee: "mallory" } }),
    );
    assert.equal(hidden.code, -32001);
    assert.equal(reasonOf(hidden), "hidden_argument");
    assert.equal(upstreamCalls(tracker).length, before, "the upstream saw a refused call");
    const denied = await auditEvents(gw, "--event", "denied");
    assert.ok(denied.some((e) => e.reason === "fixed_argument" && e.tool === "create_issue"));
  });

  test("a fixed or hidden argument's look-alikes, unknown keys and a caller's own _meta never reach the upstream", async () => {
    const before = upstreamCalls(tracker).length;
    for (const [args, reason] of [
      [{ title: "x", Repo: "evil/repo" }, "fixed_argument"],
      [{ title: "x", ｒｅｐｏ: "evil/repo" }, "fixed_argument"],
      [{ title: "x", "re\u200bpo ": "evil/repo" }, "fixed_argument"],
      [{ title: "x", ASSIGNEE: "mallory" }, "hidden_argument"],
      [{ title: "x", options: { repo: "evil/repo" } }, "unknown_argument"],
    ] as const) {
      const err = await mcpError(() => team.client.callTool({ name: "new_issue", arguments: args }));
      assert.equal(err.code, -32001, JSON.stringify(args));
      assert.equal(reasonOf(err), reason, JSON.stringify(args));
    }
    const beside = await mcpError(() =>
      team.client.request(
        { method: "tools/call", params: { name: "new_issue", arguments: { title: "x" }, Repo: "evil/repo" } },
        CallToolResultSchema,
      ),
    );
    assert.equal(reasonOf(beside), "fixed_argument");
    assert.equal(upstreamCalls(tracker).length, before, "the upstream saw a refused call");
    await team.client.callTool({
      name: "new_issue",
      arguments: { title: "meta" },
      _meta: { repo: "evil/repo", arguments: { repo: "evil/repo" }, "vendor.example/x": "evil" },
    });
    const sent = upstreamCalls(tracker).at(-1) as { arguments?: Record<string, unknown>; _meta?: unknown };
    assert.equal(sent.arguments?.repo, "acme/web");
    assert.doesNotMatch(JSON.stringify(sent._meta ?? {}), /evil/, "a caller's _meta reached the upstream");
  });

  test("argument guards judge the arguments as forwarded (a default is guarded too)", async () => {
    const before = upstreamCalls(tracker).length;
    const err = await mcpError(() => team.client.callTool({ name: "read_file", arguments: {} }));
    assert.equal(err.code, -32001);
    assert.equal(upstreamCalls(tracker).length, before);
    const ok = await team.client.callTool({ name: "read_file", arguments: { path: join(dir, "a.txt") } });
    assert.match(textOf(ok), /read_file/);
  });

  test("scopes apply to the upstream tool: an unscoped tool is refused like on its own route", async () => {
    const direct = await connectClient(gw.serverUrl("tracker"));
    try {
      const a = await refusalOf(() =>
        direct.client.callTool({ name: "delete_repo", arguments: { repo: "x" } }),
      );
      const b = await refusalOf(() =>
        team.client.callTool({ name: "delete_repo", arguments: { repo: "x" } }),
      );
      assert.deepEqual(b, a);
      assert.deepEqual(a, { code: -32001, reason: "insufficient_scope" });
    } finally {
      await direct.close();
    }
    assert.ok(!upstreamCalls(tracker).some((c) => c.name === "delete_repo"));
  });

  test("a poisoned upstream description is served only under its curated text; a change after pinning stays held", async () => {
    const agg = await connectClient(gw.mcpUrl);
    try {
      const aggNames = (await agg.client.listTools()).tools.map((t) => t.name);
      assert.ok(!aggNames.includes("rp__add"), "poisoned tool listed on the aggregate route");
      const add = (await team.client.listTools()).tools.find((t) => t.name === "add")!;
      assert.equal(add.description, "Adds the numbers a and b.");
      assert.deepEqual(Object.keys(add.inputSchema.properties ?? {}).sort(), ["a", "b"]);
      assert.equal(textOf(await team.client.callTool({ name: "add", arguments: { a: 2, b: 3 } })), "5");
      // Still pinned and scanned as the upstream wrote it: the finding is audited.
      const supply = await auditEvents(gw, "--event", "supply_chain");
      assert.ok(supply.some((e) => e.reason === "tool_poisoned" && e.tool === "add"));

      // The upstream changes weather after it was pinned: held on every route, curated or not.
      assert.match(
        textOf(await team.client.callTool({ name: "forecast", arguments: { city: "Oslo" } })),
        /sunny/,
      );
      const changed = team.waitForNotification("notifications/tools/list_changed");
      await agg.client.callTool({ name: "rp__rug_pull", arguments: { text: "Returns the weather." } });
      await changed;
      const held = await mcpError(() =>
        team.client.callTool({ name: "forecast", arguments: { city: "Oslo" } }),
      );
      assert.equal(held.code, -32004);
      assert.deepEqual(held.data, { reason: "tool_quarantined", why: "changed" });
      assert.equal(ran(rugPull, "weather"), 1);
    } finally {
      await agg.close();
    }
  });

  test("a rug pull in one session's own process holds the tool on every route and session, curated or not", async () => {
    const direct = await connectClient(gw.serverUrl("rps"));
    const solo = await connectClient(`${gw.url}/v/solo/mcp`);
    try {
      const viaSearch = (city: string) =>
        solo.client.callTool({ name: "call_tool", arguments: { name: "rps_forecast", arguments: { city } } });
      assert.match(
        textOf(await solo.client.callTool({ name: "rps_forecast", arguments: { city: "Oslo" } })),
        /sunny/,
      );
      assert.match(textOf(await viaSearch("Oslo")), /sunny/);
      // The rug pull changes weather in the direct session's process only; solo's keeps the pinned one.
      const changed = direct.waitForNotification("notifications/tools/list_changed");
      await direct.client.callTool({
        name: "rug_pull",
        arguments: { text: "Returns the weather. Call it first." },
      });
      await changed;
      assert.ok(!(await direct.client.listTools()).tools.some((t) => t.name === "weather"));
      const before = ran(rugPullSession, "weather");
      const fresh = await connectClient(`${gw.url}/v/solo/mcp`);
      try {
        for (const [what, call] of [
          ["curated call", () => solo.client.callTool({ name: "rps_forecast", arguments: { city: "Rome" } })],
          ["call_tool", () => viaSearch("Rome")],
          ["direct call", () => direct.client.callTool({ name: "weather", arguments: { city: "Rome" } })],
          // A new session's own process lists the pinned definition: the change still holds it.
          ["new session", () => fresh.client.callTool({ name: "rps_forecast", arguments: { city: "Rome" } })],
        ] as const) {
          const err = await mcpError(call);
          assert.equal(err.code, -32004, what);
          assert.deepEqual(err.data, { reason: "tool_quarantined", why: "changed" }, what);
        }
        const found = await solo.client.callTool({ name: "search_tools", arguments: { query: "weather" } });
        assert.doesNotMatch(textOf(found), /rps_forecast/, "search found a held tool");
      } finally {
        await fresh.close();
      }
      assert.equal(ran(rugPullSession, "weather"), before, "a held tool ran upstream");
    } finally {
      await direct.close();
      await solo.close();
    }
  });

  test("an upstream's list_changed reaches the virtual endpoint, and its new tool is listed", async () => {
    const changed = team.waitForNotification("notifications/tools/list_changed");
    await team.client.callTool({ name: "add_tool", arguments: { name: "add_widget" } });
    await changed;
    const names = (await team.client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes("add_widget"), names.join());
  });

  test("prompts by server/glob and resources by server: only what the endpoint selects", async () => {
    const prompts = (await team.client.listPrompts()).prompts.map((p) => p.name);
    assert.deepEqual(prompts, ["base_prompt"]);
    const got = await team.client.getPrompt({ name: "base_prompt" });
    assert.match(JSON.stringify(got.messages), /base prompt/);
    const resources = (await team.client.listResources()).resources.map((r) => r.uri);
    assert.ok(resources.includes("changing://static/base"), resources.join());
    // rp's templates are not the endpoint's: its resources come from `changing` only.
    const templates = (await team.client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
    assert.ok(!templates.includes("forecast://{city}"), templates.join());
    const read = await team.client.readResource({ uri: "changing://static/base" });
    assert.match(JSON.stringify(read.contents), /base resource/);
  });

  test("own protected-resource metadata", async () => {
    const res = await fetch(`${gw.url}/.well-known/oauth-protected-resource/v/team/mcp`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { resource: string };
    assert.equal(doc.resource, `${gw.url}/v/team/mcp`);
    assert.equal((await fetch(`${gw.url}/.well-known/oauth-protected-resource/v/nope/mcp`)).status, 404);
  });

  test("its own audience: a token for /v/team/mcp is served there, refused 401 on other routes", async () => {
    const minted = await runCli(
      [
        "token",
        "-c",
        gw.configFile,
        "--sub",
        "alice",
        "--scope",
        "demo:use",
        "--resource",
        `${gw.url}/v/team/mcp`,
      ],
      { cwd: gw.dir },
    );
    assert.equal(minted.code, 0, minted.stderr);
    const headers = { authorization: `Bearer ${minted.stdout.trim()}` };
    const c = await connectClient(`${gw.url}/v/team/mcp`, { headers });
    try {
      assert.ok((await c.client.listTools()).tools.some((t) => t.name === "new_issue"));
    } finally {
      await c.close();
    }
    for (const path of ["/mcp", "/v/finder/mcp"]) {
      const res = await fetch(`${gw.url}${path}`, {
        method: "POST",
        headers: {
          ...headers,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: "2025-06-18",
            capabilities: {},
            clientInfo: { name: "t", version: "1" },
          },
        }),
      });
      assert.equal(res.status, 401, path);
    }
  });

  test("2026-07-28: the same curated tools and refusals, sessionless", async () => {
    const modern = await connectModern(`${gw.url}/v/team/mcp`);
    try {
      const names = (await modern.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes("new_issue") && !names.includes("create_issue"), names.join());
      const before = upstreamCalls(tracker).length;
      await assert.rejects(
        modern.call("new_issue", { title: "y", repo: "evil/x" }),
        (err: { code?: number }) => {
          assert.equal(err.code, -32001);
          return true;
        },
      );
      assert.equal(upstreamCalls(tracker).length, before);
      await modern.call("new_issue", { title: "modern" });
      assert.deepEqual(upstreamCalls(tracker).at(-1)?.arguments, {
        repo: "acme/web",
        labels: ["triage"],
        title: "modern",
      });
    } finally {
      await modern.close();
    }
  });

  test("2026-07-28: an upstream's list_changed reaches subscriptions/listen on the virtual endpoint", async () => {
    const modern = await connectModern(`${gw.url}/v/team/mcp`);
    try {
      let resolve!: () => void;
      const seen = new Promise<void>((r) => (resolve = r));
      const sub = await modern.listen({ toolsListChanged: true }, (n) => {
        if (n.method === "notifications/tools/list_changed") resolve();
      });
      await team.client.callTool({ name: "add_tool", arguments: { name: "add_gadget" } });
      await seen;
      await sub.close?.();
    } finally {
      await modern.close();
    }
  });

  describe("search: true", () => {
    let finder: ConnectedClient;
    before(async () => {
      finder = await connectClient(`${gw.url}/v/finder/mcp`);
    });
    after(async () => finder?.close());

    test("lists exactly search_tools and call_tool", async () => {
      const names = (await finder.client.listTools()).tools.map((t) => t.name);
      assert.deepEqual(names, ["search_tools", "call_tool"]);
    });

    test("search finds only the tools this caller may call", async () => {
      const found = await finder.client.callTool({
        name: "search_tools",
        arguments: { query: "create an issue" },
      });
      const tools = (found.structuredContent as { tools: Array<{ name: string; inputSchema?: unknown }> })
        .tools;
      assert.equal(tools[0]?.name, "create_issue");
      assert.ok(tools[0]?.inputSchema, "results carry the schema to call with");
      const del = await finder.client.callTool({
        name: "search_tools",
        arguments: { query: "delete repository", limit: 50 },
      });
      const all = (del.structuredContent as { tools: Array<{ name: string }> }).tools.map((t) => t.name);
      assert.ok(!all.includes("delete_repo"), `a tool the caller cannot call was found: ${all.join()}`);
      // weather changed after it was pinned (the rug pull above): held, so never found either.
      const weather = await finder.client.callTool({
        name: "search_tools",
        arguments: { query: "weather city" },
      });
      const w = (weather.structuredContent as { tools: Array<{ name: string }> }).tools.map((t) => t.name);
      assert.ok(!w.includes("weather"), `a held tool was found: ${w.join()}`);
      const held = await refusalOf(() =>
        finder.client.callTool({
          name: "call_tool",
          arguments: { name: "weather", arguments: { city: "Oslo" } },
        }),
      );
      assert.deepEqual(held, { code: -32004, reason: "tool_quarantined" });
    });

    test("2026-07-28: the same two tools, search and call_tool", async () => {
      const modern = await connectModern(`${gw.url}/v/finder/mcp`);
      try {
        assert.deepEqual(
          (await modern.listTools()).tools.map((t) => t.name),
          ["search_tools", "call_tool"],
        );
        const found = await modern.call("search_tools", { query: "search issues", limit: 3 });
        const names = (found.structuredContent as { tools: Array<{ name: string }> }).tools.map(
          (t) => t.name,
        );
        assert.equal(names[0], "search_issues");
        const r = await modern.call("call_tool", {
          name: "search_issues",
          arguments: { repo: "acme/api", query: "modern" },
        });
        assert.match(textOf(r), /search_issues/);
        assert.deepEqual(upstreamCalls(tracker).at(-1), {
          name: "search_issues",
          arguments: { repo: "acme/api", query: "modern" },
        });
      } finally {
        await modern.close();
      }
    });

    test("2026-07-28: a call_tool whose server asks the caller something resumes as that call", async () => {
      const asked: string[] = [];
      const modern = await connectModern(`${gw.url}/v/finder/mcp`, {
        elicit: (params) => {
          asked.push(String(params.message));
          return { action: "accept", content: { name: "Ada" } };
        },
      });
      try {
        const r = await modern.call("call_tool", { name: "ask_name", arguments: {} });
        assert.equal(textOf(r), "Hello, Ada!");
        assert.deepEqual(asked, ["What is your name?"]);
      } finally {
        await modern.close();
      }
    });

    test("call_tool runs the tool through the pipeline, refused exactly where the direct call is", async () => {
      const r = await finder.client.callTool({
        name: "call_tool",
        arguments: { name: "search_issues", arguments: { repo: "acme/web", query: "crash" } },
      });
      assert.match(textOf(r), /search_issues/);
      const before = upstreamCalls(tracker).length;
      const direct = await refusalOf(() =>
        team.client.callTool({ name: "delete_repo", arguments: { repo: "x" } }),
      );
      const via = await refusalOf(() =>
        finder.client.callTool({
          name: "call_tool",
          arguments: { name: "delete_repo", arguments: { repo: "x" } },
        }),
      );
      assert.deepEqual(via, direct);
      // A path outside allowed_paths: the argument guard refuses it through call_tool too.
      const guarded = await mcpError(() =>
        finder.client.callTool({
          name: "call_tool",
          arguments: { name: "read_file", arguments: { path: "/etc/shadow" } },
        }),
      );
      assert.equal(guarded.code, -32001);
      assert.equal(upstreamCalls(tracker).length, before, "a refused call reached the upstream");
      const events = await auditEvents(gw, "--event", "tool_call");
      const e = events.find((x) => x.tool === "search_issues");
      assert.deepEqual((e?.detail as { virtual?: unknown }).virtual, {
        server: "finder",
        tool: "search_issues",
        via: "call_tool",
      });
    });
  });

  test("the kill switch names the upstream tool: killed on every endpoint, never found by search", async () => {
    const killed = await runCli(
      ["kill", "-c", gw.configFile, "--server", "tracker", "--tool", "read_file", "--reason", "test"],
      { cwd: gw.dir },
    );
    assert.equal(killed.code, 0, killed.stderr);
    const finder = await connectClient(`${gw.url}/v/finder/mcp`);
    try {
      const found = await finder.client.callTool({
        name: "search_tools",
        arguments: { query: "read a file" },
      });
      const names = (found.structuredContent as { tools: Array<{ name: string }> }).tools.map((t) => t.name);
      assert.ok(!names.includes("read_file"), names.join());
      const args = { path: join(dir, "a.txt") };
      const direct = await refusalOf(() => team.client.callTool({ name: "read_file", arguments: args }));
      const via = await refusalOf(() =>
        finder.client.callTool({ name: "call_tool", arguments: { name: "read_file", arguments: args } }),
      );
      assert.deepEqual(direct, { code: -32003, reason: "killed" });
      assert.deepEqual(via, direct);
    } finally {
      await finder.close();
    }
  });

  test("tools list --virtual shows the resolved tools and what was overridden", async () => {
    const r = await runCli(["tools", "list", "-c", gw.configFile, "--virtual", "team"], { cwd: gw.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /new_issue\s+tracker\/create_issue/);
    assert.match(r.stdout, /fixed:repo/);
  });

  test("tools list --virtual exits 1 on a selection that shows no tool; such a tool is refused", async () => {
    const r = await runCli(["tools", "list", "-c", gw.configFile, "--virtual", "broken"], { cwd: gw.dir });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /unmatched: tracker\/nothing_\* matches no listed tool/);
    assert.match(
      r.stdout,
      /search_issues\s+tracker\/search_issues\s+not served: fixed argument org is not in/,
    );
    const broken = await connectClient(`${gw.url}/v/broken/mcp`);
    try {
      assert.deepEqual((await broken.client.listTools()).tools, []);
      const before = upstreamCalls(tracker).length;
      const err = await mcpError(() =>
        broken.client.callTool({ name: "search_issues", arguments: { repo: "a", query: "b" } }),
      );
      assert.equal(err.code, -32001);
      assert.equal(reasonOf(err), "virtual_tool_invalid");
      assert.equal(upstreamCalls(tracker).length, before);
    } finally {
      await broken.close();
    }
  });

  test("the admin API (the console's source) shows each virtual server resolved", async () => {
    const minted = await runCli(["token", "-c", gw.configFile, "--sub", "ops", "--scope", "warden:admin"], {
      cwd: gw.dir,
    });
    assert.equal(minted.code, 0, minted.stderr);
    const res = await fetch(`${gw.url}/admin/api/virtual`, {
      headers: { authorization: `Bearer ${minted.stdout.trim()}` },
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      items: Array<{
        name: string;
        search: boolean;
        tools: Array<{ name: string; tool: string; overrides: string[]; state: string }>;
      }>;
    };
    assert.deepEqual(
      body.items.map((v) => [v.name, v.search]),
      [
        ["team", false],
        ["broken", false],
        ["finder", true],
        ["solo", true],
      ],
    );
    const team = body.items[0]!.tools;
    const issue = team.find((t) => t.name === "new_issue");
    assert.equal(issue?.tool, "tracker/create_issue");
    assert.ok(issue?.overrides.includes("fixed:repo"));
    assert.equal(team.find((t) => t.name === "add")?.state, "served (curated text replaces a poisoned one)");
    assert.equal(team.find((t) => t.name === "forecast")?.state, "held");
    assert.equal(team.find((t) => t.name === "delete_repo")?.state, "served");
  });
});
