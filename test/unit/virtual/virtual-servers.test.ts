// Virtual servers without a gateway: what `check` refuses (with YAML paths), how a selection
// resolves against listed tools (exact beats glob, a clash serves neither), what callers are shown,
// and which arguments are forwarded or refused.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError } from "../../../src/config/errors.js";
import { parseConfig } from "../../../src/config/load.js";
import type { JsonObject } from "../../../src/jsonrpc.js";
import { argumentKey, forwardedMeta } from "../../../src/gateway/virtual/arguments.js";
import {
  exactArguments,
  forwardedArguments,
  overrides,
  present,
} from "../../../src/gateway/virtual/present.js";
import { VirtualServer } from "../../../src/gateway/virtual/server.js";
import { GatewayError } from "../../../src/errors.js";

const SERVERS = "servers:\n  - name: gh\n    command: node\n  - name: jira\n    command: node\n";

function config(virtual: string) {
  return parseConfig(`${SERVERS}virtual_servers:\n${virtual}`, "test.yaml", {});
}

function problems(virtual: string): string[] {
  try {
    config(virtual);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return [...err.problems];
  }
  assert.fail("expected a config error");
}

test("check refuses what it can know offline, each with its YAML path", () => {
  const found = problems(
    [
      "  - name: team",
      "    tools:",
      "      - tool: nope/x",
      "      - tool: gh/create_*",
      "        name: renamed",
      "      - tool: gh/a",
      "        name: same",
      "      - tool: jira/b",
      "        name: same",
      "      - tool: gh/c",
      "        arguments: { fixed: { repo: x }, hide: [repo] }",
      "    prompts: [nope/*]",
      "    resources: [nope]",
      "  - name: team",
      "    search: true",
      "    tools:",
      "      - tool: gh/x",
      "        name: call_tool",
      "  - name: empty",
    ].join("\n"),
  );
  const expected = [
    "virtual_servers[0].tools[0].tool: no server named nope",
    "virtual_servers[0].tools[1].name: only for one tool",
    "virtual_servers[0].tools[3]: same is also the name of virtual_servers[0].tools[2] (name clash)",
    "virtual_servers[0].tools[4].arguments: repo is both fixed and hide",
    "virtual_servers[0].prompts[0]: no server named nope",
    "virtual_servers[0].resources[0]: no server named nope",
    "virtual_servers[1].name: duplicate virtual server name team",
    "virtual_servers[1].tools[0]: call_tool is the search endpoint's own tool",
    "virtual_servers[2]: selects nothing",
  ];
  for (const e of expected)
    assert.ok(
      found.some((p) => p.startsWith(e)),
      `${e}\n in ${found.join("\n")}`,
    );
});

test("unknown keys are refused", () => {
  const found = problems("  - name: t\n    tools:\n      - tool: gh/a\n        rename: b\n");
  assert.ok(
    found.some((p) => p === "virtual_servers[0].tools[0].rename: unknown key"),
    found.join("\n"),
  );
});

const LISTS: Record<string, Map<string, JsonObject>> = {
  gh: new Map([
    ["create_issue", { name: "create_issue" }],
    ["create_pr", { name: "create_pr" }],
    ["search", { name: "search" }],
  ]),
  jira: new Map([
    ["create_issue", { name: "create_issue" }],
    ["search", { name: "search" }],
  ]),
};

