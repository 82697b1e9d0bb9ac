/**
 * A view for finding words an author disguised: letters spaced or dotted apart ("i g n o r e",
 * "p-a-s-s-w-o-r-d") joined, leetspeak digits and symbols inside words read as letters ("p4ssw0rd",
 * "s3cr3t"), and case folded to lower. Meant for keyword and phrase detectors (injection, poisoning,
 * keyword-anchored secrets), never for validating a value: it changes digits. One pass, linear.
 */
import type { View } from "./view.js";

/** Leetspeak read as letters, only between letters (so "2024" and "v1.2" stay digits). */
const LEET: Readonly<Record<string, string>> = {
  __proto__: null,
  "0": "o",
  "1": "i",
  "3": "e",
  "4": "a",
  "5": "s",
  "7": "t",
  "8": "b",
  "@": "a",
  $: "s",
  "!": "i",
  "|": "l",
} as unknown as Record<string, string>;

const isLetter = (c: string): boolean => /^\p{L}$/u.test(c);
const SEPARATOR = /^[ \t.\-_*·•]$/;

/** The words view of `text` (whole text: callers pass a bounded text). */
export function wordsView(text: string): View {
  const chars = [...text];
  const starts: number[] = [];
  let at = 0;
  for (const c of chars) {
    starts.push(at);
    at += c.length;
  }
  const letterish = (k: number): boolean => {
    const c = chars[k];
    return c !== undefined && (isLetter(c) || Object.hasOwn(LEET, c));
  };
  const parts: string[] = [];
  const from: number[] = [];
  const to: number[] = [];
  for (let k = 0; k < chars.length; k++) {
    const c = chars[k] as string;
    // A separator between two single letters ("p a s s"): the letters are one word.
    if (SEPARATOR.test(c) && letterish(k - 1) && letterish(k + 1) && !letterish(k - 2) && !letterish(k + 2))
      continue;
    const inWord = letterish(k - 1) || letterish(k + 1);
    const out = Object.hasOwn(LEET, c) && !isLetter(c) && inWord ? (LEET[c] as string) : c.toLowerCase();
    parts.push(out);
    for (let j = 0; j < out.length; j++) {
      from.push(starts[k] as number);
      to.push((starts[k] as number) + c.length);
    }
  }
  return { text: parts.join(""), from: Int32Array.from(from), to: Int32Array.from(to) };
}
