/**
 * Failed sign-ins per (user name, peer address) over a window: past the limit, further attempts
 * are refused without checking the password, which bounds online guessing and the scrypt work an
 * attacker can make the server do. Keyed by address too, so nobody can lock a user out from
 * elsewhere. In memory, bounded; shared rate limits come with the rate-limit stage.
 */
export class LoginThrottle {
  private readonly entries = new Map<string, { failures: number; since: number }>();

  constructor(
    private readonly limit = 10,
    private readonly windowMs = 15 * 60 * 1000,
    private readonly maxKeys = 10_000,
  ) {}

  blocked(key: string, now = Date.now()): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    if (now - entry.since > this.windowMs) {
      this.entries.delete(key);
      return false;
    }
    return entry.failures >= this.limit;
  }

  fail(key: string, now = Date.now()): void {
    const entry = this.entries.get(key);
    if (entry && now - entry.since <= this.windowMs) {
      entry.failures++;
      return;
    }
    if (this.entries.size >= this.maxKeys) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { failures: 1, since: now });
  }

  succeed(key: string): void {
    this.entries.delete(key);
  }
}
