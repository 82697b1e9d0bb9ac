import { setTimeout as sleep } from "node:timers/promises";

export interface WaitOptions {
  /** Upper bound on the wait; the test fails with `what` when it passes. Never an assertion on speed. */
  timeoutMs?: number;
  intervalMs?: number;
  /** What is awaited, for the error message. */
  what?: string;
}

/**
 * Polls `probe` until it returns something other than `undefined`/`false`, and returns that.
 * Errors thrown by `probe` count as "not yet"; the last one is reported on timeout.
 */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (true) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? "a condition"}${why}`);
    }
    await sleep(intervalMs);
  }
}

/** Rejects with a clear message if `promise` has not settled within `timeoutMs`. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
