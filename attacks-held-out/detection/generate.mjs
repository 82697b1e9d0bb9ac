#!/usr/bin/env node
// Writes the independent detection corpora: 60% visible (test/corpora/independent/) and 40%
// held out (attacks-held-out/detection/). Items are numbered per category and split by position
// (every 5 items: 3 visible, 2 held out), so each part has every class. Run once; the JSON files
// are the corpora (the RSA and EC keys are random, the rest is seeded). Then run prettier --write
// on the JSON files.
import { mkdirSync, writeFileSync } from "node:fs";
import { URL, fileURLToPath } from "node:url";
import { commands } from "./commands.mjs";
import { injection } from "./injection.mjs";
import { poisoning } from "./poisoning.mjs";
import { redaction } from "./redaction.mjs";
import { urls } from "./urls.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const sets = {
  redaction: ["red", redaction()],
  injection: ["inj", injection()],
  poisoning: ["poi", poisoning()],
  commands: ["cmd", commands()],
  urls: ["url", urls()],
};
mkdirSync(`${root}test/corpora/independent`, { recursive: true });
for (const [name, [prefix, items]] of Object.entries(sets)) {
  const visible = [];
  const held = [];
  items.forEach((item, i) => {
    const out = { id: `${prefix}-${String(i + 1).padStart(3, "0")}`, ...item };
    if (out.secret === undefined) delete out.secret;
    (i % 5 === 1 || i % 5 === 3 ? held : visible).push(out);
  });
  writeFileSync(`${root}test/corpora/independent/${name}.json`, JSON.stringify(visible, null, 2) + "\n");
  writeFileSync(`${root}attacks-held-out/detection/${name}.json`, JSON.stringify(held, null, 2) + "\n");
  const count = (xs, e) => xs.filter((x) => e.includes(x.expect)).length;
  const pos = ["redact", "block", "flag", "deny"];
  console.log(
    `${name}: ${items.length} (visible ${visible.length}: ${count(visible, pos)} attacks/${visible.length - count(visible, pos)} benign; held out ${held.length}: ${count(held, pos)}/${held.length - count(held, pos)})`,
  );
}
