// The roots filter (src/gateway/client-roots.ts) against an oracle: whatever spelling a root takes
// (dot segments, empty segments, symlinks out of the allowed folder or to the state folder, single
// and double percent-encoding), a root it keeps lands inside `allowed_paths` both where the
// filesystem server reads it (fileURLToPath, then realpath) and where a server that strips
// `file://` reads it (the kernel's walk); and never on or above the gateway's own files.
import assert from "node:assert/strict";
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import fc from "fast-check";
import { parseConfig } from "../../src/config/load.js";
import { MAX_ROOTS, RootsFilter } from "../../src/gateway/client-roots.js";
import { makeTempDir } from "../helpers/paths.js";

function setup() {
  const base = realpathSync(makeTempDir("warden-roots-unit-"));
  const project = path.join(base, "project");
  const state = path.join(base, ".warden");
  mkdirSync(path.join(project, "inside", "deeper"), { recursive: true });
  mkdirSync(path.join(base, "outside"));
  mkdirSync(state);
  writeFileSync(path.join(state, "state.db"), "");
  symlinkSync(path.join(base, "outside"), path.join(project, "link-out"));
  symlinkSync(state, path.join(project, "link-state"));
  symlinkSync(base, path.join(project, "inside", "link-base"));
  const yaml = [
    `state: { sqlite: ${state}/state.db }`,
    "servers:",
    "  - { name: fs, command: node, allowed_paths: [" + project + "] }",
    "  - { name: open, command: node }",
  ].join("\n");
  const config = parseConfig(yaml, path.join(base, "warden.yaml"), {});
  return { base, project, state, filter: new RootsFilter(config) };
}

/** Where a path lands once the kernel has walked it, or undefined when nothing is there. */
function landing(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

const within = (dir: string, p: string) => p === dir || p.startsWith(`${dir}/`);

const SEGMENTS = ["project", "inside", "deeper", "..", ".", "", "link-out", "link-state", "link-base"];
const SEGMENTS_MORE = [...SEGMENTS, "outside", ".warden", "state.db", "x"];

/** A percent-encoded spelling of `s`: some characters encoded once or twice. */
const spelled = (s: string) =>
  fc.array(fc.constantFrom(0, 0, 0, 1, 2), { minLength: s.length, maxLength: s.length }).map((how) =>
    [...s]
      .map((ch, i) => {
        const hex = `%${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`;
        return how[i] === 1 ? hex : how[i] === 2 ? hex.replace("%", "%25") : ch;
      })
      .join(""),
  );

test("a kept root lands inside allowed_paths and away from the gateway's files, however it is spelled", async () => {
  const { base, project, state, filter } = setup();
  let keptSome = 0;
  await fc.assert(
    fc.asyncProperty(
      fc
        .tuple(
          fc.constantFrom(project, project, base),
          fc.array(fc.constantFrom(...SEGMENTS_MORE), { minLength: 0, maxLength: 6 }),
        )
        .chain(([from, segs]) => spelled(segs.join("/")).map((tail) => `file://${from}/${tail}`)),
      async (uri) => {
        const out = await filter.filter("fs", { roots: [{ uri, name: "r" }] });
        const kept = (out.answer.roots as unknown[]).length === 1;
        if (!kept) return;
        keptSome++;
        const readings = [fileURLToPath(uri), uri.slice("file://".length)];
        for (const r of readings) {
          const at = landing(r);
          if (at === undefined) continue; // a server finds nothing there: it cannot serve it
          assert.ok(within(project, at), `${uri} kept, but ${r} lands on ${at}`);
          assert.ok(!within(at, state) && !within(state, at), `${uri} kept, but reaches the state folder`);
        }
      },
    ),
    { numRuns: 400 },
  );
  assert.ok(keptSome > 0, "the property never saw a kept root");
});

test("without allowed_paths a kept root never is, sits inside or contains the gateway's files", async () => {
  const { base, state, filter } = setup();
  await fc.assert(
    fc.asyncProperty(
      fc
        .array(fc.constantFrom(...SEGMENTS_MORE), { minLength: 0, maxLength: 6 })
        .chain((segs) => spelled(segs.join("/")))
        .map((tail) => `file://${base}/${tail}`),
      async (uri) => {
        const out = await filter.filter("open", { roots: [{ uri }] });
        if ((out.answer.roots as unknown[]).length === 0) return;
        for (const r of [fileURLToPath(uri), uri.slice("file://".length)]) {
          const at = landing(r);
          if (at === undefined) continue;
          assert.ok(!within(at, state) && !within(state, at), `${uri} kept, but ${r} lands on ${at}`);
        }
      },
    ),
    { numRuns: 400 },
  );
});

test("plain roots: inside kept, others dropped with a reason, the answer's other fields kept", async () => {
  const { base, project, filter } = setup();
  const inside = `file://${project}/inside`;
  const out = await filter.filter("fs", {
    roots: [
      { uri: inside, name: "inside" },
      { uri: `file://${base}/outside` },
      { uri: `FILE://${project}/inside` },
      { uri: `file:${project}/inside` },
      { uri: `https://example.com${project}` },
      { uri: `file://host${project}` },
      { uri: 5 },
      "a string",
    ],
    _meta: { keep: true },
  });
  assert.deepEqual(out.answer, { roots: [{ uri: inside, name: "inside" }], _meta: { keep: true } });
  assert.equal(out.received, 8);
  assert.equal(out.kept, 1);
  assert.deepEqual(
    out.dropped.map((d) => d.index),
    [1, 2, 3, 4, 5, 6, 7],
  );
  for (const d of out.dropped) assert.ok(!d.why.includes(base), `a reason carries the path: ${d.why}`);
});

test("a malformed answer or an unknown server gives the server no roots", async () => {
  const { filter, project } = setup();
  for (const answer of [{}, { roots: "file:///" }, { roots: { uri: "file:///" } }]) {
    const out = await filter.filter("fs", answer as never);
    assert.deepEqual(out.answer.roots, []);
    assert.equal(out.dropped.length, 1);
  }
  const unknown = await filter.filter("nope", { roots: [{ uri: `file://${project}` }] });
  assert.deepEqual(unknown.answer.roots, []);
});

test(`past ${MAX_ROOTS} roots the rest are dropped`, async () => {
  const { filter, project } = setup();
  const roots = Array.from({ length: MAX_ROOTS + 3 }, () => ({ uri: `file://${project}/inside` }));
  const out = await filter.filter("fs", { roots });
  assert.equal(out.kept, MAX_ROOTS);
  assert.equal(out.dropped.length, 3);
});
