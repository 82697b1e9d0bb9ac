// Precision and recall per detector on the project's corpora and on the independent visible set
// (test/corpora/independent/, written without a view of the detectors). Each figure is printed;
// the bars below are floors under what the detectors reach today, so a regression fails the test.
// The held-out part of the independent set is measured elsewhere, never here.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { compileInjectionDetector } from "../../src/protect/injection/index.js";
import { argumentPlan, checkArguments } from "../../src/policy/arguments.js";
import { compileCommandGuard, compileUrlGuard } from "../../src/policy/guards/index.js";
import { compileMetadataGuard } from "../../src/policy/guards/url.js";
import { scanDefinition } from "../../src/supply/poisoning.js";

const corpora = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../corpora");

interface Item {
  id: string;
  class: string;
  payload: unknown;
  expect: string;
}

interface Score {
  precision: number;
  recall: number;
  missed: string[];
  wrong: string[];
}

function score(items: readonly Item[], positive: (i: Item) => boolean, caught: boolean[]): Score {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  const missed: string[] = [];
  const wrong: string[] = [];
  items.forEach((item, k) => {
    const p = positive(item);
    if (p && caught[k]) tp++;
    else if (p) {
      fn++;
      missed.push(`${item.id}(${item.class})`);
    } else if (caught[k]) {
      fp++;
      wrong.push(`${item.id}(${item.class})`);
    }
  });
  return {
    precision: tp + fp === 0 ? 1 : tp / (tp + fp),
    recall: tp + fn === 0 ? 1 : tp / (tp + fn),
    missed,
    wrong,
  };
}

function report(name: string, s: Score): void {
  console.log(
    `${name}: precision ${s.precision.toFixed(3)}, recall ${s.recall.toFixed(3)}\n` +
      `  missed: ${s.missed.join(" ") || "-"}\n  false positives: ${s.wrong.join(" ") || "-"}`,
  );
}

function independent(name: string): Item[] | undefined {
  const file = path.join(corpora, "independent", `${name}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Item[]) : undefined;
}

const detector = compileInjectionDetector();
const flagged = (payload: unknown) =>
  detector.inspect(typeof payload === "string" ? payload : JSON.stringify(payload), { toolNames: [] }).signals
    .length > 0;

function definition(p: { name: string; title?: string; description: string; params?: unknown }) {
  const params = p.params as Record<string, unknown> | undefined;
  const inputSchema =
    params && (params.type === "object" || params.properties)
      ? params
      : {
          type: "object",
          properties: Object.fromEntries(
            Object.entries(params ?? {}).map(([k, d]) => [k, { type: "string", description: d }]),
          ),
        };
  return { name: p.name, ...(p.title ? { title: p.title } : {}), description: p.description, inputSchema };
}

/** Floors: (precision, recall) per detector and set. */
const BARS: Record<string, [number, number]> = {
  "injection/classes": [0.95, 0.95],
  "injection/independent": [0.95, 0.95],
  "poisoning/independent": [0.95, 0.95],
  "commands/project": [1, 1],
  "commands/independent": [0.95, 0.95],
  "urls/independent (no allowed_domains)": [0.95, 0.45],
  'urls/independent (allowed_domains: ["*"])': [0.7, 0.95],
};

function bar(name: string, s: Score): void {
  report(name, s);
  const [p, r] = BARS[name]!;
  assert.ok(s.precision >= p, `${name}: precision ${s.precision} < ${p}`);
  assert.ok(s.recall >= r, `${name}: recall ${s.recall} < ${r}`);
}

describe("detection corpora: precision and recall per detector", () => {
  test("injection", () => {
    const classes = JSON.parse(readFileSync(path.join(corpora, "injection", "classes.json"), "utf8")) as {
      cases: Array<{ id: string; form: string; text: string; label: string }>;
    };
    const items = classes.cases.map((c) => ({ id: c.id, class: c.form, payload: c.text, expect: c.label }));
    bar(
      "injection/classes",
      score(
        items,
        (i) => i.expect === "attack",
        items.map((i) => flagged(i.payload)),
      ),
    );
    const ind = independent("injection");
    if (ind)
      bar(
        "injection/independent",
        score(
          ind,
          (i) => i.expect === "block",
          ind.map((i) => flagged(i.payload)),
        ),
      );
  });

  test("poisoning", () => {
    const ind = independent("poisoning");
    if (!ind) return;
    const caught = ind.map(
      (i) =>
        scanDefinition("tool", definition(i.payload as { name: string; description: string }), {
          server: "s",
        }).length > 0,
    );
    bar(
      "poisoning/independent",
      score(ind, (i) => i.expect === "flag", caught),
    );
  });

  test("commands", () => {
    const guard = compileCommandGuard({});
    const lists = (file: string) =>
      Object.entries(
        JSON.parse(readFileSync(path.join(corpora, file), "utf8")) as Record<string, unknown>,
      ).flatMap(([group, list]) =>
        Array.isArray(list) ? (list as string[]).map((c) => ({ group, c })) : [],
      );
    const project: Item[] = [
      ...lists("command-deny.json").map(({ group, c }, k) => ({
        id: `d${k}`,
        class: group,
        payload: c,
        expect: "deny",
      })),
      ...lists("command-allow.json").map(({ group, c }, k) => ({
        id: `a${k}`,
        class: group,
        payload: c,
        expect: "allow",
      })),
    ];
    const denied = (items: Item[]) => items.map((i) => !guard.check(i.payload as string).allowed);
    bar(
      "commands/project",
      score(project, (i) => i.expect === "deny", denied(project)),
    );
    const ind = independent("commands");
    if (ind)
      bar(
        "commands/independent",
        score(ind, (i) => i.expect === "deny", denied(ind)),
      );
  });

  test("URLs under any argument name", async () => {
    const ind = independent("urls");
    if (!ind) return;
    const plan = argumentPlan({});
    const run = async (guards: Parameters<typeof checkArguments>[1]) => {
      const out: boolean[] = [];
      for (const i of ind) out.push(!(await checkArguments(plan, guards, i.payload)).allowed);
      return out;
    };
    bar(
      "urls/independent (no allowed_domains)",
      score(ind, (i) => i.expect === "deny", await run({ metadata: compileMetadataGuard() })),
    );
    bar(
      'urls/independent (allowed_domains: ["*"])',
      score(
        ind,
        (i) => i.expect === "deny",
        await run({ url: compileUrlGuard({ allowedDomains: ["*"], resolveTimeoutMs: 500 }) }),
      ),
    );
  });
});
