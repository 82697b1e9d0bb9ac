// Resource URIs: authorization decides on the URI an upstream will resolve. The properties model
// the most liberal upstream (decodes repeatedly, treats `\` as `/`, resolves dot segments) and
// assert that whatever the gateway lets through under a public pattern, that upstream also
// resolves under the public folder.
import assert from "node:assert/strict";
import { posix } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { anonymousPrincipal } from "../../src/auth/principal.js";
import { parseConfig } from "../../src/config/load.js";
import { AccessPolicy } from "../../src/policy/access.js";
import { normalizePattern, normalizeUri } from "../../src/policy/uri.js";

const CONFIG = `
servers:
  - name: files
    command: x
    tools: { "*": [files:read] }
    resources: { "file:///srv/public/*": [], "FILE:///srv/%7Eann/*": [], "file:///srv/*": [files:admin] }
`;
const policy = new AccessPolicy(parseConfig(CONFIG, "t.yaml", {}));
const nobody = anonymousPrincipal([]);
const allowed = (uri: string) => policy.decide("resource", "files", uri, nobody).allowed;

/** What a liberal upstream serves for a file: URI. */
function upstreamPath(uri: string): string {
  let path = uri.replace(/^file:\/\//i, "");
  for (let i = 0; i < 6; i++) {
    try {
      path = decodeURIComponent(path);
    } catch {
      break;
    }
  }
  return posix.normalize(path.replaceAll("\\", "/"));
}

test("dot segments in every spelling are refused, whatever pattern they would match", () => {
  for (const uri of [
    "file:///srv/public/../private/x",
    "file:///srv/public/%2e%2e/private/x",
    "file:///srv/public/%2E%2e/private/x",
    "file:///srv/public/.%2E/private/x",
    "file:///srv/public/%252e%252e/private/x",
    "file:///srv/public/%25252e%25252e/private/x",
    "file:///srv/public/..%2Fprivate/x",
    "file:///srv/public/..%5Cprivate/x",
    "file:///srv/public\\..\\private/x",
    "file:///srv/public/./x",
    "file:///srv/public/x/..",
    "file:///srv/public/%2e%2e%2fprivate/x",
  ]) {
    const d = policy.decide("resource", "files", uri, anonymousPrincipal(["files:admin"]));
    assert.equal(d.allowed, false, uri);
    assert.equal(!d.allowed && d.reason, "uri_not_canonical", uri);
  }
});

test("separators only some servers see are refused: backslashes, encoded slashes, compatibility forms", () => {
  for (const uri of [
    "file:///srv/private\\secret.txt",
    "file:///srv/private%5Csecret.txt",
    "file:///srv/private%5csecret.txt",
    "file:///srv/private%2Fsecret.txt",
    "file:///srv/private%252Fsecret.txt",
    "file:///srv/private\uff0fsecret.txt",
    "file:///srv/private%EF%BC%8Fsecret.txt",
    "file:///srv/public/\uff0e\uff0e/private/secret.txt",
  ]) {
    const v = normalizeUri(uri);
    assert.equal(v.ok, false, uri);
    assert.ok(!v.ok && ["hidden_separator", "dot_segment"].includes(v.why), `${uri}: ${JSON.stringify(v)}`);
  }
});

test("a URI a WHATWG parser would read differently is refused: surrounding spaces, a bad scheme", () => {
  for (const uri of [
    " file:///srv/private/secret.txt",
    "file:///srv/private/secret.txt ",
    "\u00a0file:///srv/private/secret.txt",
    "\u3000file:///srv/private/secret.txt",
    "fi le:///srv/private/secret.txt",
    "1file:///srv/private/secret.txt",
    "file\u200b:///srv/private/secret.txt",
  ])
    assert.equal(normalizeUri(uri).ok, false, JSON.stringify(uri));
});

test("dot segments in the query or fragment are refused too (a server may resolve them as a path)", () => {
  for (const uri of [
    "file:///srv/public/x?/../../private/secret.txt",
    "file:///srv/public/x#/../../private/secret.txt",
    "file:///srv/public/x?%2F..%2F..%2Fprivate",
    "file:///srv/public/x?\\..\\private",
  ]) {
    const v = normalizeUri(uri);
    assert.deepEqual(v, { ok: false, why: "dot_segment" }, uri);
  }
  assert.ok(
    normalizeUri("https://example.com/a?next=%2Fhome%2Fb").ok,
    "an encoded slash in a query is ordinary",
  );
});

test("control characters, NUL and broken escapes are refused", () => {
  for (const uri of [
    "file:///srv/public/x\u0000.txt",
    "file:///srv/public/x%00.txt",
    "file:///srv/public/x%2500.txt",
    "file:///srv/public/x\n",
    "file:///srv/public/x\u0085",
    "file:///srv/public/%zz",
    "file:///srv/public/%",
  ])
    assert.equal(normalizeUri(uri).ok, false, JSON.stringify(uri));
});

test("equivalent spellings decide alike: scheme and host case, unreserved escapes, hex case", () => {
  assert.ok(allowed("file:///srv/public/readme.txt"));
  assert.ok(allowed("FILE:///srv/public/readme.txt"));
  assert.ok(allowed("file:///srv/%70ublic/readme.txt"));
  assert.ok(allowed("file:///srv/~ann/notes"));
  assert.ok(allowed("file:///srv/%7eann/notes"));
  assert.ok(!allowed("file:///srv/private/readme.txt"));
  assert.ok(!allowed("File:///srv/private/readme.txt"));
  assert.deepEqual(normalizeUri("HTTP://Example.COM/A%3ab"), { ok: true, uri: "http://example.com/A%3Ab" });
  assert.equal(normalizePattern("FILE:///srv/%7Eann/*"), "file:///srv/~ann/*");
  // Userinfo keeps its case; only the host is folded.
  assert.deepEqual(normalizeUri("s3://Key@Bucket.Example/x"), { ok: true, uri: "s3://Key@bucket.example/x" });
});

test("ordinary URIs pass unchanged: queries, fragments, literal percent, spaces, opaque URIs", () => {
  for (const uri of [
    "file:///srv/public/a%20b.txt",
    "file:///srv/public/100%25.txt",
    "demo://resource/static/document/1",
    "urn:isbn:0451450523",
    "file:///srv/public/x?v=../y#frag",
    "file:///srv/public/.hidden",
    "file:///srv/public/a..b",
    "file:///srv/public/...",
  ]) {
    const v = normalizeUri(uri);
    assert.ok(v.ok, uri);
    assert.equal(v.ok && v.uri, uri);
  }
});

const piece = fc.constantFrom(
  "public",
  "private",
  "x",
  ".",
  "..",
  "%2e",
  "%2E",
  "%252e",
  "%2f",
  "%2F",
  "%5c",
  "\\",
  "/",
  "%25",
  "%70",
  "a",
  "~",
  "%7E",
);
const path = fc.array(piece, { maxLength: 12 }).map((p) => p.join(""));

test("property: a URI allowed under the public pattern resolves under /srv/public/ upstream", () => {
  fc.assert(
    fc.property(path, (tail) => {
      const uri = `file:///srv/public/${tail}`;
      if (!allowed(uri)) return;
      const served = upstreamPath(uri);
      assert.ok(served.startsWith("/srv/public/") || served === "/srv/public", `${uri} → ${served}`);
    }),
    { numRuns: 5000 },
  );
});

const privateFirst = new AccessPolicy(
  parseConfig(
    `
servers:
  - name: files
    command: x
    tools: { "*": [files:read] }
    resources: { "file:///srv/private/*": [files:admin], "file:///srv/*": [] }
`,
    "t.yaml",
    {},
  ),
);

test("property: with the private pattern first, nothing a caller without its scope may read lands in /srv/private", () => {
  const sep = fc.constantFrom("/", "\\", "%2F", "%2f", "%5C", "%252F", "\uff0f", "%EF%BC%8F");
  const name = fc.constantFrom(
    "private",
    "PRIVATE",
    "public",
    "secret.txt",
    ".",
    "..",
    "%2e%2e",
    "\uff0e\uff0e",
    "x",
  );
  const tail = fc
    .array(fc.tuple(name, sep), { maxLength: 8 })
    .map((ps) => ps.map(([n, s]) => n + s).join(""));
  fc.assert(
    fc.property(tail, name, (t, last) => {
      const uri = `file:///srv/${t}${last}`;
      if (!privateFirst.decide("resource", "files", uri, nobody).allowed) return;
      const served = upstreamPath(uri).normalize("NFKC");
      // (The folder itself, /srv/private, is not under the pattern: that is the config's choice.)
      assert.ok(!served.startsWith("/srv/private/"), `${uri} → ${served}`);
    }),
    { numRuns: 10000 },
  );
});

test("property: no allowed URI hides a dot segment from any depth of decoding", () => {
  fc.assert(
    fc.property(path, (tail) => {
      const v = normalizeUri(`file:///srv/${tail}`);
      if (!v.ok) return;
      let layer = v.uri;
      for (let i = 0; i < 5; i++) {
        for (const s of layer.split(/[/\\]/)) assert.ok(s !== "." && s !== "..", `${tail} → ${layer}`);
        try {
          layer = decodeURIComponent(layer);
        } catch {
          return;
        }
      }
    }),
    { numRuns: 5000 },
  );
});

test("property: normalisation is idempotent", () => {
  fc.assert(
    fc.property(fc.oneof(path, fc.string()), (tail) => {
      const v = normalizeUri(`file:///${tail}`);
      if (!v.ok) return;
      assert.deepEqual(normalizeUri(v.uri), v);
    }),
    { numRuns: 3000 },
  );
});
