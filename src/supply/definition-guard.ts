/**
 * Tool-definition pinning and the poisoning scan, applied to what upstreams list: each tool, prompt
 * and resource template, and a server's `initialize` instructions, is pinned when first seen (trust on first use); a later definition with
 * another hash is held (`enforce`) or served and audited (`warn`); a definition the scan flags is
 * hidden (`block`) or served and audited (`warn`). Approval (`mcp-warden tools approve`) pins the
 * held definition; it does not lift a poisoning block, which only a clean definition (or
 * `poisoning: warn`) does: a poisoned text stays harmful whoever approved it.
 */
import { auditEvent, type AuditEvent } from "../audit/event.js";
import type { AuditLog } from "../audit/log.js";
import type { SupplyChainConfig } from "../config/types.js";
import { ErrorCode, GatewayError } from "../errors.js";
import type { Logger } from "../log.js";
import {
  canonicalDefinition,
  definitionHash,
  definitionName,
  isLegacyPin,
  legacyHash,
  type Pin,
  type PinHashes,
  type PinStore,
} from "./pins.js";
import { scanDefinition, type DefinitionKind, type Finding } from "./poisoning.js";

/** Why an item is refused: changed since pinned, poisoned, or never listed (so never reviewed). */
export type QuarantineReason = "changed" | "poisoned" | "unlisted" | "new";

export type Verdict = { readonly serve: true } | { readonly serve: false; readonly why: QuarantineReason };

const WHY: Readonly<Record<QuarantineReason, string>> = {
  poisoned: "its definition failed the poisoning scan",
  changed: "its definition changed since it was pinned and awaits approval",
  unlisted: "its server does not list it, so its definition was never reviewed",
  new: "it appeared after its server's definitions were first pinned and awaits approval",
};

const SERVE: Verdict = Object.freeze({ serve: true });
const MAX_SCANS = 10_000;

export function quarantinedError(kind: DefinitionKind, name: string, why: QuarantineReason): GatewayError {
  const what =
    kind === "instructions"
      ? "the server's instructions"
      : `${kind === "resourceTemplate" ? "resource template" : kind} ${name.slice(0, 200)}`;
  return new GatewayError(
    ErrorCode.ToolQuarantined,
    "tool_quarantined",
    `${what} is quarantined: ${WHY[why]}`,
    { why },
  );
}

export class DefinitionGuard {
  /** False when both pinning and the scan are off: the stage then costs nothing. */
  readonly enabled: boolean;
  /** Listed items already judged servable, by identity: a session's calls reuse its list's objects. */
  private readonly served = new WeakMap<object, true>();
  /** What a virtual server shows for a listed definition, scanned once per shown object. */
  private readonly shownScans = new WeakMap<object, Finding[]>();
  private readonly scans = new Map<string, Finding[]>();
  /** Tool names each server listed (pins included), for the shadowing check. */
  private readonly toolsByServer = new Map<string, Set<string>>();
  /** `server\0kind` whose definitions have been listed (and pinned) once: what appears later is new. */
  private readonly baselined = new Set<string>();

  constructor(
    private readonly config: SupplyChainConfig,
    private readonly servers: readonly string[],
    private readonly store: PinStore,
    private readonly audit: AuditLog,
    private readonly log: Logger,
  ) {
    this.enabled = config.toolPinning !== "off" || config.poisoning !== "off";
    if (this.enabled)
      for (const p of store.list()) {
        if (p.kind === "tool") this.rememberTool(p.server, p.name);
        this.baselined.add(`${p.server}\u0000${p.kind}`);
      }
  }

  /**
   * A list from these servers was reviewed: from now on a definition they did not list then is new.
   * Called after the whole list, so the first listing pins every item it carries.
   */
  listed(kind: DefinitionKind, servers: Iterable<string>): void {
    for (const server of servers) this.baselined.add(`${server}\u0000${kind}`);
  }

