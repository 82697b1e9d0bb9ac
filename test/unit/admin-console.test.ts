// The admin console's static file server (src/admin/console.ts): which path names what, the
// refusals (traversal, encoded separators, NUL), methods, headers, and the unbuilt case, on a real
// HTTP server over a temporary build directory.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  adminConsole,
  consoleConnectOrigins,
  consoleCsp,
  resolveConsolePath,
} from "../../src/admin/console.js";
import type { Config } from "../../src/config/types.js";
import { makeTempDir } from "../helpers/paths.js";

describe("resolveConsolePath", () => {
  test("names the app, its assets and other pages", () => {
    assert.deepEqual(resolveConsolePath("/admin"), { kind: "redirect", location: "/admin/" });
    assert.deepEqual(resolveConsolePath("/admin/"), { kind: "index" });
    assert.deepEqual(resolveConsolePath("/admin/index.html"), { kind: "index" });
    assert.deepEqual(resolveConsolePath("/admin/assets/index-abc.js"), {
      kind: "asset",
      rel: "assets/index-abc.js",
    });
    assert.deepEqual(resolveConsolePath("/admin/audit"), { kind: "page", rel: "audit" });
    assert.deepEqual(resolveConsolePath("/admin/a%20b"), { kind: "page", rel: "a b" });
  });

  test("refuses traversal, encoded separators, backslashes and NUL", () => {
    for (const path of [
      "/admin/../package.json",
      "/admin/assets/../../package.json",
      "/admin/assets/%2e%2e/%2e%2e/package.json",
      "/admin/%2E%2E/x",
      "/admin/assets/./index.js",
      "/admin/assets%2fx.js",
      "/admin/assets%2Fx.js",
      "/admin/..%5cpackage.json",
      "/admin/a\\b",
      "/admin/a%00.js",
      "/admin/a\0.js",
      "/admin/%E0%A4%A",
    ]) {
      const t = resolveConsolePath(path);
      assert.equal(t.kind, "refuse", path);
      assert.equal(t.kind === "refuse" && t.status, 400, path);
    }
    assert.deepEqual(resolveConsolePath("/adminx"), {
      kind: "refuse",
      status: 404,
      why: "not a console path",
    });
  });
});

