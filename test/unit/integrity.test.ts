// Integrity pins: the per-version digest cache never hides a change, even one that keeps the size
// and restores the mtime; a missing file is a mismatch.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { verifyIntegrity } from "../../src/supply/integrity.js";
import { LaunchRefused } from "../../src/supply/launch-refused.js";
import { makeTempDir } from "../helpers/paths.js";

const hex = (text: string) => createHash("sha256").update(text).digest("hex");

test("a same-size rewrite with the old mtime restored is still caught", async () => {
  const file = join(makeTempDir("warden-integrity-unit-"), "server.js");
  writeFileSync(file, "console.log('good')\n");
  const pins = new Map([[file, hex("console.log('good')\n")]]);
  await verifyIntegrity(pins);
  await verifyIntegrity(pins); // the cached digest

  const { atime, mtime } = statSync(file);
  writeFileSync(file, "console.log('evil')\n");
  utimesSync(file, atime, mtime);
  const err = await verifyIntegrity(pins).then(
    () => assert.fail("the changed file passed"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof LaunchRefused);
  assert.equal(err.reason, "integrity_mismatch");
  assert.equal(err.message, `integrity mismatch: ${file}`);
  assert.deepEqual(err.detail, {
    file,
    expected: `sha256:${hex("console.log('good')\n")}`,
    actual: `sha256:${hex("console.log('evil')\n")}`,
  });

  writeFileSync(file, "console.log('good')\n");
  await verifyIntegrity(pins);
});

test("a missing pinned file is refused", async () => {
  const file = join(makeTempDir("warden-integrity-unit-"), "absent.js");
  const err = await verifyIntegrity(new Map([[file, "0".repeat(64)]])).then(
    () => assert.fail("a missing file passed"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof LaunchRefused);
  assert.equal(err.message, `integrity mismatch: ${file} (unreadable: ENOENT)`);
});
