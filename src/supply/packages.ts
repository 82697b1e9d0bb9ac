/**
 * npm package pins (`package:` on a stdio server). `mcp-warden install` puts the pinned version
 * into the gateway's cache with install scripts off, checks that the registry served the pinned
 * tarball (`dist.integrity`), runs `npm audit signatures` over everything installed, and writes a
 * manifest with the SHA-256 of the bin file and of every file installed. A launch reads only the
 * cache, checked against the manifest: no manifest for this pin means the server is refused,
 * never fetched; a changed, missing or added file means it is refused too.
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { join, sep } from "node:path";
import { promisify } from "node:util";
import type { PackagePin } from "../config/types.js";
import { fileDigest, verifyIntegrity } from "./integrity.js";
import { treeDigests, verifyTree, type TreeDigests } from "./package-tree.js";
import { LaunchRefused } from "./launch-refused.js";

const run = promisify(execFile);
const MANIFEST = "warden-package.json";
const NPM_TIMEOUT_MS = 10 * 60_000;

export type InstallRefusalReason = "package_install_failed" | "package_integrity" | "package_signatures";

/** An install that did not produce a verified cache entry; the entry has been removed. */
export class PackageInstallRefused extends Error {
  constructor(
    readonly reason: InstallRefusalReason,
    message: string,
    readonly detail: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.name = "PackageInstallRefused";
  }
}

/** What a verified install leaves in the cache entry, checked before every launch. */
interface Manifest {
  readonly name: string;
  readonly version: string;
  readonly integrity: string;
  /** Absolute, symlink-free path of the bin file. */
  readonly bin: string;
  readonly sha256: string;
  /** Every file and link of `node_modules` (the package and its dependencies), checked at launch. */
  readonly files: TreeDigests;
  readonly signatures: "verified" | "not_verified";
  readonly installed_at: string;
}

export interface InstallResult {
  readonly dir: string;
  readonly bin: string;
  readonly sha256: string;
  readonly signatures: "verified" | "not_verified";
  /** The summary `npm audit signatures` printed (empty when skipped). */
  readonly signaturesOutput: string;
}