  /**
   * `review`'s answer when it needs no wait: an item judged servable before and still so (or no
   * guard, or a nameless item; nameless items are not callable, and authorization drops them from
   * lists). Undefined: ask `review`.
   */
  reviewedNow(
    server: string,
    kind: DefinitionKind,
    item: Readonly<Record<string, unknown>>,
  ): Verdict | undefined {
    if (!this.enabled) return SERVE;
    const name = definitionName(kind, item);
    if (name === undefined) return SERVE;
    if (!this.served.has(item)) return undefined;
    const now = this.store.hashes(server, kind, name);
    return !now || this.verdictOf(now, []).serve ? SERVE : undefined;
  }

  /** Judges one listed item; records a new pin, a change or a finding (audited) as a side effect. */
  async review(
    server: string,
    kind: DefinitionKind,
    item: Readonly<Record<string, unknown>>,
  ): Promise<Verdict> {
    const known = this.reviewedNow(server, kind, item);
    if (known) return known;
    const name = definitionName(kind, item) as string;
    if (this.served.has(item)) {
      // Judged servable before, no longer (reviewedNow said so): a change any connection of the
      // server showed since (another session's process, another route) holds the tool for every
      // caller until approved.
      this.served.delete(item);
      return this.verdictOf(this.store.hashes(server, kind, name) as PinHashes, []);
    }
    if (kind === "tool") this.rememberTool(server, name);
    const def = canonicalDefinition(kind, item);
    const hash = definitionHash(def);
    const findings = this.config.poisoning === "off" ? [] : this.scan(server, kind, name, def, hash);
    const now = new Date().toISOString();
    const events: AuditEvent[] = [];
    let pin = this.store.get(server, kind, name);
    if (pin) pin = this.upgraded(pin, def, hash);
    if (!pin) {
      // Under enforce, a definition that appears after its server's first listing is held like a
      // changed one: trusting it on first use would let a server add a poisoned tool at any time.
      const hold =
        this.config.toolPinning === "enforce" &&
        this.config.newTools === "hold" &&
        kind !== "instructions" &&
        this.baselined.has(`${server}\u0000${kind}`);
      pin = {
        server,
        kind,
        name,
        pinnedHash: hold ? "" : hash,
        pinnedDef: hold ? {} : def,
        currentHash: hash,
        currentDef: def,
        findings,
        pinnedAt: now,
        seenAt: now,
      };
      this.store.put(pin);
      if (hold) events.push(this.newEvent(pin));
      else this.log.info({ server, kind, name, hash }, "definition pinned (first use)");
      if (findings.length > 0) events.push(this.poisonedEvent(pin, findings));
    } else if (this.heldAgainst(pin, hash)) {
      // The pinned definition again, from a connection that never changed (or a list cached before
      // the change): the change another one showed still awaits approval. Held, the pin unchanged.
    } else if (pin.currentHash !== hash || JSON.stringify(pin.findings) !== JSON.stringify(findings)) {
      const newDefinition = pin.currentHash !== hash;
      // With pinning off the pin follows the server, so turning it on later trusts the last definition.
      const follow = this.config.toolPinning === "off" || hash === pin.pinnedHash;
      pin = {
        ...pin,
        ...(follow
          ? { pinnedHash: hash, pinnedDef: def, pinnedAt: hash === pin.pinnedHash ? pin.pinnedAt : now }
          : {}),
        currentHash: hash,
        currentDef: def,
        findings,
        seenAt: now,
      };
      this.store.put(pin);
      if (newDefinition && !follow) events.push(this.changedEvent(pin));
      if (findings.length > 0) events.push(this.poisonedEvent(pin, findings));
    }
    for (const e of events) await this.audit.record(e);
    const verdict = this.verdictOf(pin, findings);
    if (verdict.serve) this.served.set(item, true);
    return verdict;
  }

