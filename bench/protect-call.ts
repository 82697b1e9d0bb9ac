// node --import tsx bench/protect-call.ts [--calls N] [--base DIR]
// The data protection of one forwarded echo call, in-process and warm, as the gateway runs it with
// the default config: `Protector.arguments` on `{message: <256 B of prose>}`, `Protector.result`
// on `{content:[{type:"text", text:"Echo: …"}]}` (injection check and redaction of every text and
// key, the joined pass), `Protector.auditArguments`; then the detector's `inspect`, the redactor's
// `redact` and `redactJoined` alone on the echo text. CPU µs per call (process.cpuUsage over
// batches of 200 calls; the median batch), issue 15's measure. `--base DIR`: the same measured on
// another checkout too (its node_modules linked), batches taken in turn with this one's.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as config from "../src/config/load.js";
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

interface Steps {
  args(m: string): unknown;
  result(m: string): unknown;
  audit(m: string): unknown;
  inspect(m: string): unknown;
  redact(m: string): unknown;
  joined(m: string): unknown;
}

function steps([cfg, prot, red]: Modules): Steps {
  const server = cfg.parseConfig(YAML, "/tmp/bench.yaml").servers[0]!;
  const key = new Uint8Array(32).fill(3);
  const p = new prot.Protector(server.protect, key, prot.sharedInjectionDetector());
  const detector = prot.sharedInjectionDetector();
  const redactor = red.compileRedactor({ hashKey: key });
  const echo = (m: string) => ({ content: [{ type: "text", text: `Echo: ${m}` }] });
  return {
    args: (m) => p.arguments({ message: m }, prot.freshFindings()),
    result: (m) => p.result("tools/call", echo(m), context, prot.freshFindings()),
    audit: (m) => p.auditArguments({ message: m }, 4096, true),
    inspect: (m) => detector.inspect(`Echo: ${m}`, context),
    redact: (m) => redactor.redact(`Echo: ${m}`),
    joined: (m) => redactor.redactJoined([`Echo: ${m}`]),
  };
}

const variants = checkouts.map(([name, mods]) => ({ name, steps: steps(mods) }));
const names = ["args", "result", "audit", "inspect", "redact", "joined"] as const;
const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** CPU µs per call of each step, median over batches; variants' batches taken in turn. */
function measure(step: (typeof names)[number], calls: number): number[] {
  const samples = variants.map(() => [] as number[]);
  let n = 0;
  for (let done = 0; done < calls; done += BATCH) {
    variants.forEach((v, k) => {
      const run = v.steps[step];
      const t0 = cpuUs();
      for (let i = 0; i < BATCH; i++) run(messages[(n + i) % messages.length]!);
      samples[k]!.push((cpuUs() - t0) / BATCH);
    });
    n += BATCH;
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
