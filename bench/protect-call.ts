// node --import tsx bench/protect-call.ts [--calls N] [--base DIR]
// The data protection of one forwarded echo call, in-process and warm, as the gateway runs it with
// the default config: `Protector.arguments` on `{message: <256 B of prose>}`, `Protector.result`
// on `{content:[{type:"text", text:"Echo: …"}]}` (injection check and redaction of every text and
// key, the joined pass), `Protector.auditArguments`; then the detector's `inspect`, the redactor's
// `redact` and `redactJoined` alone on the echo text. Every input is parsed from JSON, as the
// gateway's are. CPU µs per call (process.cpuUsage over batches of 200 calls; the median batch),
// issue 15's measure. `--base DIR`: the same measured on another checkout too (its node_modules
// linked), batches taken in turn with this one's.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as config from "../src/config/load.js";
import type { Json, JsonObject } from "../src/jsonrpc.js";
import * as protector from "../src/protect/protector.js";
import * as redaction from "../src/protect/redaction/index.js";
import { echoMessage } from "./lib/load.js";
import { baseDir } from "./lib/texts.js";

type Modules = [typeof config, typeof protector, typeof redaction];
const argv = process.argv;
const at = argv.indexOf("--calls");
const CALLS = at >= 0 ? Number(argv[at + 1]) : 20000;
const BATCH = 200;

const base = baseDir(argv);
const checkouts: Array<[string, Modules]> = [["", [config, protector, redaction]]];
if (base !== undefined) {
  const load = (path: string) => import(pathToFileURL(resolve(base, path)).href);
  checkouts.unshift([
    " (base)",
    [
      await load("src/config/load.ts"),
      await load("src/protect/protector.ts"),
      await load("src/protect/redaction/index.ts"),
    ] as Modules,
  ]);
}

const YAML = `gateway: { listen: 127.0.0.1:0 }
auth: { anonymous: [demo:use] }
servers:
  - name: everything
    command: node
    args: [x]
    tools: { "*": [demo:use] }
`;
const context = { source: "everything/echo", toolNames: ["echo", "add", "longRunningOperation"] };
/** Every call's message differs (its number first), as the gateway's do. */
const messages = Array.from({ length: 1000 }, (_, i) => echoMessage(`s${i % 8}-${i}`, 256));

/**
 * A step, and its `i`th call's input: made before the batch is timed, parsed from JSON as the
 * gateway's are (flat strings: a template literal's rope is slower to read unit by unit).
 */
interface Step {
  input(i: number): unknown;
  run(input: unknown): unknown;
}
const names = ["args", "result", "audit", "inspect", "redact", "joined"] as const;
type Steps = Record<(typeof names)[number], Step>;
const parsed = (v: unknown): unknown => JSON.parse(JSON.stringify(v));
const message = (i: number) => messages[i % messages.length]!;
const args = (i: number) => parsed({ message: message(i) });
const echoText = (i: number) => parsed(`Echo: ${message(i)}`);

function steps([cfg, prot, red]: Modules): Steps {
  const server = cfg.parseConfig(YAML, "/tmp/bench.yaml").servers[0]!;
  const key = new Uint8Array(32).fill(3);
  const p = new prot.Protector(server.protect, key, prot.sharedInjectionDetector());
  const detector = prot.sharedInjectionDetector();
  const redactor = red.compileRedactor({ hashKey: key });
  return {
    args: { input: args, run: (a) => p.arguments(a as Json, prot.freshFindings()) },
    result: {
      input: (i) => parsed({ content: [{ type: "text", text: `Echo: ${message(i)}` }] }),
      run: (r) => p.result("tools/call", r as JsonObject, context, prot.freshFindings()),
    },
    audit: { input: args, run: (a) => p.auditArguments(a as Json, 4096, true) },
    inspect: { input: echoText, run: (t) => detector.inspect(t as string, context) },
    redact: { input: echoText, run: (t) => redactor.redact(t as string) },
    joined: { input: echoText, run: (t) => redactor.redactJoined([t as string]) },
  };
}

const variants = checkouts.map(([name, mods]) => ({ name, steps: steps(mods) }));
const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** CPU µs per call of each step, median over batches; variants' batches taken in turn. */
function measure(name: (typeof names)[number], calls: number): number[] {
  const samples = variants.map(() => [] as number[]);
  for (let done = 0; done < calls; done += BATCH) {
    variants.forEach((v, k) => {
      const step = v.steps[name];
      const inputs = Array.from({ length: BATCH }, (_, i) => step.input(done + i));
      const t0 = cpuUs();
      for (const input of inputs) step.run(input);
      samples[k]!.push((cpuUs() - t0) / BATCH);
    });
  }
  return samples.map((s) => s.sort((a, b) => a - b)[Math.floor(s.length / 2)]!);
}

console.log(
  `node ${process.version}, ${process.arch}; ${CALLS} calls a step, CPU µs per call (median batch)`,
);
for (const step of names) measure(step, 5000); // warm-up
const table = names.map((step) => measure(step, CALLS));
for (const [k, v] of variants.entries()) {
  const cells = names.map((step, i) => `${step} ${table[i]![k]!.toFixed(1)}`);
  const call = table[0]![k]! + table[1]![k]! + table[2]![k]!;
  console.log(`${`call${v.name}`.padEnd(12)} ${cells.join("  ")}  | args+result+audit ${call.toFixed(1)}`);
}
