import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { DEMO_CONFIG } from "../../../src/config/load.js";
import { PACKAGE_ROOT, packageFile } from "../../../src/package/root.js";
import { VERSION } from "../../../src/version.js";
import { ROOT } from "../../helpers/paths.js";

// The bundle's side (dist/cli-bundle/) is covered by every CLI test: `--version` reads package.json.
describe("the package's own files", () => {
  test("are found from src/package/, two folders below the root", () => {
    assert.equal(PACKAGE_ROOT, ROOT.replace(/\/$/, ""));
    const pkg = JSON.parse(readFileSync(packageFile("package.json"), "utf8")) as {
      name: string;
      version: string;
    };
    assert.equal(pkg.name, "mcp-warden");
    assert.equal(VERSION, pkg.version);
    assert.equal(DEMO_CONFIG, join(ROOT, "config", "demo.yaml"));
  });
});
