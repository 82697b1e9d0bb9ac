import { existsSync } from "node:fs";
import { auditEvent, type AuditPrincipal } from "../audit/event.js";
import type { AuditLog } from "../audit/log.js";
import type { Logger } from "../log.js";
import { killKey, type Kill, type KillScope, type KillStore } from "./kill-store.js";

/** What a call is, for matching kills: its server and item (absent for lists), and its caller. */
export interface KillTarget {
  readonly server?: string;
  readonly name?: string;
  readonly subject: string;
  readonly clientId?: string;
}

export function killMatches(kill: Kill, t: KillTarget): boolean {
  switch (kill.scope) {
    case "all":
      return true;
    case "server":
      return t.server === kill.target;
    case "tool":
      return t.server !== undefined && t.name !== undefined && `${t.server}/${t.name}` === kill.target;
    case "user":
      return t.subject === kill.target;
    case "user_on_server":
      return t.server !== undefined && `${t.server}/${t.subject}` === kill.target;
    case "client":
      return t.clientId !== undefined && t.clientId === kill.target;
  }
}

const FILE_POLL_MS = 250;

/**
 * The kill switch of one gateway process: the kills in its store (SQLite, or Redis shared by every
 * instance), kept in memory and refreshed when the store changes (pushed over pub/sub with Redis,
 * a 250 ms poll of the SQLite file otherwise), plus the sentinel file, polled every 250 ms. A kill
 * that appears, from anywhere, is handed to `onKill` listeners, which cancel the calls it covers.
 */
export class KillSwitch {
  private kills = new Map<string, Kill>();
  private fileKill: Kill | undefined;
  private readonly listeners: Array<(kill: Kill) => void> = [];
  private stopWatching: (() => void) | undefined;
  private filePoll: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  /** A change was announced while a reload was reading: read again once it ends. */
  private reloadAgain = false;
  /** Kills in force here that the store has not taken yet (it failed): kept, and written again. */
  private readonly unsaved = new Map<string, Kill>();

  constructor(
    private readonly store: KillStore,
    private readonly file: string | undefined,
    private readonly audit: AuditLog,
    private readonly log: Logger,
  ) {}

  /**
   * Loads the kills, or throws: a gateway that cannot read its kills at start must not admit
   * calls (later, a failed reload keeps the last kills known instead).
   */
  async start(): Promise<void> {
    this.replace(await this.store.list());
    this.stopWatching = await this.store.watch(() => void this.reload());
    if (this.file !== undefined) {
      this.pollFile();
      this.filePoll = setInterval(() => this.pollFile(), FILE_POLL_MS);
      this.filePoll.unref();
    }
  }

  stop(): void {
    this.stopWatching?.();
    if (this.filePoll) clearInterval(this.filePoll);
  }

  onKill(listener: (kill: Kill) => void): void {
    this.listeners.push(listener);
  }

  /**
   * The kill that stops this call, if any (the broadest first): one lookup per scope, whatever the
   * number of kills (rules add one per user).
   */
  check(t: KillTarget): Kill | undefined {
    if (this.fileKill) return this.fileKill;
    if (this.kills.size === 0) return undefined;
    const k = this.kills;
    return (
      k.get(killKey("all", "")) ??
      (t.server === undefined ? undefined : k.get(killKey("server", t.server))) ??
      (t.server === undefined || t.name === undefined
        ? undefined
        : k.get(killKey("tool", `${t.server}/${t.name}`))) ??
      k.get(killKey("user", t.subject)) ??
      (t.server === undefined ? undefined : k.get(killKey("user_on_server", `${t.server}/${t.subject}`))) ??
      (t.clientId === undefined ? undefined : k.get(killKey("client", t.clientId)))
    );
  }

  /** Whether any kill of `scope` on `target` is in force (for filtering lists). */
  has(scope: KillScope, target: string): boolean {
    return this.kills.has(killKey(scope, target));
  }

  get active(): readonly Kill[] {
    return [...(this.fileKill ? [this.fileKill] : []), ...this.kills.values()];
  }

