import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (test/helpers/../..), whatever the current directory is. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CLI = join(ROOT, "bin", "mcp-warden.js");
export const EVERYTHING_BIN = join(ROOT, "node_modules", ".bin", "mcp-server-everything");
export const FILESYSTEM_BIN = join(ROOT, "node_modules", ".bin", "mcp-server-filesystem");

/** Absolute path of a fixture server under test/fixtures/. */
export function fixture(name: string): string {
  return join(ROOT, "test", "fixtures", name);
}

const tempDirs = new Set<string>();

/** A fresh directory under the OS temp dir, removed by `removeTempDirs()` or when the process exits. */
export function makeTempDir(prefix = "warden-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

process.once("exit", removeTempDirs);
