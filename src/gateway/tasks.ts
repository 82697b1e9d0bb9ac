/**
 * The tasks extension (`io.modelcontextprotocol/tasks`, 2026-07-28): a server may answer a call
 * with a task handle (`resultType: "task"`, `taskId`) and the caller then polls `tasks/get`,
 * answers with `tasks/update`, or stops it with `tasks/cancel`. The gateway remembers which server
 * and tool made each task for which caller, so those methods go to that server only and are
 * judged as calls of that tool (scopes, policy, limits, kill switch, audit). Another caller's
 * task, or one the gateway never saw made, is unknown: nothing is forwarded.
 */

/** Tasks remembered at once; the oldest are forgotten past it. */
const MAX_TASKS = 10_000;
/** How long a task is remembered when its server names no `ttlMs`. */
const DEFAULT_TTL_MS = 3_600_000;
/** A server's `ttlMs` is honoured up to this. */
const MAX_TTL_MS = 7 * 24 * 3_600_000;

export interface TaskOwner {
  readonly server: string;
  /** The tool (its name on the server) whose call made the task. */
  readonly tool: string;
}

export class TaskOwners {
  private readonly tasks = new Map<string, TaskOwner & { readonly until: number }>();

  /** `caller` (route and callerId) made `taskId` with a call of `owner`'s tool. */
  remember(caller: string, taskId: string, owner: TaskOwner, ttlMs: unknown): void {
    const ttl = typeof ttlMs === "number" && ttlMs > 0 ? Math.min(ttlMs, MAX_TTL_MS) : DEFAULT_TTL_MS;
    const key = `${caller}\u0000${taskId}`;
    this.tasks.delete(key);
    this.tasks.set(key, { ...owner, until: Date.now() + ttl });
    if (this.tasks.size > MAX_TASKS) this.tasks.delete(this.tasks.keys().next().value as string);
  }

  /** Who made `taskId` for `caller`, while the task lives; undefined for anyone else's. */
  owner(caller: string, taskId: unknown): TaskOwner | undefined {
    if (typeof taskId !== "string") return undefined;
    const key = `${caller}\u0000${taskId}`;
    const held = this.tasks.get(key);
    if (!held) return undefined;
    if (held.until < Date.now()) {
      this.tasks.delete(key);
      return undefined;
    }
    return held;
  }
}