test("resolution: an exact entry curates its tool (no glob shows it raw), a glob clash serves neither", () => {
  const c = config(
    [
      "  - name: t",
      "    tools:",
      "      - tool: gh/create_issue",
      "        name: new_issue",
      "        arguments: { fixed: { repo: acme/web } }",
      "      - tool: gh/*",
      "      - tool: jira/search",
      "      - tool: jira/nothing*",
    ].join("\n"),
  );
  const v = new VirtualServer(c.virtualServers[0]!);
  const r = v.resolve((s) => LISTS[s]);
  // gh/create_issue is only ever new_issue (with its fixed repo), never create_issue from gh/*.
  assert.deepEqual([...r.bindings.keys()].sort(), ["create_pr", "new_issue", "search"]);
  // The exact jira/search wins over the glob's gh/search: a clash is reported, jira's is served.
  assert.equal(r.bindings.get("search")?.server, "jira");
  assert.deepEqual(r.clashes, ["search"]);
  assert.deepEqual(r.unmatched, ["jira/nothing*"]);

  const globsOnly = new VirtualServer(
    config("  - name: g\n    tools:\n      - tool: gh/*\n      - tool: jira/*\n").virtualServers[0]!,
  );
  const g = globsOnly.resolve((s) => LISTS[s]);
  assert.deepEqual([...g.bindings.keys()].sort(), ["create_pr"]);
  assert.deepEqual(g.clashes, ["create_issue", "search"]);
});

const ISSUE: JsonObject = {
  name: "create_issue",
  description: "upstream text",
  inputSchema: {
    type: "object",
    properties: {
      repo: { type: "string" },
      title: { type: "string" },
      labels: { type: "array" },
      who: { type: "string" },
    },
    required: ["repo", "title", "labels"],
  },
};

function binding(args: string, extra = "") {
  const c = config(
    `  - name: t\n    tools:\n      - tool: gh/create_issue\n        name: new_issue\n        description: curated\n${extra}        arguments: ${args}\n`,
  );
  const v = new VirtualServer(c.virtualServers[0]!);
  return v.exactBinding("new_issue")!;
}

test("present: fixed and hidden arguments leave the schema, defaults show and stop being required", () => {
  const b = binding("{ fixed: { repo: acme/web }, defaults: { labels: [triage] }, hide: [who] }");
  const shown = present(b, ISSUE);
  assert.ok("item" in shown);
  assert.equal(shown.item.name, "new_issue");
  assert.equal(shown.item.description, "curated");
  const schema = shown.item.inputSchema as { properties: Record<string, JsonObject>; required: string[] };
  assert.deepEqual(Object.keys(schema.properties), ["title", "labels"]);
  assert.deepEqual(schema.properties.labels?.default, ["triage"]);
  assert.deepEqual(schema.required, ["title"]);
  assert.deepEqual(overrides(b), ["name", "description", "fixed:repo", "default:labels", "hide:who"]);
});

test("present: an entry that does not fit its tool is a problem, never a silently looser tool", () => {
  const notThere = present(binding("{ fixed: { org: acme } }"), ISSUE);
  assert.ok("problem" in notThere && /fixed argument org is not in/.test(notThere.problem));
  const required = present(binding("{ hide: [title] }"), ISSUE);
  assert.ok("problem" in required && /required/.test(required.problem));
});

test("forwarded arguments: defaults fill, fixed values win, a caller's fixed or hidden argument is refused", () => {
  const b = binding("{ fixed: { repo: acme/web }, defaults: { labels: [triage] }, hide: [who] }");
  assert.deepEqual(forwardedArguments(b, { title: "t" }), {
    labels: ["triage"],
    title: "t",
    repo: "acme/web",
  });
  assert.deepEqual(forwardedArguments(b, { title: "t", labels: [] }), {
    title: "t",
    labels: [],
    repo: "acme/web",
  });
  for (const [args, reason] of [
    [{ title: "t", repo: "evil/x" }, "fixed_argument"],
    [{ title: "t", who: "mallory" }, "hidden_argument"],
  ] as const) {
    assert.throws(
      () => forwardedArguments(b, args),
      (err: unknown) => err instanceof GatewayError && err.code === -32001 && err.reason === reason,
    );
  }
  // A "__proto__" key stays an own argument (and is not how a fixed value could be dodged).
  const tricky = JSON.parse('{"title":"t","__proto__":{"repo":"evil"}}') as JsonObject;
  const out = forwardedArguments(b, tricky);
  assert.equal(out.repo, "acme/web");
  assert.ok(Object.hasOwn(out, "__proto__"));
});

