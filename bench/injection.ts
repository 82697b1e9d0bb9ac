// node --import tsx bench/injection.ts [--base DIR]
// Injection detector throughput: MB/s on 1 MiB of mixed tool output (bench/redaction.ts's text) and
// on 1 MiB of English prose (the benign injection corpus), and µs per call on 1 KiB of each; the
// folded reading (normalisation) is always on. Last, one result's whole inbound check as the
// gateway makes it: inspect, then redact what it returns. `--base DIR`: the same measured on
// another checkout too, in turn with this one.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as injection from "../src/protect/injection/index.js";
import * as redaction from "../src/protect/redaction/index.js";
import { baseDir, firstBytes, mixedText, perCall, proseText, throughput, type Variant } from "./lib/texts.js";

type Modules = [typeof injection, typeof redaction];
const base = baseDir(process.argv);
const checkouts: Array<[string, Modules]> = [["", [injection, redaction]]];
if (base !== undefined) {
  const load = (path: string) => import(pathToFileURL(resolve(base, path)).href);
  checkouts.unshift([
    " (base)",
    [await load("src/protect/injection/index.ts"), await load("src/protect/redaction/index.ts")] as Modules,
  ]);
}

const ctx = { toolNames: ["files__write_file", "files__read_file", "send_email"] };
const inspect: Variant[] = checkouts.map(([name, [inj]]) => {
  const detector = inj.compileInjectionDetector();
  return { name, run: (t: string) => detector.inspect(t, ctx) };
});
const inbound: Variant[] = checkouts.map(([name, [inj, red]]) => {
  const detector = inj.compileInjectionDetector();
  const redactor = red.compileRedactor({ hashKey: new Uint8Array(32).fill(9) });
  return { name, run: (t: string) => redactor.redact(detector.inspect(t, ctx).text) };
});

const mixed = mixedText(1 << 20);
const prose = proseText(1 << 20);
const kibMixed = firstBytes(mixedText(4096), 1024);
const kibProse = firstBytes(proseText(4096), 1024);

console.log(`node ${process.version}, ${process.arch}`);
for (const [name, [inj]] of checkouts) {
  const d = inj.compileInjectionDetector();
  console.log(
    `signals${name}: 1 MiB mixed ${d.inspect(mixed, ctx).signals.length}, 1 MiB prose ${d.inspect(prose, ctx).signals.length}`,
  );
}
throughput("inspect, 1 MiB mixed", inspect, mixed, 11);
throughput("inspect, 1 MiB prose", inspect, prose, 11);
perCall("inspect, 1 KiB mixed", inspect, kibMixed, 10000);
perCall("inspect, 1 KiB prose", inspect, kibProse, 10000);
throughput("inspect + redact, 1 MiB mixed", inbound, mixed, 11);
perCall("inspect + redact, 1 KiB mixed", inbound, kibMixed, 10000);
