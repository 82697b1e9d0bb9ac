// node --import tsx bench/redaction.ts [--quick] [--base DIR]
// Redaction throughput: MB/s on 1 MiB and 10 MiB mixed tool output (log and JSON lines, numbers,
// timestamps, hashes, Chinese, with a secret or PII value, often disguised, about every 2 KiB),
// and µs per call on a 1 KiB result; normalisation is always on. Targets (issue 18): ≥ 100 MB/s
// on 1 MiB, p50 < 50 µs on 1 KiB. Also the same with one custom pattern. `--quick`: 1 MiB and
// 1 KiB only. `--base DIR`: the same measured on another checkout too, in turn with this one.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as here from "../src/protect/redaction/index.js";
import { baseDir, FILLER, mixedText, perCall, throughput, type Variant } from "./lib/texts.js";

type Module = typeof here;
const quick = process.argv.includes("--quick");
const base = baseDir(process.argv);
const modules: Array<[string, Module]> = [["", here]];
if (base !== undefined) {
  const url = pathToFileURL(resolve(base, "src/protect/redaction/index.ts")).href;
  modules.unshift([" (base)", (await import(url)) as Module]);
}

const key = new Uint8Array(32).fill(9);
const variants = (custom: boolean): Variant[] =>
  modules.map(([name, m]) => {
    const red = m.compileRedactor({
      hashKey: key,
      custom: custom ? [{ name: "employee_id", pattern: "EMP-[0-9]{6}" }] : undefined,
    });
    return { name, run: (t: string) => red.redact(t) };
  });
const builtin = variants(false);
const withCustom = variants(true);

const mib = mixedText(1 << 20);
const kib = mixedText(1024).slice(0, 1024);
const kibClean = FILLER.map((f) => f())
  .join("\n")
  .repeat(4)
  .slice(0, 1024);

console.log(`node ${process.version}, ${process.arch}`);
for (const [name, m] of modules) {
  const counts = m.compileRedactor({ hashKey: key }).redact(mib).counts;
  console.log(`findings in 1 MiB${name}: ${Object.values(counts).reduce((a, b) => a + b, 0)}`);
}
throughput("built-in, 1 MiB mixed", builtin, mib, 25);
if (!quick) {
  const tenMib = mixedText(10 << 20); // made after the 1 MiB run, so its garbage is not collected there
  throughput("built-in, 10 MiB mixed", builtin, tenMib, 5);
  throughput("built-in + 1 custom (RE2), 1 MiB", withCustom, mib, 5);
  throughput("built-in + 1 custom (RE2), 10 MiB", withCustom, tenMib, 3);
}
perCall("built-in, 1 KiB mixed", builtin, kib, 20000);
perCall("built-in, 1 KiB without findings", builtin, kibClean, 20000);
if (!quick) perCall("built-in + 1 custom, 1 KiB", withCustom, kib, 20000);
