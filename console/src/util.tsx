// Small shared pieces: loading a resource with its error, polling, time formatting.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { messageOf } from "./api";

export interface Loaded<T> {
  data: T | undefined;
  error: string;
  reload(): void;
}

/** Loads `fetcher()` now, again on `reload()`, and every `everyMs` when given. */
export function useLoad<T>(fetcher: () => Promise<T>, deps: unknown[], everyMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState("");
  const generation = useRef(0);
  // The fetcher is a new closure each render; `deps` say when it fetches something else.
  const load = useCallback(fetcher, deps);

  const reload = useCallback(() => {
    const mine = ++generation.current;
    load().then(
      (d) => {
        if (mine !== generation.current) return;
        setData(d);
        setError("");
      },
      (err: unknown) => {
        if (mine === generation.current) setError(messageOf(err));
      },
    );
  }, [load]);

  useEffect(() => {
    reload();
    if (everyMs === undefined) return;
    const timer = setInterval(reload, everyMs);
    return () => {
      clearInterval(timer);
      generation.current++;
    };
  }, [reload, everyMs]);

  return { data, error, reload };
}

export function ErrorNote({ error }: { error: string }) {
  return error === "" ? null : (
    <p class="error" role="alert">
      {error}
    </p>
  );
}

/**
 * The one time format of the console: UTC to the second, `2026-12-07 05:30:59 UTC`, as the CLI,
 * the audit log and the gateway's logs write it (they use ISO 8601 in UTC), or "—".
 */
export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** A time of day in the same zone, for chart axes: `05:30`. */
export function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString().slice(11, 16);
}

export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d} d ${h} h` : h > 0 ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}