  /**
   * A tool as a virtual server shows it (`shown`: renamed, re-described, arguments removed) over the
   * upstream's definition (`item`), which is reviewed as any listed one: pinned, its changes held,
   * scanned and audited. A change since pinning is held whatever the curated text says. A poisoned
   * upstream definition is served only when what callers see instead passes the same scan: the
   * curated text replaced, or removed, every field the scan flagged (docs/virtual-servers.md).
   * What callers see is itself scanned, so a curated text is held to the same rules.
   */
  async reviewShown(
    server: string,
    item: Readonly<Record<string, unknown>>,
    shown: Readonly<Record<string, unknown>>,
  ): Promise<Verdict> {
    const verdict = await this.review(server, "tool", item);
    if (!this.enabled) return verdict;
    if (!verdict.serve && verdict.why !== "poisoned") return verdict;
    const name = definitionName("tool", item);
    const pin = name === undefined ? undefined : this.store.get(server, "tool", name);
    if (!verdict.serve && pin) {
      // Poisoned, and perhaps also changed or new: the pin's own state still holds it.
      const held = this.verdictOf(pin, []);
      if (!held.serve) return held;
    }
    if (this.config.poisoning === "off") return SERVE;
    const shownName = definitionName("tool", shown) ?? "";
    let findings = this.shownScans.get(shown);
    if (!findings) {
      const def = canonicalDefinition("tool", shown);
      findings = this.scan(server, "tool", `shown\u0000${shownName}`, def, definitionHash(def));
      this.shownScans.set(shown, findings);
    }
    if (findings.length > 0) {
      this.log.warn(
        { server, tool: name, shown: shownName, reasons: findings.map((f) => f.reason) },
        this.config.poisoning === "block"
          ? "virtual tool's curated definition poisoned: hidden"
          : "virtual tool's curated definition poisoned: served (poisoning: warn)",
      );
      if (this.config.poisoning === "block") return { serve: false, why: "poisoned" };
    } else if (!verdict.serve) {
      this.log.info(
        { server, tool: name, shown: shownName },
        "poisoned upstream definition served under its curated text",
      );
    }
    return SERVE;
  }

  /**
   * A call to an item its server did not list: judged on what the store last recorded. Under
   * `enforce`, an item never listed (no pin) was never reviewed, so it is refused (`unlisted`).
   */
  stored(server: string, kind: DefinitionKind, name: string): Verdict {
    if (!this.enabled) return SERVE;
    const pin = this.store.get(server, kind, name);
    if (pin) return this.verdictOf(pin, pin.findings);
    return this.config.toolPinning === "enforce" ? { serve: false, why: "unlisted" } : SERVE;
  }

  /**
   * A pin written before `_meta` and icons were pinned (version 1), for a definition unchanged in
   * what version 1 pinned, is upgraded in place to the version 2 hash (logged): `_meta` and icons are
   * then trusted as first seen, once, as the rest was when first pinned. Any other pin as it is.
   */
  private upgraded(pin: Pin, def: Record<string, unknown>, hash: string): Pin {
    if (pin.currentHash === hash || !isLegacyPin(pin)) return pin;
    const old = legacyHash(def);
    if (old !== pin.pinnedHash && old !== pin.currentHash) return pin;
    // A held definition keeps its version 1 hashes: approving it promotes what was reviewed.
    if (pin.currentHash !== pin.pinnedHash) return pin;
    const next: Pin = { ...pin, pinnedHash: hash, pinnedDef: def, currentHash: hash, currentDef: def };
    this.store.put(next);
    this.log.info(
      { server: pin.server, kind: pin.kind, name: pin.name, from: pin.pinnedHash, to: hash },
      "definition pin upgraded to version 2 (now covers _meta and icons)",
    );
    return next;
  }

