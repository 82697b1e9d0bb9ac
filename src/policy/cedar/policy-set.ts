import { watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import type { AuditLog } from "../../audit/log.js";
import { auditEvent } from "../../audit/event.js";
import { ConfigError } from "../../config/errors.js";
import type { PolicyConfig } from "../../config/types.js";
import type { Logger } from "../../log.js";
import { globMatch } from "../glob.js";
import { CedarAuthorizer } from "./authorizer.js";
import { loadCedar } from "./engine.js";
import { loadPolicyFiles } from "./files.js";

/** How long file events settle before a reload (an editor writes, renames, touches). */
const SETTLE_MS = 150;

/** The problems of `policy.cedar` for `check` and start; empty when the files load and validate. */
export async function cedarProblems(policy: PolicyConfig, configFile: string): Promise<string[]> {
  const loaded = await loadPolicyFiles(await loadCedar(), policy.cedar, configFile);
  return loaded.ok ? [] : [...loaded.problems];
}

/** Loads the policy files into an authorizer, or throws a ConfigError naming file and line. */
export async function loadAuthorizer(policy: PolicyConfig, configFile: string): Promise<CedarAuthorizer> {
  const cedar = await loadCedar();
  const loaded = await loadPolicyFiles(cedar, policy.cedar, configFile);
  if (!loaded.ok) throw new ConfigError(configFile, loaded.problems);
  return new CedarAuthorizer(cedar, loaded.policies, policy, loaded.files, loaded.digest);
}

/**
 * The policy set in force, replaced whole on SIGHUP or when a policy file changes: calls in flight
 * keep the set they started with (a decision is one synchronous engine call), new calls get the new
 * one. A reload that fails keeps the old set, and the log and the audit log say why.
 */
export class CedarPolicySet {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<boolean> | undefined;
  private again = false;
  private readonly onHangup = () => void this.reload("SIGHUP");

  private constructor(
    private authorizer: CedarAuthorizer,
    private readonly config: PolicyConfig,
    private readonly configFile: string,
    private readonly log: Logger,
    private readonly audit: AuditLog | undefined,
  ) {}

  static async open(
    config: PolicyConfig,
    configFile: string,
    log: Logger,
    audit?: AuditLog,
  ): Promise<CedarPolicySet> {
    const started = performance.now();
    const set = new CedarPolicySet(await loadAuthorizer(config, configFile), config, configFile, log, audit);
    log.info(
      {
        policies: set.current.policies.size,
        files: set.current.files.length,
        ms: Math.round(performance.now() - started),
      },
      "cedar policies loaded",
    );
    return set;
  }

  get current(): CedarAuthorizer {
    return this.authorizer;
  }

  /** Reload on SIGHUP and on changes to the policy files or their directories (new files of a glob). */
  watch(): void {
    process.on("SIGHUP", this.onHangup);
    const names = new Map<string, string[]>();
    for (const p of this.config.cedar) names.set(dirname(p), [...(names.get(dirname(p)) ?? []), basename(p)]);
    for (const [dir, patterns] of names) {
      try {
        // Only the policy files' own names: an audit log or database in the same folder, written on
        // every call, must not set off reloads (each of which is audited: a loop).
        const w = watch(dir, { persistent: false }, (_event, name) => {
          if (name === null || patterns.some((p) => globMatch(p, String(name)))) this.settle();
        });
        w.on("error", () => undefined);
        this.watchers.push(w);
      } catch (err) {
        this.log.warn(
          { dir, err: (err as Error).message },
          "policy directory not watched: reload with SIGHUP",
        );
      }
    }
  }

  close(): void {
    process.off("SIGHUP", this.onHangup);
    for (const w of this.watchers) w.close();
    this.watchers = [];
    clearTimeout(this.timer);
  }

  private settle(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload("file change"), SETTLE_MS);
    this.timer.unref();
  }

  /** Loads the files again; true when the new set is in force. One reload at a time. */
  reload(why: string): Promise<boolean> {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = this.load(why).finally(() => {
      this.reloading = undefined;
      if (this.again) {
        this.again = false;
        void this.reload(why);
      }
    });
    return this.reloading;
  }

  private async load(why: string): Promise<boolean> {
    let next: CedarAuthorizer;
    try {
      next = await loadAuthorizer(this.config, this.configFile);
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
      this.log.error({ why, problems }, "cedar policies not reloaded: the previous set stays in force");
      await this.record("failed", { why, problems, policies: this.authorizer.policies.size });
      return false;
    }
    const old = this.authorizer;
    if (next.digest === old.digest && why !== "SIGHUP") {
      next.release();
      return true;
    }
    this.authorizer = next;
    old.release();
    this.log.info({ why, policies: next.policies.size }, "cedar policies reloaded");
    await this.record("ok", { why, policies: next.policies.size });
    return true;
  }

  private async record(status: string, detail: Record<string, unknown>): Promise<void> {
    await this.audit
      ?.record(
        auditEvent({
          event: "admin",
          principal: { sub: "gateway", auth: "policy" },
          status,
          reason: "policy_reload",
          detail,
        }),
      )
      .catch((err: unknown) => this.log.error({ err: (err as Error).message }, "policy reload not audited"));
  }
}
