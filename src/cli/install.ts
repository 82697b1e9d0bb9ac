/**
 * `mcp-warden install -c FILE`: puts every `package:`-pinned stdio server into the gateway's cache
 * (see src/supply/packages.ts). The only command that fetches packages; the gateway never does.
 * Each install, verified or refused, is audited as a `supply_chain` event.
 */
import { withAdminAudit } from "../audit/index.js";
import { StateStore } from "../state/store.js";
import { createLogger } from "../log.js";
import { installPackage, PackageInstallRefused, type InstallResult } from "../supply/packages.js";
import { loadOrExit } from "./run.js";

export interface InstallOptions {
  config?: string;
  server?: string;
  /** Commander's `--no-verify-signatures`. */
  verifySignatures: boolean;
}

type Outcome =
  | { readonly ok: true; readonly r: InstallResult }
  | { readonly ok: false; readonly err: PackageInstallRefused };

export async function installCommand(o: InstallOptions): Promise<void> {
  const { config } = await loadOrExit(o.config);
  const servers = config.servers.filter(
    (s) => s.kind === "stdio" && s.package !== undefined && (o.server === undefined || s.name === o.server),
  );
  if (servers.length === 0) {
    process.stderr.write(
      `mcp-warden install: no package-pinned server${o.server ? ` named ${o.server}` : ""}\n`,
    );
    process.exitCode = 2;
    return;
  }
  const log = createLogger(process.env.WARDEN_LOG_LEVEL ?? "warn");
  const state = StateStore.open(config.state.sqlite);
  try {
    for (const s of servers) {
      if (s.kind !== "stdio" || s.package === undefined) continue;
      const pin = s.package;
      const spec = `${pin.name}@${pin.version}`;
      const started = Date.now();
      const outcome = await withAdminAudit<Outcome>(
        config,
        state,
        log,
        "package_install",
        async () => {
          try {
            const r = await installPackage(pin, { verifySignatures: o.verifySignatures });
            const detail = {
              package: spec,
              integrity: pin.integrity,
              bin: r.bin,
              sha256: `sha256:${r.sha256}`,
            };
            return {
              result: { ok: true as const, r },
              server: s.name,
              status: r.signatures === "verified" ? "ok" : "signatures_not_verified",
              detail: { ...detail, signatures: r.signatures },
            };
          } catch (err) {
            if (!(err instanceof PackageInstallRefused)) throw err;
            return {
              result: { ok: false as const, err },
              server: s.name,
              status: "blocked",
              detail: { package: spec, reason: err.reason, ...err.detail },
            };
          }
        },
        "supply_chain",
      );
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (outcome.ok) {
        process.stdout.write(`installed ${spec} for ${s.name} in ${seconds}s: ${outcome.r.bin}\n`);
        if (outcome.r.signaturesOutput) process.stdout.write(`${outcome.r.signaturesOutput}\n`);
        if (outcome.r.signatures !== "verified")
          process.stdout.write("warning: registry signatures and attestations were NOT verified\n");
      } else {
        process.stderr.write(
          `mcp-warden install: ${s.name}: refused (${outcome.err.reason}): ${outcome.err.message}\n`,
        );
        process.exitCode = 1;
      }
    }
  } finally {
    state.close();
  }
}
