// Issue 14 §7: small ones. `audit query` must not write C1 controls or bidi overrides from an event
// to the operator's terminal (a caller picks its subject and its tool names); the admin console's
// first load asks for nothing that fails.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { everythingStdio, gatewayConfig } from "../helpers/configs.js";
import { runCli, startGateway, type Gateway } from "../helpers/gateway.js";
import { freePort } from "../helpers/upstreams.js";
import { cliToken, http, openSession, toolCall } from "./fixtures/attack-lib.js";

const C1_OR_BIDI = /[\u0080-\u009f\u202a-\u202e\u2066-\u2069]/u;

function offending(text: string): string[] {
  return [...text]
    .filter((c) => C1_OR_BIDI.test(c))
    .map((c) => `U+${c.codePointAt(0)!.toString(16).padStart(4, "0")}`);
}

describe("small: terminal output of the audit log", () => {
  let gw: Gateway;

  before(async () => {
    gw = await startGateway(
      gatewayConfig([everythingStdio()], { gateway: { listen: `127.0.0.1:${await freePort()}` } }),
    );
    // The caller chooses its subject (a token the operator minted for "mal\u202Elory"), and the
    // names of the tools it calls; both end up in the table.
    const token = await cliToken(gw, "mal\u202elory\u009b2J", "demo:use");
    const s = await openSession(gw.mcpUrl, { token });
    const names = [
      "everything__rm\u202e\u2066txt.exe",
      "everything__csi\u009b31mred",
      "everything__osc\u009d0;title\u009c",
      "everything__nel\u0085next",
      "everything__override\u202dltr\u202c",
      "everything__iso\u2067rtl\u2069",
    ];
    let id = 1;
    for (const name of names) await s.post(toolCall(++id, name, {}));
    await s.post(toolCall(++id, "everything__echo", { message: "args \u009b2J \u202e" }));
  });

  after(async () => {
    await gw?.stop();
  });

  test("audit query (the table) carries no C1 control and no bidi override", async () => {
    const r = await runCli(["audit", "query", "-c", gw.configFile, "--limit", "100"], { cwd: gw.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /mal/, "the attacker's events should be in the table");
    assert.match(r.stdout, /rm/, "the attacker's tool names should be in the table");
    assert.deepEqual(
      offending(r.stdout),
      [],
      "audit query wrote C1 controls or bidi overrides to the terminal",
    );
  });

  test("audit query filtered by status carries none either", async () => {
    const r = await runCli(["audit", "query", "-c", gw.configFile, "--status", "tool_error"], {
      cwd: gw.dir,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(offending(r.stdout), [], "audit query --status wrote C1 controls or bidi overrides");
  });
});

describe("small: the admin console's first load", () => {
  let gw: Gateway;

  before(async () => {
    gw = await startGateway(gatewayConfig([everythingStdio()]));
  });

  after(async () => {
    await gw?.stop();
  });

  test("every request a browser makes on first load succeeds (assets, icon, config)", async () => {
    const page = await http(`${gw.url}/admin/`, { method: "GET", headers: { accept: "text/html" } });
    assert.equal(page.status, 200, page.text.slice(0, 200));
    const html = page.text;
    const wanted = new Set<string>();
    for (const m of html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)) wanted.add(m[1] as string);
    for (const m of html.matchAll(/<link\b[^>]*>/g)) {
      const tag = m[0];
      const href = /\bhref="([^"]+)"/.exec(tag)?.[1];
      if (href && !href.startsWith("data:")) wanted.add(href);
    }
    for (const m of html.matchAll(/<img\b[^>]*\bsrc="([^"]+)"/g)) {
      if (!(m[1] as string).startsWith("data:")) wanted.add(m[1] as string);
    }
    // Without an icon link, every browser asks for /favicon.ico on its own.
    if (!/<link\b[^>]*\brel="[^"]*\bicon\b[^"]*"/i.test(html)) wanted.add("/favicon.ico");
    // The console asks the gateway where to sign in, before anyone signs in.
    wanted.add("/admin/api/config");
    const failed: string[] = [];
    for (const ref of wanted) {
      const url = new URL(ref, `${gw.url}/admin/`).toString();
      const res = await http(url, { method: "GET" });
      if (res.status >= 400) failed.push(`${ref} → ${res.status}`);
    }
    assert.deepEqual(failed, [], "the console's first load makes requests that fail");
  });
});
