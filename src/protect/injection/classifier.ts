/**
 * An external prompt-injection classifier (`protect.injection.classifier`), asked about a result
 * after the local detector, in the shape guardrail services take (LLM Guard's `analyze/output`,
 * Model Armor's `sanitizeModelResponse`, Bedrock's `ApplyGuardrail` with `source: OUTPUT`):
 *
 *   POST <url>   content-type: application/json   [authorization: Bearer <token>]
 *   { "source": "OUTPUT", "origin": "<server>/<tool>", "content": [{ "text": "…" }, …] }
 *
 *   200 { "flagged": true|false, "score"?: 0..1, "categories"?: ["prompt_injection", …] }
 *
 * Anything else (a timeout, a network error, another status, a body that is not that JSON) is a
 * failure, and `on_error` decides: `block` (the default) withholds the result, `allow` passes it.
 * An adapter in front of a service with another shape maps it to this one.
 */
import * as z from "zod";
import type { InjectionClassifierConfig } from "../../config/types.js";

/** Text sent per request; a result with more is a failure (on_error), not silently cut. */
export const MAX_CLASSIFIER_CHARS = 1024 * 1024;
const MAX_RESPONSE_BYTES = 64 * 1024;

const verdictSchema = z.object({
  flagged: z.boolean(),
  score: z.number().min(0).max(1).optional(),
  categories: z.array(z.string().max(64)).max(16).optional(),
});

export type ClassifierVerdict =
  | {
      readonly ok: true;
      readonly flagged: boolean;
      readonly score?: number;
      readonly categories: readonly string[];
    }
  | { readonly ok: false; readonly error: string };

export interface InjectionClassifier {
  readonly onError: "block" | "allow";
  /** Never throws: a failure comes back as `{ ok: false }`. */
  classify(texts: readonly string[], origin: string): Promise<ClassifierVerdict>;
}

async function readBounded(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      throw new Error("answer too large");
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export function compileClassifier(config: InjectionClassifierConfig): InjectionClassifier {
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (config.token !== undefined) headers.authorization = `Bearer ${config.token}`;
  return {
    onError: config.onError,
    async classify(texts, origin) {
      let total = 0;
      for (const t of texts) total += t.length;
      if (total > MAX_CLASSIFIER_CHARS) return { ok: false, error: "too much text to classify" };
      try {
        const res = await fetch(config.url, {
          method: "POST",
          headers,
          body: JSON.stringify({ source: "OUTPUT", origin, content: texts.map((text) => ({ text })) }),
          signal: AbortSignal.timeout(config.timeoutMs),
          redirect: "error",
        });
        const body = await readBounded(res);
        if (res.status !== 200) return { ok: false, error: `classifier answered ${res.status}` };
        const parsed = verdictSchema.safeParse(JSON.parse(body));
        if (!parsed.success) return { ok: false, error: "classifier answer not of the documented shape" };
        return {
          ok: true,
          flagged: parsed.data.flagged,
          score: parsed.data.score,
          categories: parsed.data.categories ?? [],
        };
      } catch (err) {
        const name = err instanceof Error ? err.name : "";
        return {
          ok: false,
          error: name === "TimeoutError" ? "classifier timed out" : "classifier unreachable or unreadable",
        };
      }
    },
  };
}