describe("adminConsole", () => {
  let server: Server;
  let base: string;
  let root: string;
  let missing: string;
  const INDEX = "<!doctype html><title>console</title>";
  const JS = "console.log('asset')";

  before(async () => {
    const dir = makeTempDir("warden-console-");
    root = join(dir, "console");
    missing = join(dir, "not-built");
    mkdirSync(join(root, "assets"), { recursive: true });
    writeFileSync(join(root, "index.html"), INDEX);
    writeFileSync(join(root, "assets", "index-abc123.js"), JS);
    writeFileSync(join(root, "robots.txt"), "User-agent: *\n");
    // Outside the build: must never be served.
    writeFileSync(join(dir, "secret.txt"), "secret");
    const built = adminConsole({ root, connectOrigins: ["https://idp.example"] });
    const unbuilt = adminConsole({ root: missing });
    server = createServer((req, res) => {
      const url = req.url ?? "/";
      const path = url.split("?")[0] as string;
      const handler = path.startsWith("/unbuilt") ? unbuilt : built;
      void handler(req, res, path.replace(/^\/unbuilt/, ""));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => server?.close());

  /** A raw request, so the path reaches the server exactly as written (fetch would normalise it). */
  function get(path: string, method = "GET") {
    return new Promise<{
      status: number;
      headers: Record<string, string | string[] | undefined>;
      body: string;
    }>((resolve, reject) => {
      const req = request(`${base}/`, { method, path }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on("error", reject);
      req.end();
    });
  }

  test("index.html for the app's paths, no-store, with the security headers", async () => {
    for (const path of ["/admin/", "/admin/index.html", "/admin/servers", "/admin/deep/link?x=1"]) {
      const r = await get(path);
      assert.equal(r.status, 200, path);
      assert.equal(r.body, INDEX, path);
      assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
      assert.equal(r.headers["cache-control"], "no-store");
      assert.equal(
        r.headers["content-security-policy"],
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
          "connect-src 'self' https://idp.example; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
      );
      assert.equal(r.headers["x-content-type-options"], "nosniff");
      assert.equal(r.headers["referrer-policy"], "no-referrer");
      assert.equal(r.headers["x-frame-options"], "DENY");
    }
  });

  test("hashed assets are immutable; a missing asset is 404, not the app", async () => {
    const r = await get("/admin/assets/index-abc123.js");
    assert.equal(r.status, 200);
    assert.equal(r.body, JS);
    assert.equal(r.headers["content-type"], "text/javascript; charset=utf-8");
    assert.equal(r.headers["cache-control"], "public, max-age=31536000, immutable");
    assert.equal(r.headers["x-content-type-options"], "nosniff");
    const gone = await get("/admin/assets/index-000000.js");
    assert.equal(gone.status, 404);
    assert.equal(gone.headers["x-frame-options"], "DENY");
    const top = await get("/admin/robots.txt");
    assert.equal(top.status, 200);
    assert.equal(top.headers["cache-control"], "no-cache");
  });

  test("/admin redirects to /admin/", async () => {
    const r = await get("/admin");
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, "/admin/");
  });

  test("GET and HEAD only", async () => {
    const head = await get("/admin/assets/index-abc123.js", "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
    assert.equal(head.headers["content-length"], String(Buffer.byteLength(JS)));
    for (const method of ["POST", "PUT", "DELETE", "OPTIONS"]) {
      const r = await get("/admin/", method);
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, "GET, HEAD");
    }
  });

  test("nothing outside the build is reachable", async () => {
    for (const path of [
      "/admin/../secret.txt",
      "/admin/assets/../../secret.txt",
      "/admin/assets/%2e%2e/%2e%2e/secret.txt",
      "/admin/assets%2f..%2f..%2fsecret.txt",
      "/admin/..%5csecret.txt",
      "/admin/secret.txt%00.js",
    ]) {
      const r = await get(path);
      assert.equal(r.status, 400, path);
      assert.ok(!r.body.includes("secret"), path);
    }
  });

  test("an unbuilt console answers 503 saying how to build it", async () => {
    const r = await get("/unbuilt/admin/");
    assert.equal(r.status, 503);
    assert.match(r.body, /npm run build/);
    assert.equal(r.headers["cache-control"], "no-store");
    assert.match(String(r.headers["content-security-policy"]), /frame-ancestors 'none'/);
  });

  test("the CSP without extra origins", () => {
    assert.match(consoleCsp(), /connect-src 'self'; base-uri/);
  });
});

describe("connect-src with an external issuer", () => {
  let idp: Server;
  let issuer: string;

  before(async () => {
    idp = createServer((req, res) => {
      if (req.url !== "/.well-known/oauth-authorization-server") return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ issuer, token_endpoint: "https://tokens.example/oauth/token" }));
    });
    await new Promise<void>((resolve) => idp.listen(0, "127.0.0.1", resolve));
    issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  });

  after(() => idp?.close());

  const config = (clientId: string | undefined, url = issuer) =>
    ({ auth: { issuer: { url } }, admin: { clientId } }) as unknown as Config;

  test("the token endpoint's origin, from the issuer's metadata", async () => {
    assert.deepEqual(await consoleConnectOrigins(config("console")), ["https://tokens.example"]);
  });

  test("none without a console client (only a pasted token) or with the embedded issuer", async () => {
    assert.deepEqual(await consoleConnectOrigins(config(undefined)), []);
    const embedded = { auth: { issuer: "embedded" }, admin: { clientId: undefined } } as unknown as Config;
    assert.deepEqual(await consoleConnectOrigins(embedded), []);
  });

  test("found once; while it cannot be found the fallback stands", async () => {
    const root = makeTempDir("warden-console-");
    writeFileSync(join(root, "index.html"), "<!doctype html>");
    let calls = 0;
    const csp = async (handler: ReturnType<typeof adminConsole>) => {
      const server = createServer((req, res) => void handler(req, res, "/admin/"));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      try {
        const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/admin/`);
        return res.headers.get("content-security-policy") ?? "";
      } finally {
        server.close();
      }
    };
    const found = adminConsole({
      root,
      connectOrigins: () => {
        calls++;
        return Promise.resolve(["https://tokens.example"]);
      },
    });
    assert.match(await csp(found), /connect-src 'self' https:\/\/tokens\.example;/);
    assert.match(await csp(found), /connect-src 'self' https:\/\/tokens\.example;/);
    assert.equal(calls, 1);
    const failing = adminConsole({
      root,
      connectOrigins: () => {
        calls++;
        return Promise.reject(new Error("issuer down"));
      },
      fallbackOrigins: ["https://idp.example"],
    });
    assert.match(await csp(failing), /connect-src 'self' https:\/\/idp\.example;/);
    assert.match(await csp(failing), /connect-src 'self' https:\/\/idp\.example;/);
    assert.equal(calls, 2, "not asked again within the retry delay");
  });
});
