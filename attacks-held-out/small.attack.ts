// Held-out attacks, issue 14 §7: `audit tail` (not only query) and other control characters; the
// console's first load from /admin and what its assets reference.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { everythingStdio, gatewayConfig } from "../test/helpers/configs.js";
import { runCli, startGateway, type Gateway } from "../test/helpers/gateway.js";
import { freePort } from "../test/helpers/upstreams.js";
import { cliToken, http, openSession, toolCall } from "../test/attacks/fixtures/attack-lib.js";

const C1_OR_BIDI = /[\u0080-\u009f\u202a-\u202e\u2066-\u2069]/u;
const offending = (text: string) =>
  [...text].filter((c) => C1_OR_BIDI.test(c)).map((c) => `U+${c.codePointAt(0)!.toString(16)}`);

describe("held-out small: audit tail", () => {
  let gw: Gateway;

  before(async () => {
    gw = await startGateway(
      gatewayConfig([everythingStdio()], { gateway: { listen: `127.0.0.1:${await freePort()}` } }),
    );
    const token = await cliToken(gw, "ops\u2066\u202bbot\u0090", "demo:use");
    const s = await openSession(gw.mcpUrl, { token });
    let id = 1;
    for (const name of [
      "everything__dcs\u0090q\u009c",
      "everything__embed\u202arl\u202bx\u202c",
      "everything__fsi\u2068abc\u2069",
      "everything__apc\u009f_\u0080pad\u0081",
    ])
      await s.post(toolCall(++id, name, {}));
  });

  after(async () => {
    await gw?.stop();
  });

  test("audit tail (last events, no follow) strips C1 and bidi controls", async () => {
    const r = await runCli(["audit", "tail", "-c", gw.configFile], { cwd: gw.dir, timeoutMs: 15_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ops/, "the attacker's events should be shown");
    assert.deepEqual(offending(r.stdout), [], "audit tail wrote C1 controls or bidi overrides");
  });

  test("audit tail -f strips them from events as they arrive", async () => {
    const { spawnTracked, killGroup, exited } = await import("../test/helpers/processes.js");
    const { CLI } = await import("../test/helpers/paths.js");
    const proc = spawnTracked(process.execPath, [CLI, "audit", "tail", "-f", "-c", gw.configFile], {
      cwd: gw.dir,
      env: process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    proc.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const token = await cliToken(gw, "late\u202euser", "demo:use");
      const s = await openSession(gw.mcpUrl, { token });
      await s.post(toolCall(2, "everything__live\u009b6n\u2067x", {}));
      const until = Date.now() + 10_000;
      while (!out.includes("late") && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      assert.match(out, /late/, "the new event should be followed");
      assert.deepEqual(offending(out), [], "audit tail -f wrote C1 controls or bidi overrides");
    } finally {
      killGroup(proc);
      await exited(proc);
    }
  });
});

describe("held-out small: the console's first load", () => {
  let gw: Gateway;

  before(async () => {
    gw = await startGateway(gatewayConfig([everythingStdio()]));
  });

  after(async () => {
    await gw?.stop();
  });

  test("opened as /admin (no slash): the redirect, the page and its assets all succeed", async () => {
    const first = await http(`${gw.url}/admin`, { method: "GET" });
    assert.ok(first.status < 400, `/admin → ${first.status}`);
    const target = first.status >= 300 && first.headers.location ? first.headers.location : "/admin";
    const page = await http(new URL(target, gw.url).toString(), { method: "GET" });
    assert.equal(page.status, 200);
    const refs = [...page.text.matchAll(/\b(?:src|href)="([^"]+)"/g)]
      .map((m) => m[1] as string)
      .filter((r) => !r.startsWith("data:") && !r.startsWith("#"));
    if (!/<link\b[^>]*\brel="[^"]*\bicon\b/i.test(page.text)) refs.push("/favicon.ico");
    const failed: string[] = [];
    for (const ref of refs) {
      const res = await http(new URL(ref, new URL(target, gw.url)).toString(), { method: "GET" });
      if (res.status >= 400) failed.push(`${ref} → ${res.status}`);
    }
    assert.deepEqual(failed, []);
  });

  test("what the assets reference (source maps, CSS urls, static paths in the bundle) exists", async () => {
    const page = await http(`${gw.url}/admin/`, { method: "GET" });
    const assets = [...page.text.matchAll(/\b(?:src|href)="(\/admin\/assets\/[^"]+)"/g)].map(
      (m) => m[1] as string,
    );
    assert.ok(assets.length > 0, "the page should load built assets");
    const failed: string[] = [];
    for (const a of assets) {
      const body = await http(`${gw.url}${a}`, { method: "GET" });
      assert.equal(body.status, 200, `${a} → ${body.status}`);
      const refs = new Set<string>();
      const map = /[#@] sourceMappingURL=(\S+)/.exec(body.text)?.[1];
      if (map && !map.startsWith("data:")) refs.add(new URL(map, `${gw.url}${a}`).pathname);
      for (const m of body.text.matchAll(/url\(\s*["']?([^"')]+)["']?\s*\)/g)) {
        const u = m[1] as string;
        if (!u.startsWith("data:") && !u.startsWith("#")) refs.add(new URL(u, `${gw.url}${a}`).pathname);
      }
      for (const m of body.text.matchAll(
        /["'](\/admin\/assets\/[A-Za-z0-9._-]+\.(?:js|css|svg|png|ico|woff2?))["']/g,
      ))
        refs.add(m[1] as string);
      for (const r of refs) {
        const res = await http(`${gw.url}${r}`, { method: "GET" });
        if (res.status >= 400) failed.push(`${r} (from ${a}) → ${res.status}`);
      }
    }
    assert.deepEqual(failed, []);
  });
});
