import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  argumentPlan,
  checkArguments,
  kindFromName,
  MAX_ARGUMENT_DEPTH,
} from "../../../src/policy/arguments.js";
import { compileCommandGuard, compilePathGuard, compileUrlGuard } from "../../../src/policy/guards/index.js";
import { compileMetadataGuard } from "../../../src/policy/guards/url.js";
import { makeLayout } from "./fixtures.js";

const str = { type: "string" };

describe("argument plan: detection", () => {
  test("names: last word or last two words, any case style", () => {
    const cases: Record<string, string | undefined> = {
      path: "path",
      filePath: "path",
      file_name: "path",
      fileName: "path",
      outputFile: "path",
      paths: "path",
      directory: "path",
      source: "path",
      destination: "path",
      cwd: "path",
      url: "url",
      baseURL: "url",
      callback_url: "url",
      imageUri: "url",
      href: "url",
      endpoint: "url",
      command: "command",
      cmd: "command",
      shellCommand: "command",
      script: "command",
      pattern: undefined,
      profile: undefined,
      content: undefined,
      dataSource: undefined,
      urlencoded: undefined,
    };
    for (const [name, kind] of Object.entries(cases)) assert.equal(kindFromName(name), kind, name);
  });

  test("the filesystem server's tools: paths found, content and patterns left alone", () => {
    const readMany = argumentPlan({ type: "object", properties: { paths: { type: "array", items: str } } });
    assert.deepEqual(readMany.extract({ paths: ["a.txt", "b/c.txt"] }).values, [
      { kind: "path", pointer: "/paths/0", value: "a.txt" },
      { kind: "path", pointer: "/paths/1", value: "b/c.txt" },
    ]);
    const move = argumentPlan({ type: "object", properties: { source: str, destination: str } });
    assert.deepEqual(
      move.extract({ source: "a", destination: "b" }).values.map((v) => v.pointer),
      ["/source", "/destination"],
    );
    const edit = argumentPlan({
      type: "object",
      properties: {
        path: str,
        edits: { type: "array", items: { type: "object", properties: { oldText: str, newText: str } } },
        dryRun: { type: "boolean" },
      },
    });
    const x = edit.extract({
      path: "f.ts",
      edits: [{ oldText: "../../etc", newText: "http://x" }],
      dryRun: true,
    });
    // A text that is a whole absolute URL is judged as one, whatever its name (issue 18).
    assert.deepEqual(x.values, [
      { kind: "path", pointer: "/path", value: "f.ts" },
      { kind: "url", pointer: "/edits/0/newText", value: "http://x" },
    ]);
    assert.deepEqual(x.problems, []);
    const search = argumentPlan({
      type: "object",
      properties: { path: str, pattern: str, excludePatterns: { type: "array", items: str } },
    });
    assert.deepEqual(
      search.extract({ path: ".", pattern: "../*", excludePatterns: ["/etc"] }).values.length,
      1,
    );
  });

  test("nested objects, arrays of objects, $ref, anyOf and format: uri", () => {
    const plan = argumentPlan({
      type: "object",
      $defs: { target: { type: "object", properties: { location: { type: "string", format: "uri" } } } },
      properties: {
        jobs: { type: "array", items: { $ref: "#/$defs/target" } },
        opts: {
          anyOf: [{ type: "object", properties: { homepage: { type: "string", format: "url" } } }, str],
        },
      },
    });
    const out = plan.extract({
      jobs: [{ location: "https://a" }, { location: "https://b" }],
      opts: { homepage: "https://c" },
    });
    assert.deepEqual(
      out.values.map((v) => `${v.kind} ${v.pointer}`),
      ["url /jobs/0/location", "url /jobs/1/location", "url /opts/homepage"],
    );
  });

  test("the actual arguments are walked too: keys the schema never declared, file: URIs anywhere", () => {
    const plan = argumentPlan({ type: "object", properties: { query: str } });
    const out = plan.extract({
      query: "file:///etc/passwd",
      extra: { deep: [{ targetPath: "../x" }] },
      note: "http://not-a-url-field.example",
    });
    assert.deepEqual(
      out.values.map((v) => `${v.kind} ${v.pointer} ${String(v.value)}`),
      [
        "path /query file:///etc/passwd",
        "path /extra/deep/0/targetPath ../x",
        "url /note http://not-a-url-field.example",
      ],
    );
  });

  test("a value with a scheme in a path field is checked as a URL (which only http(s) passes)", () => {
    const plan = argumentPlan({ type: "object", properties: { source: str } });
    assert.deepEqual(plan.extract({ source: "gopher://127.0.0.1/" }).values, [
      { kind: "url", pointer: "/source", value: "gopher://127.0.0.1/" },
    ]);
    assert.deepEqual(plan.extract({ source: "file:///etc/passwd" }).values[0]?.kind, "path");
  });

  test("commands: strings, argv arrays, and a program with its `args` judged together", () => {
    const plan = argumentPlan({
      type: "object",
      properties: { command: str, args: { type: "array", items: str } },
    });
    assert.deepEqual(plan.extract({ command: "sh", args: ["-c", "rm -rf /"] }).values, [
      { kind: "command", pointer: "/command", value: ["sh", "-c", "rm -rf /"] },
    ]);
    assert.deepEqual(plan.extract({ command: "ls -la" }).values, [
      { kind: "command", pointer: "/command", value: "ls -la" },
    ]);
    assert.deepEqual(plan.extract({ cmd: ["git", "status"] }).values, [
      { kind: "command", pointer: "/cmd", value: ["git", "status"] },
    ]);
  });

  test("declarations: top-level names, pointers with *, and none", () => {
    const plan = argumentPlan(
      { type: "object", properties: { target: str, source: str, items: { type: "array" } } },
      { target: "path", source: "none", "/items/*/to": "url" },
    );
    const out = plan.extract({
      target: "a",
      source: "reuters",
      items: [{ to: "https://x" }],
      other: "file:///etc",
    });
    assert.deepEqual(
      out.values.map((v) => `${v.kind} ${v.pointer}`),
      ["path /target", "url /items/0/to", "path /other"],
    );
    assert.throws(() => argumentPlan({}, { x: "file" as never }), TypeError);
  });

  test("a guarded argument that is not a string is reported, unless the schema says so", () => {
    const plan = argumentPlan({ type: "object", properties: { path: str, root: { type: "boolean" } } });
    assert.deepEqual(plan.extract({ path: { $ne: 1 } }).problems, [
      { pointer: "/path", kind: "path", problem: "not_a_string" },
    ]);
    assert.deepEqual(plan.extract({ path: 42 }).problems, [
      { pointer: "/path", kind: "path", problem: "not_a_string" },
    ]);
    assert.deepEqual(plan.extract({ root: true }).problems, []);
    assert.deepEqual(plan.extract({ file: null }).problems, [
      { pointer: "/file", kind: "path", problem: "not_a_string" },
    ]);
  });

  test("bounded: too deep or too large is a problem, not a crash", () => {
    const plan = argumentPlan({});
    let deep: unknown = "x";
    for (let i = 0; i < MAX_ARGUMENT_DEPTH + 5; i++) deep = { a: deep };
    assert.equal(plan.extract(deep).problems[0]?.problem, "too_deep");
    const wide = { files: Array.from({ length: 20_000 }, (_, i) => `f${i}`) };
    assert.equal(plan.extract(wide).problems[0]?.problem, "too_large");
    assert.deepEqual(plan.extract(undefined), { values: [], problems: [], pathLike: [], unguarded: [] });
    assert.deepEqual(argumentPlan("not a schema").extract({ url: "https://x" }).values.length, 1);
  });

  test("path-like strings under other names are collected apart, for the owned-file guard", () => {
    const plan = argumentPlan({});
    const out = plan.extract({
      target: "/srv/app/.warden/state.db",
      list: ["~/x", "./y", "../z", ' "/q"', "plain", "/a\n/b", "https://x/y"],
      content: "/* a comment */\nmore",
      path: "/declared/by/name",
    });
    assert.deepEqual(
      out.pathLike.map((v) => [v.pointer, v.value]),
      [
        ["/target", "/srv/app/.warden/state.db"],
        ["/list/0", "~/x"],
        ["/list/1", "./y"],
        ["/list/2", "../z"],
        ["/list/3", ' "/q"'],
      ],
    );
    assert.deepEqual(out.values, [
      { kind: "url", pointer: "/list/6", value: "https://x/y" },
      { kind: "path", pointer: "/path", value: "/declared/by/name" },
    ]);
    const many = plan.extract({ xs: Array.from({ length: 300 }, (_, i) => `/f${i}`) });
    assert.equal(many.problems[0]?.problem, "too_large");
  });

  test("an absolute URL under any name, at any depth, faces the URL guard; without allowed_domains, a metadata-only guard", async () => {
    const plan = argumentPlan({ type: "object", properties: { target: str } });
    const names = [
      "target",
      "webhook",
      "redirect_to",
      "host",
      "callback",
      "next",
      "dest",
      "image",
      "feed",
      "server",
      "origin",
      "api",
    ];
    const url = compileUrlGuard({ allowedDomains: ["example.com"], resolve: async () => ["93.184.216.34"] });
    const metadata = compileMetadataGuard();
    for (const name of names) {
      for (const value of [
        "http://169.254.169.254/latest/meta-data/",
        " http://metadata.google.internal/",
        "http://2852039166/",
      ]) {
        const args = { outer: [{ [name]: value }] };
        for (const guards of [{ url }, { metadata }]) {
          const d = await checkArguments(plan, guards, args);
          assert.equal(d.allowed, false, `${name}=${value}`);
          if (!d.allowed) assert.equal(d.reason, "domain_not_allowed");
        }
      }
    }
    assert.equal(
      (await checkArguments(plan, { metadata }, { webhook: "https://hooks.internal.example/x" })).allowed,
      true,
    );
    assert.equal((await checkArguments(plan, { url }, { webhook: "https://example.com/x" })).allowed, true);
  });

  test("keys with / and ~ are escaped in pointers; __proto__ is just a key", () => {
    const plan = argumentPlan({});
    const args = JSON.parse('{"a/b": {"x~path": "p"}, "__proto__": {"path": "q"}}');
    assert.deepEqual(
      plan.extract(args).values.map((v) => v.pointer),
      ["/a~1b/x~0path", "/__proto__/path"],
    );
  });
});

