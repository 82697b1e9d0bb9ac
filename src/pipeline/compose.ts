/** An interceptor sees the call, may refuse it (throw), and calls `next()` at most once to go on. */
export type Interceptor<C, R> = (ctx: C, next: () => Promise<R>) => Promise<R>;

/**
 * Composes interceptors into one function, built once at start-up. A second `next()` from the same
 * interceptor is a programming error and throws rather than forwarding a call twice.
 */
export function compose<C, R>(stages: readonly Interceptor<C, R>[], terminal: (ctx: C) => Promise<R>) {
  return function run(ctx: C): Promise<R> {
    // A stage need not be async (one that only checks a call hands on next()'s own promise): a
    // synchronous throw anywhere becomes the rejection an async stage's would have been.
    const dispatch = (i: number): Promise<R> => {
      const stage = stages[i];
      try {
        if (!stage) return terminal(ctx);
        let called = false;
        return stage(ctx, () => {
          if (called) return Promise.reject(new Error(`interceptor ${stage.name || i} called next() twice`));
          called = true;
          return dispatch(i + 1);
        });
      } catch (err) {
        return Promise.reject(err as Error);
      }
    };
    return dispatch(0);
  };
}
