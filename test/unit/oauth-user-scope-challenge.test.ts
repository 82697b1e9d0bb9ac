// Per-user upstream OAuth, scope step-up: how an upstream's 403 challenge is read (RFC 6750 §3.1,
// RFC 9110 §11.6.1) and how the scopes a reconnect asks for are united and bounded. Everything in
// a challenge is the server's: hostile ones must come out as "no step-up" or "unusable", never as
// a scope with a quote, a space or a control character in it, and never unbounded.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  challengedScopes,
  MAX_SCOPES,
  insufficientScope,
  scopeList,
  scopeUnion,
} from "../../src/upstreams/oauth-user/scope-challenge.js";

const challenge = (scope: string) => `Bearer error="insufficient_scope", scope="${scope}"`;

describe("reading a 403's insufficient_scope challenge", () => {
  test("the scopes of a well-formed challenge, in any of the forms RFC 9110 allows", () => {
    assert.deepEqual(
      insufficientScope(
        'Bearer error="insufficient_scope", scope="mcp:write", resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp"',
      ),
      { scopes: ["mcp:write"] },
    );
    // Scheme and parameter names are case-insensitive; the order of parameters is free.
    assert.deepEqual(insufficientScope('bearer SCOPE="a b", Error="insufficient_scope"'), {
      scopes: ["a", "b"],
    });
    // Unquoted token values, other challenges before it (a token68 one too), repeats removed.
    assert.deepEqual(
      insufficientScope(
        'Basic abc==, DPoP algs="ES256", Bearer error=insufficient_scope, scope="x x y", realm=r',
      ),
      { scopes: ["x", "y"] },
    );
    // The MCP conformance mock's order: scope first.
    assert.deepEqual(
      insufficientScope(
        'Bearer scope="mcp:write", resource_metadata="http://h/x", error="insufficient_scope"',
      ),
      { scopes: ["mcp:write"] },
    );
  });

  test("a 403 for another reason, or no Bearer challenge, is not a step-up", () => {
    assert.equal(insufficientScope(null), undefined);
    assert.equal(insufficientScope(""), undefined);
    assert.equal(insufficientScope('Bearer error="invalid_token"'), undefined);
    assert.equal(insufficientScope('Bearer scope="a"'), undefined);
    assert.equal(insufficientScope('Basic realm="insufficient_scope"'), undefined);
    assert.equal(insufficientScope('DPoP error="insufficient_scope", scope="a"'), undefined);
  });

  test("a header that is not RFC 9110 challenges is not read at all", () => {
    for (const header of [
      'Bearer error="insufficient_scope", scope="a', // unterminated quote
      'Bearer error="insufficient_scope", scope="a\nb"', // a control character
      'Bearer error="insufficient_scope", scope="a\u0000"',
      'Bearer error="insufficient_scope", scope="a\u007f"',
      'Bearer error="insufficient_scope", scope="a\u2028b"', // past obs-text
      'Bearer error="insufficient_scope", scope="a", scope="b"', // a parameter twice
      'error="insufficient_scope", scope="a"', // a parameter before any scheme
      'Bearer error="insufficient_scope" scope="a"', // no comma between parameters
      'Bearer error="insufficient_scope", scope=', // no value
    ])
      assert.equal(insufficientScope(header), undefined, JSON.stringify(header));
  });

  test("a challenge whose scope is not usable says so, and carries nothing", () => {
    const unusable = (header: string) => {
      const got = insufficientScope(header);
      assert.ok(got && "invalid" in got, `${JSON.stringify(header).slice(0, 80)}: ${JSON.stringify(got)}`);
      return got.invalid;
    };
    assert.match(unusable('Bearer error="insufficient_scope"'), /names no scope/);
    assert.match(unusable(challenge("")), /names no scope/);
    assert.match(unusable(challenge("   ")), /names no scope/);
    // Quotes and backslashes (as quoted-pairs), tabs, non-ASCII: not RFC 6749 scope-tokens.
    assert.match(unusable(challenge('a\\"b')), /not an OAuth scope token/);
    assert.match(unusable(challenge("a\\\\b")), /not an OAuth scope token/);
    assert.match(unusable(challenge("a\tb")), /not an OAuth scope token/);
    assert.match(unusable(challenge("caf\u00e9")), /not an OAuth scope token/);
    assert.match(unusable(challenge("x".repeat(300))), /not an OAuth scope token/);
    // Over a thousand scopes (as many as fit under the header bound).
    const many = Array.from({ length: 1500 }, (_, i) => `s${i}`).join(" ");
    assert.ok(many.length < 8000);
    assert.match(unusable(challenge(many)), new RegExp(`more than ${MAX_SCOPES} scopes`));
  });

  test("a header past the bound is refused whole, before it is scanned", () => {
    assert.equal(insufficientScope(challenge("a ".repeat(500_000))), undefined);
    assert.equal(insufficientScope(`Bearer ${"x=y, ".repeat(200_000)}error="insufficient_scope"`), undefined);
  });

  test("scope-token characters that mean something in a URL are kept as they are: they are encoded later", () => {
    const got = insufficientScope(challenge("repo:write&redirect_uri=https://evil.example/#x"));
    assert.deepEqual(got, { scopes: ["repo:write&redirect_uri=https://evil.example/#x"] });
    const url = new URL("https://as.example/authorize");
    url.searchParams.set("redirect_uri", "https://gw.example/connect/callback");
    url.searchParams.set("scope", ["repo", ...(got as { scopes: string[] }).scopes].join(" "));
    assert.deepEqual(url.searchParams.getAll("redirect_uri"), ["https://gw.example/connect/callback"]);
    assert.equal(url.hash, "");
    assert.equal(url.searchParams.get("scope"), "repo repo:write&redirect_uri=https://evil.example/#x");
  });
});