  /**
   * Under `enforce`, a pin whose server showed another definition after it was pinned (or a new
   * tool awaiting approval) holds the tool whichever definition a caller's list has: connections
   * of one server (per-session processes, routes) are one tool to the pin, and a definition that
   * matches the pin does not release it. Only approval does (docs/supply-chain.md).
   */
  private heldAgainst(pin: Pin, hash: string): boolean {
    return (
      this.config.toolPinning === "enforce" && pin.currentHash !== pin.pinnedHash && hash === pin.pinnedHash
    );
  }

  private verdictOf(pin: PinHashes, findings: readonly Finding[]): Verdict {
    if (this.config.poisoning === "block" && findings.length > 0) return { serve: false, why: "poisoned" };
    if (this.config.toolPinning === "enforce" && pin.pinnedHash === "") return { serve: false, why: "new" };
    if (this.config.toolPinning === "enforce" && pin.currentHash !== pin.pinnedHash)
      return { serve: false, why: "changed" };
    return SERVE;
  }

  private scan(
    server: string,
    kind: DefinitionKind,
    name: string,
    def: Record<string, unknown>,
    hash: string,
  ) {
    const key = `${server}\u0000${kind}\u0000${name}\u0000${hash}`;
    let found = this.scans.get(key);
    if (found) return found;
    const own = this.toolsByServer.get(server);
    const otherTools: string[] = [];
    for (const [s, names] of this.toolsByServer) {
      if (s === server) continue;
      for (const n of names) if (!own?.has(n)) otherTools.push(n);
    }
    found = scanDefinition(kind, def, { server, servers: this.servers, otherTools });
    if (this.scans.size >= MAX_SCANS) this.scans.clear();
    this.scans.set(key, found);
    return found;
  }

  private rememberTool(server: string, name: string): void {
    let names = this.toolsByServer.get(server);
    if (!names) this.toolsByServer.set(server, (names = new Set()));
    if (names.size < 10_000) names.add(name);
  }

  private changedEvent(pin: Pin): AuditEvent {
    const held = this.config.toolPinning === "enforce";
    this.log.warn(
      {
        server: pin.server,
        kind: pin.kind,
        name: pin.name,
        pinned: pin.pinnedHash,
        current: pin.currentHash,
      },
      held ? "definition changed: held until approved" : "definition changed: served (tool_pinning: warn)",
    );
    return auditEvent({
      event: "supply_chain",
      server: pin.server,
      tool: pin.name.slice(0, 200),
      status: held ? "held" : "served",
      reason: "tool_changed",
      detail: {
        kind: pin.kind,
        pinned_hash: pin.pinnedHash,
        current_hash: pin.currentHash,
        mode: this.config.toolPinning,
      },
    });
  }

  private newEvent(pin: Pin): AuditEvent {
    this.log.warn(
      { server: pin.server, kind: pin.kind, name: pin.name, current: pin.currentHash },
      "new definition after the first listing: held until approved",
    );
    return auditEvent({
      event: "supply_chain",
      server: pin.server,
      tool: pin.name.slice(0, 200),
      status: "held",
      reason: "tool_new",
      detail: { kind: pin.kind, current_hash: pin.currentHash, mode: this.config.toolPinning },
    });
  }

  private poisonedEvent(pin: Pin, findings: readonly Finding[]): AuditEvent {
    const blocked = this.config.poisoning === "block";
    this.log.warn(
      { server: pin.server, kind: pin.kind, name: pin.name, reasons: findings.map((f) => f.reason) },
      blocked ? "definition poisoned: hidden" : "definition poisoned: served (poisoning: warn)",
    );
    return auditEvent({
      event: "supply_chain",
      server: pin.server,
      tool: pin.name.slice(0, 200),
      status: blocked ? "blocked" : "served",
      reason: "tool_poisoned",
      detail: {
        kind: pin.kind,
        hash: pin.currentHash,
        mode: this.config.poisoning,
        findings: findings.slice(0, 8).map((f) => ({ field: f.field.slice(0, 200), reason: f.reason })),
      },
    });
  }
}
