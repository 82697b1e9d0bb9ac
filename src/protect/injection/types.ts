export type SignalKind =
  | "override"
  | "role"
  | "fake_tag"
  | "hidden_unicode"
  | "exfil_link"
  | "encoded"
  | "tool_call_to_action"
  /** The external classifier (`protect.injection.classifier`) flagged the result. */
  | "classifier";

export interface Signal {
  readonly kind: SignalKind;
  /** Short (at most ~80 characters), never the whole text. */
  readonly detail: string;
  /** UTF-16 offset in the returned (stripped) text. */
  readonly offset?: number;
}

/** One scored observation; signals are cues whose cluster reached the threshold. */
export interface Cue {
  readonly kind: SignalKind;
  /** Stable rule id: a rule counts once per window however often it matches. */
  readonly rule: string;
  readonly weight: number;
  readonly detail: string;
  readonly offset: number;
}

/** Every rule stops after this many matches, so hostile repetition costs nothing more. */
export const MAX_MATCHES_PER_RULE = 8;

/** A short, printable excerpt for a signal's detail. */
export function excerpt(text: string, max = 60): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(cut.replace(/\s+/g, " "));
}

/** Runs a global regex from the start, at most `limit` matches; zero-length matches advance. */
export function* matches(re: RegExp, text: string, limit = MAX_MATCHES_PER_RULE): Generator<RegExpExecArray> {
  re.lastIndex = 0;
  for (let n = 0; n < limit; n++) {
    const m = re.exec(text);
    if (m === null) return;
    if (m[0].length === 0) re.lastIndex++;
    yield m;
  }
}