const refusedWith = (reason: string) => (err: unknown) =>
  err instanceof GatewayError && err.code === -32001 && err.reason === reason;

test("forwarded arguments: a fixed or hidden argument in another spelling is refused as that argument", () => {
  const b = binding("{ fixed: { repo: acme/web }, hide: [who] }");
  for (const key of [
    "Repo",
    "REPO",
    "repo ",
    " repo",
    "ｒｅｐｏ",
    "re\u200bpo",
    "rеpo",
    "re_po",
    "re-po",
    "RE.PO",
  ]) {
    const args = JSON.parse(`{"title":"t","${key}":"evil/x"}`) as JsonObject;
    assert.throws(() => forwardedArguments(b, args), refusedWith("fixed_argument"), JSON.stringify(key));
  }
  for (const key of ["WHO", "Who", "ｗｈｏ", "w\u2060ho"]) {
    const args = JSON.parse(`{"title":"t","${key}":"mallory"}`) as JsonObject;
    assert.throws(() => forwardedArguments(b, args), refusedWith("hidden_argument"), JSON.stringify(key));
  }
  assert.equal(argumentKey("Ｄａｔａ\u200bBase "), "database");
});

test("forwarded arguments: a tool whose entry fixes or hides anything takes exactly its shown schema's keys", () => {
  const b = binding("{ fixed: { repo: acme/web }, hide: [who] }");
  const shown = present(b, ISSUE);
  assert.ok("item" in shown);
  const schema = shown.item.inputSchema as JsonObject;
  assert.ok(exactArguments(b, ISSUE));
  assert.deepEqual(forwardedArguments(b, { title: "t", labels: [] }, { schema }), {
    title: "t",
    labels: [],
    repo: "acme/web",
  });
  for (const args of [
    { title: "t", options: { repo: "evil/x" } },
    { title: "t", arguments: { repo: "evil/x" } },
    JSON.parse('{"title":"t","__proto__":{"repo":"evil"}}') as JsonObject,
  ])
    assert.throws(() => forwardedArguments(b, args, { schema }), refusedWith("unknown_argument"));
  // Without fixed or hidden arguments the upstream's schema decides: closed only when it says so.
  const open = binding("{ defaults: { labels: [triage] } }");
  assert.ok(!exactArguments(open, ISSUE));
  const closed = {
    ...ISSUE,
    inputSchema: { ...(ISSUE.inputSchema as JsonObject), additionalProperties: false },
  };
  assert.ok(exactArguments(open, closed));
});

test("present: a property that reads as a fixed or hidden one is not offered", () => {
  const withLookalike: JsonObject = {
    ...ISSUE,
    inputSchema: {
      type: "object",
      properties: { repo: { type: "string" }, Repo: { type: "string" }, title: { type: "string" } },
    },
  };
  const shown = present(binding("{ fixed: { repo: acme/web } }"), withLookalike);
  assert.ok("item" in shown);
  assert.deepEqual(Object.keys((shown.item.inputSchema as { properties: JsonObject }).properties), ["title"]);
});

test("a curated call's _meta: only the keys the protocol defines go on, not any key under its prefix", () => {
  assert.deepEqual(
    forwardedMeta({
      progressToken: 7,
      "io.modelcontextprotocol/related-task": { taskId: "t" },
      "modelcontextprotocol.io/x": 1,
      "io.modelcontextprotocol/arguments": { database: "prod" },
      database: "prod",
      arguments: { repo: "evil/x" },
      "vendor.example/trace": "abc",
    }),
    {
      progressToken: 7,
      "io.modelcontextprotocol/related-task": { taskId: "t" },
    },
  );
  assert.equal(forwardedMeta({ repo: "evil/x" }), undefined);
  assert.equal(forwardedMeta("x"), undefined);
});
