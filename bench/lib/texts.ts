/**
 * The texts bench/redaction.ts and bench/injection.ts measure on, and how they measure: seeded, so
 * every run (and every checkout, with `--base`) sees the same bytes.
 */
import { readFileSync } from "node:fs";
import { generateCorpus, rng } from "../../test/corpora/redaction/generate.js";

const { positives, negatives } = generateCorpus(7, 40);
const r = rng(42);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;

/** Lines of ordinary tool output: logs, JSON, a commit, prose, a stack frame, Chinese. */
export const FILLER = [
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

/**
 * Mixed tool output of about `bytes` UTF-8 bytes: filler lines, with a secret or PII value (from
 * the redaction corpus, many of them disguised) or a look-alike about every 2 KiB.
 */
export function mixedText(bytes: number): string {
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    const line = r() < 0.05 ? pick(positives).text : r() < 0.05 ? pick(negatives).text : pick(FILLER)();
    parts.push(line);
    n += Buffer.byteLength(line) + 1;
  }
  return parts.join("\n");
}

/** English prose, as documentation and answers are: the benign injection corpus, shuffled. */
export function proseText(bytes: number): string {
  const url = new URL("../../test/corpora/injection/benign.json", import.meta.url);
  const cases = (JSON.parse(readFileSync(url, "utf8")) as { cases: Array<{ text: string }> }).cases;
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    const { text } = pick(cases);
    parts.push(text);
    n += Buffer.byteLength(text) + 2;
  }
  return parts.join("\n\n");
}

/** The first `bytes` UTF-8 bytes of `text`, cut on a character. */
export function firstBytes(text: string, bytes: number): string {
  const cut = Buffer.from(text).subarray(0, bytes).toString("utf8");
  return cut.endsWith("\uFFFD") ? cut.slice(0, -1) : cut;
}

/** One implementation measured: its name and the call (a checkout's, with `--base`). */
export interface Variant {
  readonly name: string;
  readonly run: (text: string) => unknown;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** CPU time of this process so far (all its threads: the collector's too), in ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * MB/s on `text` for each variant: 300 ms of warm-up calls each, then `rounds` timed calls taken in
 * turn (variant A, B, A, B…), so that load from elsewhere falls on all of them alike. The median of
 * wall time, and of CPU time (less disturbed on a shared machine, where wall time includes waits
 * for a core).
 */
export function throughput(label: string, variants: readonly Variant[], text: string, rounds: number): void {
  const mb = Buffer.byteLength(text) / 1e6;
  const cold = variants.map((v) => {
    const t0 = process.hrtime.bigint();
    v.run(text);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  });
  for (const v of variants) {
    const warm = process.hrtime.bigint();
    while (process.hrtime.bigint() - warm < 300_000_000n) v.run(text);
  }
  const times = variants.map(() => [] as number[]);
  const cpu = variants.map(() => [] as number[]);
  for (let i = 0; i < rounds; i++) {
    variants.forEach((v, k) => {
      const c0 = cpuMs();
      const t0 = process.hrtime.bigint();
      v.run(text);
      (times[k] as number[]).push(Number(process.hrtime.bigint() - t0) / 1e6);
      (cpu[k] as number[]).push(cpuMs() - c0);
    });
  }
  variants.forEach((v, k) => {
    const ms = median(times[k] as number[]);
    const cms = median(cpu[k] as number[]);
    console.log(
      `${`${label}${v.name}`.padEnd(44)} ${(mb / (ms / 1000)).toFixed(1).padStart(6)} MB/s  (median ${ms.toFixed(1)} ms; CPU ${cms.toFixed(1)} ms, ${(mb / (cms / 1000)).toFixed(1)} MB/s; cold first call ${(cold[k] as number).toFixed(1)} ms)`,
    );
  });
}

/**
 * µs per call on a small text, p50 and p99 of batches of 100 calls (a single call is below the
 * timer's useful resolution), the variants' batches taken in turn.
 */
export function perCall(label: string, variants: readonly Variant[], text: string, iterations: number): void {
  for (const v of variants) for (let i = 0; i < 2000; i++) v.run(text);
  const samples = variants.map(() => [] as number[]);
  const batch = 100;
  for (let done = 0; done < iterations; done += batch) {
    variants.forEach((v, k) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < batch; i++) v.run(text);
      (samples[k] as number[]).push(Number(process.hrtime.bigint() - t0) / 1000 / batch);
    });
  }
  variants.forEach((v, k) => {
    const s = (samples[k] as number[]).sort((a, b) => a - b);
    const p = (q: number) => (s[Math.min(s.length - 1, Math.floor(s.length * q))] as number).toFixed(1);
    console.log(`${`${label}${v.name}`.padEnd(44)} p50 ${p(0.5)} µs  p99 ${p(0.99)} µs per call`);
  });
}

/** `--base DIR`: another checkout (its node_modules linked) to measure side by side with this one. */
export function baseDir(argv: readonly string[]): string | undefined {
  const i = argv.indexOf("--base");
  return i >= 0 ? argv[i + 1] : undefined;
}
