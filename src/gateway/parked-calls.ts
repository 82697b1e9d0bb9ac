import { randomBytes } from "node:crypto";
import { ErrorCode, GatewayError } from "../errors.js";
import type { Id, JsonObject, Request } from "../jsonrpc.js";
import { isObject } from "../jsonrpc.js";
import type { ModernChannel } from "../transports/modern-channel.js";
import { argumentsDigest, type RequestStates } from "./request-state.js";

/** A call of a modern caller waiting for the caller's input (multi round-trip requests). */
export interface Parked {
  readonly id: string;
  /** The id of the call's first attempt: what the upstream's asks and notifications are tied to. */
  readonly related: Id;
  /** The upstream call, still running: its result, once the caller has given what it asked for. */
  readonly run: Promise<JsonObject>;
  /** Cancels the upstream call (expiry, a closed response stream, the kill switch). */
  readonly controller: AbortController;
  readonly server: string;
  readonly name: string;
  readonly method: string;
  /** The name as the caller gave it, and the digest of its arguments: a retry must repeat both. */
  readonly asked: string;
  readonly digest: string;
  attempt: number;
  /** An attempt is answering for it now: a second retry with the same state is a replay. */
  busy: boolean;
  timer: NodeJS.Timeout;
}

/** Calls one caller's session may keep waiting for input at once; past it the new one is refused. */
const MAX_PARKED = 32;

export type Settled =
  | { readonly kind: "result"; readonly result: JsonObject }
  | { readonly kind: "input_required"; readonly inputRequests: JsonObject; readonly parked: Parked };

/** What the parked calls need of their session. */
export interface ParkingOwner {
  readonly route: string;
  /** callerId of the session's principal. */
  caller(): string;
  /** Hands the caller's answer to a server's request back to the relay (which protects it). */
  deliver(id: number, result: JsonObject): void;
}

/** A refused retry: audited by the session, answered -32602 (the spec's "integrity check failure"). */
export function invalidRequestState(why: string): GatewayError {
  const refusal = new GatewayError(
    ErrorCode.InvalidParams,
    "invalid_request_state",
    "requestState is not valid for this request",
  );
  // For the audit log (Session.refused), not the caller: which check failed would tell it what to try next.
  return Object.assign(refusal, { why });
}

/**
 * How a modern caller's call survives the round trips a server needs (docs/protocol-eras.md).
 * When a server asks the caller something mid-call (a legacy server's elicitation, sampling or
 * roots request, or a modern server's `input_required`), the gateway answers the caller's attempt
 * with `input_required`, carrying the server's (protected) requests and a sealed `requestState`,
 * and keeps the upstream call running here. The retry, after passing the whole pipeline again,
 * hands over the caller's answers and takes up the call where it waits. A call nobody resumes is
 * cancelled upstream when its state expires (`upstream_timeout`).
 */
export class ParkedCalls {
  private readonly calls = new Map<string, Parked>();

  constructor(
    private readonly channel: ModernChannel,
    private readonly states: RequestStates,
    private readonly owner: ParkingOwner,
    private readonly timeoutMs: number,
  ) {}

  /** The parked call a retry continues, once its state proves it may; throws `invalid_request_state`. */
  async claim(request: Request): Promise<Parked> {
    const params = request.params;
    const claims = await this.states.open(params?.requestState);
    if (!claims) throw invalidRequestState("unreadable, altered or expired");
    const p = this.calls.get(claims.call);
    if (!p) throw invalidRequestState("the call it belongs to has ended");
    if (claims.caller !== this.owner.caller() || claims.route !== this.owner.route)
      throw invalidRequestState("issued to another caller");
    const name = params?.name ?? params?.uri;
    if (claims.method !== request.method || claims.name !== name || claims.digest !== digestOf(request))
      throw invalidRequestState("issued for another request");
    if (p.busy || claims.attempt !== p.attempt) throw invalidRequestState("already used");
    p.busy = true;
    return p;
  }

