// Where the CLI keeps Node's compile cache, and the directories it refuses: the cache is code this
// process runs, so a directory someone else could write to means no cache.
import assert from "node:assert/strict";
import { chmodSync, chownSync, existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { cacheDirectoryProblem, compileCacheDir } from "../../../src/cli/compile-cache.js";
import { makeTempDir } from "../../helpers/paths.js";

describe("compileCacheDir", () => {
  test("XDG_CACHE_HOME when absolute, else ~/.cache; %LOCALAPPDATA% on Windows", () => {
    assert.equal(compileCacheDir({ XDG_CACHE_HOME: "/c" }, "linux"), "/c/mcp-warden/compile-cache");
    const home = compileCacheDir({}, "linux");
    assert.match(home ?? "", /\/\.cache\/mcp-warden\/compile-cache$/);
    assert.equal(compileCacheDir({ XDG_CACHE_HOME: "rel" }, "linux"), home);
    assert.equal(compileCacheDir({ XDG_CACHE_HOME: "" }, "linux"), home);
    assert.equal(
      compileCacheDir({ LOCALAPPDATA: "C:\\Users\\a\\AppData\\Local" }, "win32"),
      "C:\\Users\\a\\AppData\\Local\\mcp-warden\\compile-cache",
    );
  });
});

describe("cacheDirectoryProblem", { skip: process.platform === "win32" }, () => {
  test("makes the missing directories, readable by this user only", () => {
    const base = makeTempDir("warden-cc-");
    chmodSync(base, 0o700);
    const dir = join(base, "mcp-warden", "compile-cache");
    assert.equal(cacheDirectoryProblem(dir), undefined);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(base, "mcp-warden")).mode & 0o777, 0o700);
    assert.equal(cacheDirectoryProblem(dir), undefined, "an existing one is accepted again");
  });

  test("refuses a base, or a cache directory, that others may write to", () => {
    const base = makeTempDir("warden-cc-");
    chmodSync(base, 0o777);
    assert.match(
      cacheDirectoryProblem(join(base, "mcp-warden", "compile-cache")) ?? "",
      /writable by others/,
    );
    chmodSync(base, 0o700);
    chmodSync(join(base, "mcp-warden", "compile-cache"), 0o770);
    assert.match(
      cacheDirectoryProblem(join(base, "mcp-warden", "compile-cache")) ?? "",
      /writable by others/,
    );
  });

  test("refuses a directory another user owns", { skip: process.getuid?.() !== 0 }, () => {
    const base = makeTempDir("warden-cc-");
    chmodSync(base, 0o700);
    const dir = join(base, "mcp-warden", "compile-cache");
    assert.equal(cacheDirectoryProblem(dir), undefined);
    chownSync(join(base, "mcp-warden"), 65534, 65534);
    assert.match(cacheDirectoryProblem(dir) ?? "", /owned by uid 65534/);
  });

  test("a file in the way, or a place no directory can be made, is a problem, not a throw or a hang", () => {
    const base = makeTempDir("warden-cc-");
    writeFileSync(join(base, "file"), "");
    assert.match(cacheDirectoryProblem(join(base, "file", "compile-cache")) ?? "", /ENOTDIR|not a directory/);
    // mkdir under /proc answers ENOENT with the parent present: a recursive mkdir spins there.
    if (existsSync("/proc/self"))
      assert.match(cacheDirectoryProblem("/proc/mcp-warden-test/compile-cache") ?? "", /ENOENT/);
  });
});
