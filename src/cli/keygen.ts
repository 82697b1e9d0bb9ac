import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { loadAuditKey } from "../audit/chain.js";
import { generateSigningKey } from "../auth/keys.js";
import { StateKey } from "../state/sealed.js";

/**
 * Makes the secrets several instances must share, once, before the first start: the signing
 * key set (`auth.signing_key_file`), the audit chain's key (`audit.key_file`) and the state key
 * (`state.key_file`). Never overwrites: replacing one would invalidate every token, every chain,
 * or every sealed value made with the old one.
 */
export async function keygenCommand(opts: {
  signing?: string;
  audit?: string;
  state?: string;
}): Promise<void> {
  if (opts.signing === undefined && opts.audit === undefined && opts.state === undefined) {
    process.stderr.write("mcp-warden keygen: name --signing FILE, --audit FILE and/or --state FILE\n");
    process.exitCode = 2;
    return;
  }
  for (const file of [opts.signing, opts.audit, opts.state]) {
    if (file !== undefined && existsSync(file)) {
      process.stderr.write(`mcp-warden keygen: ${file} exists; not overwritten\n`);
      process.exitCode = 1;
      return;
    }
  }
  if (opts.signing !== undefined) {
    mkdirSync(dirname(opts.signing), { recursive: true, mode: 0o700 });
    const keys = { keys: [await generateSigningKey()] };
    writeFileSync(opts.signing, JSON.stringify(keys, null, 2), { mode: 0o600, flag: "wx" });
    process.stdout.write(`signing key set written to ${opts.signing}\n`);
  }
  if (opts.audit !== undefined) {
    loadAuditKey(opts.audit);
    process.stdout.write(`audit key written to ${opts.audit}\n`);
  }
  if (opts.state !== undefined) {
    StateKey.load(opts.state, { create: true, env: {} });
    process.stdout.write(`state key written to ${opts.state}\n`);
  }
}