/** Installs `pin` into `pin.dir` from scratch; on any failed check the entry is removed. */
export async function installPackage(
  pin: PackagePin,
  options: { readonly verifySignatures: boolean; readonly npm?: string },
): Promise<InstallResult> {
  const npm = options.npm ?? "npm";
  await rm(pin.dir, { recursive: true, force: true });
  await mkdir(pin.dir, { recursive: true, mode: 0o755 });
  try {
    try {
      await run(
        npm,
        [
          "install",
          "--ignore-scripts",
          "--no-audit",
          "--no-fund",
          "--omit=dev",
          "--prefix",
          pin.dir,
          `${pin.name}@${pin.version}`,
        ],
        { timeout: NPM_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      );
    } catch (err) {
      throw new PackageInstallRefused("package_install_failed", `npm install failed: ${tail(err)}`, {
        error: tail(err),
      });
    }
    const locked = await lockedEntry(pin);
    if (locked.version !== pin.version || locked.integrity !== pin.integrity) {
      throw new PackageInstallRefused(
        "package_integrity",
        `${pin.name}@${pin.version}: the registry's integrity does not match the pin`,
        { expected: pin.integrity, actual: locked.integrity ?? null, version: locked.version ?? null },
      );
    }
    let signaturesOutput = "";
    if (options.verifySignatures) {
      try {
        const r = await run(npm, ["audit", "signatures", "--prefix", pin.dir], {
          timeout: NPM_TIMEOUT_MS,
          maxBuffer: 16 * 1024 * 1024,
        });
        signaturesOutput = r.stdout.trim();
      } catch (err) {
        throw new PackageInstallRefused("package_signatures", `npm audit signatures failed: ${tail(err)}`, {
          error: tail(err),
        });
      }
    }
    const bin = await binFile(pin);
    const sha256 = await fileDigest(bin);
    const signatures = options.verifySignatures ? "verified" : "not_verified";
    const manifest: Manifest = {
      name: pin.name,
      version: pin.version,
      integrity: pin.integrity,
      bin,
      sha256,
      files: await treeDigests(join(pin.dir, "node_modules")),
      signatures,
      installed_at: new Date().toISOString(),
    };
    await writeFile(join(pin.dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
    return { dir: pin.dir, bin, sha256, signatures, signaturesOutput };
  } catch (err) {
    await rm(pin.dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * The bin file to run for `pin`, from the cache only: the manifest must name this exact pin and
 * the file must still hash to what the install recorded. Anything else refuses the launch.
 */
export async function installedBin(pin: PackagePin): Promise<string> {
  let manifest: Partial<Manifest>;
  try {
    manifest = JSON.parse(await readFile(join(pin.dir, MANIFEST), "utf8")) as Partial<Manifest>;
  } catch (err) {
    throw notInstalled(pin, (err as NodeJS.ErrnoException).code ?? "unreadable");
  }
  if (
    manifest.name !== pin.name ||
    manifest.version !== pin.version ||
    manifest.integrity !== pin.integrity ||
    typeof manifest.bin !== "string" ||
    typeof manifest.sha256 !== "string" ||
    !manifest.bin.startsWith((await realpath(pin.dir)) + sep)
  ) {
    throw notInstalled(pin, "the cache entry is for another pin");
  }
  if (typeof manifest.files !== "object" || manifest.files === null) {
    throw notInstalled(pin, "the cache entry records no file digests (installed by an older mcp-warden)");
  }
  await verifyIntegrity(new Map([[manifest.bin, manifest.sha256]]));
  await verifyTree(join(pin.dir, "node_modules"), manifest.files);
  return manifest.bin;
}

function notInstalled(pin: PackagePin, why: string): LaunchRefused {
  return new LaunchRefused(
    "package_not_installed",
    `package not installed: ${pin.name}@${pin.version} (run mcp-warden install)`,
    { package: `${pin.name}@${pin.version}`, dir: pin.dir, why },
  );
}

/** The package's entry in the lockfile npm wrote: what it fetched and verified the tarball against. */
async function lockedEntry(pin: PackagePin): Promise<{ version?: string; integrity?: string }> {
  for (const file of ["node_modules/.package-lock.json", "package-lock.json"]) {
    try {
      const lock = JSON.parse(await readFile(join(pin.dir, file), "utf8")) as {
        packages?: Record<string, { version?: string; integrity?: string }>;
      };
      const entry = lock.packages?.[`node_modules/${pin.name}`];
      if (entry) return entry;
    } catch {
      // try the next
    }
  }
  return {};
}

/** The bin entry to run (`pin.bin`, the only one, or the one named after the package), inside the package. */
async function binFile(pin: PackagePin): Promise<string> {
  const root = join(pin.dir, "node_modules", pin.name);
  const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { bin?: unknown };
  const unscoped = pin.name.slice(pin.name.lastIndexOf("/") + 1);
  let rel: unknown;
  if (typeof pkg.bin === "string") rel = pin.bin === undefined || pin.bin === unscoped ? pkg.bin : undefined;
  else if (typeof pkg.bin === "object" && pkg.bin !== null) {
    const bins = pkg.bin as Record<string, unknown>;
    const names = Object.keys(bins);
    const name = pin.bin ?? (names.length === 1 ? names[0] : unscoped);
    rel = name !== undefined && Object.hasOwn(bins, name) ? bins[name] : undefined;
  }
  if (typeof rel !== "string") {
    throw new PackageInstallRefused(
      "package_install_failed",
      `${pin.name}@${pin.version} has no bin ${pin.bin ?? "(set package.bin)"}`,
      { bin: pin.bin ?? null },
    );
  }
  const file = await realpath(join(root, rel));
  const realRoot = await realpath(root);
  if (!file.startsWith(realRoot + sep)) {
    throw new PackageInstallRefused("package_install_failed", `${pin.name}: bin outside the package`, {
      bin: rel,
    });
  }
  return file;
}

function tail(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  const text = (e.stderr?.trim() || e.message || String(err)).split("\n").slice(-6).join("\n");
  return text.slice(0, 2000);
}