  /**
   * Kills (scope, target) here at once and, through the store, everywhere; recorded in the audit
   * log. A brake must never wait on a store: if the store fails, the kill stays in force here, is
   * written again at each reload, and the caller is told (the error) that others may not have it.
   */
  async kill(scope: KillScope, target: string, reason: string, by: AuditPrincipal): Promise<Kill> {
    const kill: Kill = { scope, target, reason, by: by.sub, at: new Date().toISOString() };
    const key = killKey(scope, target);
    this.apply(kill);
    try {
      await this.store.put(kill);
      this.unsaved.delete(key);
    } catch (err) {
      this.unsaved.set(key, kill);
      this.log.error(
        { scope, target, err: (err as Error).message },
        "kill switch: the kill is in force here but the store did not take it; retried at each reload",
      );
      await this.record("kill", kill, by, "local_only");
      throw new Error(`killed on this instance only: the kill store failed: ${(err as Error).message}`);
    }
    await this.record("kill", kill, by, "ok");
    return kill;
  }

  /** Lifts a kill. It loosens, so the audit log must be writable before anything changes. */
  async revive(scope: KillScope, target: string, reason: string, by: AuditPrincipal): Promise<boolean> {
    await this.audit.ready();
    const key = killKey(scope, target);
    const removed = (await this.store.remove(scope, target)) || this.unsaved.has(key);
    this.unsaved.delete(key);
    this.kills.delete(key);
    await this.record(
      "revive",
      { scope, target, reason, by: by.sub, at: new Date().toISOString() },
      by,
      removed ? "ok" : "not_found",
    );
    return removed;
  }

  private async record(action: string, k: Kill, by: AuditPrincipal, status: string): Promise<void> {
    await this.audit.record(
      auditEvent({
        event: "admin",
        principal: by,
        status,
        reason: action,
        detail: { scope: k.scope, target: k.target, why: k.reason },
      }),
    );
  }

  private apply(kill: Kill): void {
    const key = killKey(kill.scope, kill.target);
    const known = this.kills.has(key);
    this.kills.set(key, kill);
    if (known) return;
    this.log.warn(
      { scope: kill.scope, target: kill.target, reason: kill.reason, by: kill.by },
      "kill switch",
    );
    for (const l of this.listeners) l(kill);
  }

  /**
   * The store's kills become the ones in force: new ones applied, revived ones dropped (never one
   * the store has not taken yet).
   */
  private replace(list: readonly Kill[]): void {
    const keys = new Set(list.map((k) => killKey(k.scope, k.target)));
    for (const key of [...this.kills.keys()])
      if (!keys.has(key) && !this.unsaved.has(key)) this.kills.delete(key);
    for (const k of list) this.apply(k);
  }

  /**
   * Writes the unsaved kills, then reads the store again. One reload at a time; a change announced
   * meanwhile makes it read once more, so no announcement is answered with an older read.
   */
  private reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.reloadAgain = false;
        try {
          for (const [key, kill] of this.unsaved) {
            await this.store.put(kill);
            this.unsaved.delete(key);
          }
          this.replace(await this.store.list());
        } catch (err) {
          // The last known kills stay in force; a store that cannot be read never revives anything.
          this.log.error({ err: (err as Error).message }, "kill switch: the store could not be used");
        }
      } while (this.reloadAgain);
    })().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private pollFile(): void {
    const present = existsSync(this.file as string);
    if (present && !this.fileKill) {
      const kill: Kill = {
        scope: "all",
        target: "",
        reason: `kill switch file ${this.file} exists`,
        by: "file",
        at: new Date().toISOString(),
      };
      this.fileKill = kill;
      this.log.warn({ file: this.file }, "kill switch file present: every call is refused");
      for (const l of this.listeners) l(kill);
      void this.record("kill_file", kill, { sub: "file", auth: "file" }, "ok").catch(() => undefined);
    } else if (!present && this.fileKill) {
      const kill = this.fileKill;
      this.fileKill = undefined;
      this.log.warn({ file: this.file }, "kill switch file removed");
      void this.record(
        "revive_file",
        { ...kill, reason: "file removed" },
        { sub: "file", auth: "file" },
        "ok",
      ).catch(() => undefined);
    }
  }
}