  /**
   * Waits for the call or for a server's question to the caller, whichever comes first. `signal`
   * is this attempt's: while it answers, its cancellation (a closed stream) cancels the call.
   */
  async settle(
    request: Request,
    signal: AbortSignal,
    call: { run: Promise<JsonObject>; controller: AbortController; server: string; name: string },
    parked: Parked | undefined,
  ): Promise<Settled> {
    const related = parked?.related ?? request.id;
    if (parked) {
      const responses = request.params?.inputResponses;
      if (isObject(responses))
        this.channel.answer(related, responses, (id, result) => this.owner.deliver(id, result));
    }
    const cancel = () => call.controller.abort(signal.reason);
    if (signal.aborted) cancel();
    signal.addEventListener("abort", cancel, { once: true });
    try {
      const first = await Promise.race([
        call.run.then((result) => ({ result })),
        this.channel.inputNeeded(related).then(() => undefined),
      ]);
      if (first) {
        this.finish(parked);
        return { kind: "result", result: first.result };
      }
    } catch (err) {
      this.finish(parked);
      throw err;
    } finally {
      signal.removeEventListener("abort", cancel);
    }
    if (!parked && this.calls.size >= MAX_PARKED) {
      call.controller.abort("too many calls waiting for input");
      throw new GatewayError(
        ErrorCode.RateLimited,
        "too_many_waiting",
        "too many calls of this caller are waiting for input",
        { limit: MAX_PARKED },
      );
    }
    const held = parked ?? this.park(request, related, call);
    held.attempt++;
    held.busy = false;
    held.timer.refresh();
    return { kind: "input_required", inputRequests: this.channel.inputRequests(related), parked: held };
  }

  /** The parked call whose first attempt was `related` (what its server's messages are tied to). */
  byRelated(related: Id): { name: string } | undefined {
    for (const p of this.calls.values()) if (p.related === related) return p;
    return undefined;
  }

  /** The `requestState` for the next attempt of `parked`. */
  seal(parked: Parked): Promise<string> {
    return this.states.seal({
      call: parked.id,
      attempt: parked.attempt,
      caller: this.owner.caller(),
      route: this.owner.route,
      method: parked.method,
      name: parked.asked,
      digest: parked.digest,
    });
  }

  /** A retry refused before it reached the call (policy, kill switch, limits): the call ends too. */
  drop(parked: Parked, reason: unknown): void {
    parked.controller.abort(reason);
    this.finish(parked);
  }

  /** Parked calls `matches` covers are cancelled (the kill switch). */
  abortMatching(matches: (server: string, name: string) => boolean, error: GatewayError): number {
    let n = 0;
    for (const p of this.calls.values()) {
      if (!matches(p.server, p.name)) continue;
      p.controller.abort(error);
      n++;
    }
    return n;
  }

  close(): void {
    for (const p of [...this.calls.values()]) {
      p.controller.abort("session closed");
      this.finish(p);
    }
  }

  private park(
    request: Request,
    related: Id,
    call: { run: Promise<JsonObject>; controller: AbortController; server: string; name: string },
  ): Parked {
    const id = randomBytes(16).toString("base64url");
    const params = request.params;
    const timer = setTimeout(() => {
      const p = this.calls.get(id);
      if (!p) return;
      p.controller.abort(
        new GatewayError(
          ErrorCode.InvalidRequest,
          "input_timeout",
          "the caller's input did not come in time",
        ),
      );
      this.finish(p);
    }, this.timeoutMs);
    timer.unref();
    const parked: Parked = {
      id,
      related,
      run: call.run,
      controller: call.controller,
      server: call.server,
      name: call.name,
      method: request.method,
      asked: String(params?.name ?? params?.uri ?? ""),
      digest: digestOf(request),
      attempt: 0,
      busy: false,
      timer,
    };
    // Nobody may be waiting for its outcome any more: a failure then is not unhandled.
    call.run.catch(() => undefined);
    this.calls.set(id, parked);
    return parked;
  }

  private finish(parked: Parked | undefined): void {
    if (!parked) return;
    clearTimeout(parked.timer);
    this.calls.delete(parked.id);
    this.channel.end(parked.related);
  }
}

function digestOf(request: Request): string {
  return argumentsDigest(request.params?.arguments);
}
