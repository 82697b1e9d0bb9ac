/** Percent-decoding for guards: every round is a separate interpretation that must pass on its own. */

/** More rounds than this and the value is refused: nobody encodes a real path or URL five times. */
export const MAX_DECODE_ROUNDS = 4;

const RUN = /(?:%[0-9a-fA-F]{2})+/g;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** One round; `%` not followed by two hex digits stays literal; undefined when the bytes are not UTF-8. */
export function percentDecodeOnce(value: string): string | undefined {
  if (!value.includes("%")) return value;
  try {
    return value.replace(RUN, (run) => utf8.decode(Buffer.from(run.replace(/%/g, ""), "hex")));
  } catch {
    // invalid UTF-8 such as the overlong `%c0%ae` dot: an attack, not a name
    return undefined;
  }
}

/** `value` and each successive decoding until it is stable; undefined when invalid or still changing. */
export function percentDecodeRounds(value: string): string[] | undefined {
  const rounds = [value];
  let current = value;
  for (let i = 0; i <= MAX_DECODE_ROUNDS; i++) {
    const next = percentDecodeOnce(current);
    if (next === undefined) return undefined;
    if (next === current) return rounds;
    if (i === MAX_DECODE_ROUNDS) return undefined;
    rounds.push(next);
    current = next;
  }
  return undefined;
}