describe("the scopes a reconnect asks for", () => {
  test("a union in first-seen order, without invalid tokens", () => {
    assert.deepEqual(scopeUnion(["mcp:basic", "offline_access"], ["mcp:basic"], ["mcp:write"]), [
      "mcp:basic",
      "offline_access",
      "mcp:write",
    ]);
    assert.deepEqual(scopeUnion([], ['a"b', "ok", "sp ace", ""]), ["ok"]);
  });

  test("more than one authorization request carries is refused, not cut", () => {
    const many = Array.from({ length: MAX_SCOPES }, (_, i) => `s${i}`);
    assert.equal(scopeUnion(many)?.length, MAX_SCOPES);
    assert.equal(scopeUnion(many, ["one-more"]), undefined);
    const long = Array.from({ length: 20 }, (_, i) => `${"x".repeat(250)}${i}`);
    assert.equal(scopeUnion(long), undefined, "past the joined length bound");
  });

  test("a stored list (a token response's scope) keeps only scope-tokens, bounded", () => {
    assert.deepEqual(scopeList("repo  offline_access repo \u0000bad"), ["repo", "offline_access"]);
    assert.deepEqual(scopeList(undefined), []);
    assert.ok(scopeList("a ".repeat(100_000)).length === 1);
    assert.ok(scopeList(Array.from({ length: 5000 }, (_, i) => `s${i}`).join(" ")).length <= MAX_SCOPES * 4);
  });

  test("a 401's scope for the first connect is read by the same strict reader", () => {
    const h = 'Bearer scope="mcp:basic repo", resource_metadata="https://mcp.example/.well-known/x"';
    assert.deepEqual(challengedScopes(h), ["mcp:basic", "repo"]);
    // A parameter whose name ends in "scope", or a scope inside another value, is not the scope.
    assert.deepEqual(challengedScopes('Bearer xscope="admin"'), []);
    assert.deepEqual(challengedScopes('Bearer realm="scope=\\"admin\\""'), []);
    // Outside the grammar (a control character, an unterminated quote): nothing read.
    assert.deepEqual(challengedScopes('Bearer scope="a\u0001b"'), []);
    assert.deepEqual(challengedScopes('Bearer scope="repo'), []);
    assert.deepEqual(challengedScopes('Basic scope="repo"'), []);
    assert.deepEqual(challengedScopes(null), []);
  });
});
