import { test } from "node:test";
import assert from "node:assert/strict";
import { compose } from "../../src/pipeline/compose.js";
import { Route } from "../../src/gateway/route.js";
import { AccessPolicy } from "../../src/policy/access.js";
import { anonymousPrincipal } from "../../src/auth/principal.js";
import { parseConfig } from "../../src/config/load.js";
import { GatewayError } from "../../src/errors.js";

test("compose runs stages in order around the terminal step", async () => {
  const seen: string[] = [];
  const run = compose<object, string>(
    [
      async (_c, next) => (seen.push("a"), `a(${await next()})`),
      async (_c, next) => (seen.push("b"), `b(${await next()})`),
    ],
    async () => (seen.push("t"), "t"),
  );
  assert.equal(await run({}), "a(b(t))");
  assert.deepEqual(seen, ["a", "b", "t"]);
});

test("compose: a stage that throws stops the chain; a second next() is refused", async () => {
  let reached = false;
  const refusing = compose<object, string>(
    [async () => Promise.reject(new Error("no"))],
    async () => ((reached = true), "t"),
  );
  await assert.rejects(refusing({}), /no/);
  assert.equal(reached, false);
  let count = 0;
  const twice = compose<object, string>(
    [
      async function greedy(_c, next) {
        await next();
        return next();
      },
    ],
    async () => (count++, "t"),
  );
  await assert.rejects(twice({}), /called next\(\) twice/);
  assert.equal(count, 1);
});

test("compose: a stage or terminal that throws synchronously rejects the chain like an async one", async () => {
  const seen: string[] = [];
  const outer = async (_c: object, next: () => Promise<string>) => {
    try {
      return await next();
    } catch (err) {
      seen.push(`outer saw ${(err as Error).message}`);
      throw err;
    }
  };
  const syncRefusal = compose<object, string>(
    [
      outer,
      () => {
        throw new Error("refused");
      },
    ],
    async () => "t",
  );
  const pending = syncRefusal({});
  assert.ok(pending instanceof Promise, "a promise, never a synchronous throw");
  await assert.rejects(pending, /refused/);
  const syncTerminal = compose<object, string>([outer, (_c, next) => next()], () => {
    throw new Error("terminal");
  });
  await assert.rejects(syncTerminal({}), /terminal/);
  assert.deepEqual(seen, ["outer saw refused", "outer saw terminal"]);
});

test("route names: prefixed aggregate and one-server routes", () => {
  const agg = new Route("/mcp", ["files", "web"], true);
  assert.equal(agg.exposeName("files", "read__x"), "files__read__x");
  assert.deepEqual(agg.resolveName("files__read__x"), { server: "files", name: "read__x" });
  assert.equal(agg.resolveName("nope__x"), undefined);
  assert.equal(agg.resolveName("__x"), undefined);
  assert.equal(agg.resolveName("files"), undefined);
  const one = new Route("/servers/files/mcp", ["files"], false);
  assert.deepEqual(one.resolveName("files__x"), { server: "files", name: "files__x" });
});

test("access: exact entry beats '*', all scopes needed, unmapped denied with its reason", () => {
  const config = parseConfig(
    "servers:\n  - name: f\n    command: x\n    tools: { read: [r], write: [r, w], '*': [admin] }\n  - name: g\n    command: x\n    tools: { only: [] }\n",
    "t.yaml",
    {},
  );
  const access = new AccessPolicy(config);
  const reader = anonymousPrincipal(["r"]);
  assert.equal(access.decide("tool", "f", "read", reader).allowed, true);
  assert.equal(access.decide("tool", "f", "write", reader).allowed, false);
  assert.equal(access.decide("tool", "f", "other", reader).allowed, false);
  assert.equal(access.decide("tool", "f", "other", anonymousPrincipal(["admin"])).allowed, true);
  assert.equal(access.decide("tool", "g", "only", anonymousPrincipal([])).allowed, true);
  const unmapped = access.decide("tool", "g", "else", reader);
  assert.ok(!unmapped.allowed && unmapped.reason === "tool_not_mapped");
  assert.throws(
    () => access.check("tool", "f", "write", reader),
    (e: unknown) =>
      e instanceof GatewayError &&
      e.code === -32001 &&
      e.reason === "insufficient_scope" &&
      e.httpStatus === 403 &&
      JSON.stringify(e.data.scopes) === JSON.stringify(["r", "w"]),
  );
});
