import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { InjectionContext } from "../../../src/protect/injection/index.js";

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../corpora/injection");

export type Encoding = "base64" | "hex" | "percent" | "tags" | "zero_width" | "zw_run" | "bidi";

export interface CorpusCase {
  readonly id: string;
  readonly lang: string;
  readonly form: string;
  readonly text: string;
  readonly payload?: string;
  readonly encode?: Encoding;
  /** Only in holdout.json, which mixes both. */
  readonly label?: "attack" | "benign";
}

interface CorpusFile {
  readonly context: InjectionContext;
  readonly cases: readonly CorpusCase[];
}

/** Invisible ASCII: each character shifted into the Unicode tag block. */
export function toTags(s: string): string {
  return [...s].map((c) => String.fromCodePoint(0xe0000 + (c.codePointAt(0)! & 0x7f))).join("");
}

export function encodePayload(encoding: Encoding, s: string): string {
  switch (encoding) {
    case "base64":
      return Buffer.from(s, "utf8").toString("base64");
    case "hex":
      return Buffer.from(s, "utf8").toString("hex");
    case "percent":
      return [...Buffer.from(s, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
    case "tags":
      return toTags(s);
    case "zero_width":
      return [...s].join("\u200b");
    case "zw_run":
      return [...Buffer.from(s, "utf8")]
        .map((b) =>
          [...b.toString(2).padStart(8, "0")].map((bit) => (bit === "1" ? "\u200c" : "\u200b")).join(""),
        )
        .join("\u2060");
    case "bidi":
      return `\u202e${s}\u202c`;
  }
}

/** The text a tool would return: `payload` encoded and put in place of {{payload}}. */
export function render(c: CorpusCase): string {
  if (c.payload === undefined || c.encode === undefined) return c.text;
  return c.text.replace("{{payload}}", encodePayload(c.encode, c.payload));
}

export function loadCorpus(name: "attacks.json" | "benign.json" | "holdout.json"): CorpusFile {
  return JSON.parse(readFileSync(path.join(dir, name), "utf8")) as CorpusFile;
}

/** The held-out split: every fifth case (1-based index divisible by 5). */
export function heldOut(index: number): boolean {
  return (index + 1) % 5 === 0;
}