describe("checkArguments", () => {
  test("runs the configured guard per kind; first denial wins and names the argument", async () => {
    const layout = makeLayout();
    try {
      const guards = {
        path: compilePathGuard({ roots: [layout.root] }),
        url: compileUrlGuard({ allowedDomains: ["example.com"], resolve: async () => ["93.184.215.14"] }),
        command: compileCommandGuard({}),
      };
      const plan = argumentPlan({ type: "object", properties: { path: str, url: str, command: str } });
      assert.deepEqual(
        await checkArguments(plan, guards, { path: "README.md", url: "https://example.com/", command: "ls" }),
        {
          allowed: true,
        },
      );
      const d = await checkArguments(plan, guards, { path: "README.md", url: "http://169.254.169.254/" });
      assert.ok(!d.allowed && d.reason === "domain_not_allowed" && d.pointer === "/url");
      const p = await checkArguments(plan, guards, { path: ["../../etc/passwd"] });
      assert.ok(!p.allowed && p.reason === "path_not_allowed" && p.pointer === "/path/0");
      const n = await checkArguments(plan, guards, { path: 7 });
      assert.ok(!n.allowed && n.reason === "path_not_allowed" && /not a string/.test(n.detail));
      const c = await checkArguments(plan, guards, { command: "rm -rf ~" });
      assert.ok(!c.allowed && c.reason === "command_denied");
      // a kind with no guard configured is not restricted
      assert.deepEqual(await checkArguments(plan, { command: guards.command }, { path: "/etc/passwd" }), {
        allowed: true,
      });
    } finally {
      layout.cleanup();
    }
  });
});
