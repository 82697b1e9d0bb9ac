import { GatewayError, ErrorCode } from "../errors.js";

/**
 * The machine's share the gateway may take in upstream processes (`gateway.max_upstream_processes`):
 * every stdio process it runs, of every server and isolation mode, spares included, holds one
 * place from its launch until it closes. Sessions are cheap; processes are not, so they are counted
 * apart, and a `per_session` server cannot launch its way past the machine.
 */
export class ProcessBudget {
  private held = 0;

  constructor(readonly max: number) {}

  get count(): number {
    return this.held;
  }

  /** A place for one more process, or undefined when none is left. The release runs once. */
  take(): (() => void) | undefined {
    if (this.held >= this.max) return undefined;
    this.held++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held--;
    };
  }

  /** Like `take`, but a full budget is the caller's -32005 `upstream_capacity`. */
  require(server: string): () => void {
    const release = this.take();
    if (release) return release;
    throw new GatewayError(
      ErrorCode.UpstreamUnavailable,
      "upstream_capacity",
      `upstream ${server} is unavailable: the gateway runs its maximum of upstream processes`,
      { server },
      503,
    );
  }
}
