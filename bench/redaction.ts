// node --import tsx bench/redaction.ts
// Redaction throughput: MB/s on 1 MiB and 10 MiB mixed tool output (log and JSON lines, numbers,
// timestamps, hashes, with a secret or PII value about every 2 KiB), and µs per call on a 1 KiB
// result. Targets (issue 5): ≥ 100 MB/s, < 20 µs per 1 KiB. Also the same with one custom pattern.
import { compileRedactor, type Redactor } from "../src/protect/redaction/index.js";
import { generateCorpus, rng } from "../test/corpora/redaction/generate.js";

const { positives, negatives } = generateCorpus(7, 40);
const r = rng(42);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const FILLER = [
  () =>
    `2026-11-26T07:${Math.floor(r() * 60)}:12.345Z INFO request handled in ${Math.floor(r() * 900)} ms path=/api/v1/items/${Math.floor(r() * 1e6)}`,
  () =>
    `{"id": ${Math.floor(r() * 1e9)}, "name": "widget", "price": ${(r() * 100).toFixed(2)}, "updated": ${1732612345678 + Math.floor(r() * 1e6)}}`,
  () => `commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904 Merge branch 'main' of github.com:org/repo`,
  () =>
    `The quick brown fox jumps over the lazy dog; lorem ipsum dolor sit amet, consectetur adipiscing elit.`,
  () => `  at Object.<anonymous> (/srv/app/node_modules/pkg/lib/index.js:${Math.floor(r() * 900)}:17)`,
  () => `用户查询结果：共 ${Math.floor(r() * 100)} 条记录，耗时 ${Math.floor(r() * 100)} 毫秒。`,
];

function mixed(bytes: number): string {
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    const line = r() < 0.05 ? pick(positives).text : r() < 0.05 ? pick(negatives).text : pick(FILLER)();
    parts.push(line);
    n += Buffer.byteLength(line) + 1;
  }
  return parts.join("\n");
}

// A gateway redacts for hours: the figure is the steady state after the JIT has compiled the
// detectors (300 ms of warm-up calls), and the first, cold call is printed beside it.
function throughput(name: string, red: Redactor, text: string, rounds: number): void {
  const c0 = process.hrtime.bigint();
  red.redact(text);
  const cold = Number(process.hrtime.bigint() - c0) / 1e6;
  const warm = process.hrtime.bigint();
  while (process.hrtime.bigint() - warm < 300_000_000n) red.redact(text);
  const times: number[] = [];
  let findings = 0;
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    const out = red.redact(text);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    findings = Object.values(out.counts).reduce((a, b) => a + b, 0);
  }
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)] as number;
  const mb = Buffer.byteLength(text) / 1e6;
  console.log(
    `${name.padEnd(34)} ${(mb / (ms / 1000)).toFixed(0).padStart(5)} MB/s  (median ${ms.toFixed(1)} ms, cold first call ${cold.toFixed(1)} ms, ${findings} findings)`,
  );
}

function perCall(name: string, red: Redactor, text: string, iterations: number): void {
  for (let i = 0; i < 2000; i++) red.redact(text);
  const samples: number[] = [];
  const batch = 100;
  for (let done = 0; done < iterations; done += batch) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) red.redact(text);
    samples.push(Number(process.hrtime.bigint() - t0) / 1000 / batch);
  }
  samples.sort((a, b) => a - b);
  const p = (q: number) =>
    (samples[Math.min(samples.length - 1, Math.floor(samples.length * q))] as number).toFixed(1);
  console.log(`${name.padEnd(34)} p50 ${p(0.5)} µs  p99 ${p(0.99)} µs per call`);
}

const key = new Uint8Array(32).fill(9);
const builtin = compileRedactor({ hashKey: key });
const withCustom = compileRedactor({
  hashKey: key,
  custom: [{ name: "employee_id", pattern: "EMP-[0-9]{6}" }],
});
const mib = mixed(1 << 20);
const kib = mixed(1024).slice(0, 1024);
const kibClean = FILLER.map((f) => f())
  .join("\n")
  .repeat(4)
  .slice(0, 1024);

console.log(`node ${process.version}, ${process.arch}`);
throughput("built-in, 1 MiB mixed", builtin, mib, 25);
const tenMib = mixed(10 << 20); // made after the 1 MiB run, so its garbage is not collected there
throughput("built-in, 10 MiB mixed", builtin, tenMib, 5);
throughput("built-in + 1 custom (RE2), 1 MiB", withCustom, mib, 5);
throughput("built-in + 1 custom (RE2), 10 MiB", withCustom, tenMib, 3);
perCall("built-in, 1 KiB mixed", builtin, kib, 20000);
perCall("built-in, 1 KiB without findings", builtin, kibClean, 20000);
perCall("built-in + 1 custom, 1 KiB", withCustom, kib, 20000);
