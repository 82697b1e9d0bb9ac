/** What the registry needs of a session: when its client last used it. */
export interface Held {
  readonly lastSeen: number;
}

/**
 * Sessions by caller (`callerId`: a user, or an anonymous source address), and the two rules that
 * keep any caller from holding the gateway's capacity against the others (docs/operations.md,
 * "Sessions"): a caller at its cap gives up its own least recently used session, and a full
 * gateway takes one from the caller holding the most, when it holds at least two more than the
 * newcomer. So a caller under its cap is refused only while no caller holds more than one session
 * above its own count.
 */
export class CallerSessions<S extends Held> {
  private readonly byCaller = new Map<string, Set<S>>();
  /** Fixed when the session opened: a refreshed principal never moves a session to another caller. */
  private readonly callerOf = new Map<S, string>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerCaller: number,
  ) {}

  get size(): number {
    return this.callerOf.size;
  }

  get full(): boolean {
    return this.callerOf.size >= this.maxTotal;
  }

  /** The session `caller` gives up before it may open another: its least recently used, at its cap. */
  overCap(caller: string): S | undefined {
    const own = this.byCaller.get(caller);
    return own && own.size >= this.maxPerCaller ? leastRecent(own) : undefined;
  }

  /**
   * When full: the session that makes room for `caller`, the least recently used of the caller
   * holding the most (among equals, the one whose session is oldest), if it holds at least two more
   * than `caller` (one more would only hand the imbalance back and forth).
   */
  yieldingTo(caller: string): S | undefined {
    const mine = this.byCaller.get(caller)?.size ?? 0;
    let most = 0;
    let victim: S | undefined;
    for (const [other, held] of this.byCaller) {
      if (other === caller || held.size < mine + 2 || held.size < most) continue;
      const oldest = leastRecent(held) as S;
      if (held.size > most || !victim || oldest.lastSeen < victim.lastSeen) victim = oldest;
      most = held.size;
    }
    return victim;
  }

  add(caller: string, session: S): void {
    this.callerOf.set(session, caller);
    const own = this.byCaller.get(caller);
    if (own) own.add(session);
    else this.byCaller.set(caller, new Set([session]));
  }

  delete(session: S): void {
    const caller = this.callerOf.get(session);
    if (caller === undefined) return;
    this.callerOf.delete(session);
    const own = this.byCaller.get(caller) as Set<S>;
    own.delete(session);
    if (own.size === 0) this.byCaller.delete(caller);
  }

  /** How many sessions `caller` holds. */
  count(caller: string): number {
    return this.byCaller.get(caller)?.size ?? 0;
  }
}

function leastRecent<S extends Held>(sessions: Iterable<S>): S | undefined {
  let oldest: S | undefined;
  for (const s of sessions) if (!oldest || s.lastSeen < oldest.lastSeen) oldest = s;
  return oldest;
}
