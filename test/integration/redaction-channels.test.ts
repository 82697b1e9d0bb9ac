// Issue 18, item 2: redaction in every channel, through the real gateway. Upstream:
// channel-leaks-server.mjs, which puts secrets (some disguised) in object keys, `_meta`,
// annotations, resource links, unknown content types, across two text items, as a JSON number, in
// a log notification's logger and keys, in a resource update, and in every list's descriptions and
// titles. Each test asserts the value is gone from what the client received on the wire AND that the
// look-alikes beside it arrived byte for byte.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { z } from "zod";
import { gatewayConfig } from "../helpers/configs.js";
import {
  connectClient,
  fixture,
  startGateway,
  type ConnectedClient,
  type Gateway,
} from "../helpers/gateway.js";
import { waitFor } from "../helpers/wait.js";

// Fake but format-valid values, assembled at run time so no secret scanner takes this file for a leak.
const AWS = "AKIA" + "Z7Q2XK4M5P3L2R6T";
const GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8";
const EMAIL = "alice.smith" + "@corp-mail.example.com";
const CARD_DIGITS = "4111111111111111";
const SECRETS = {
  aws: AWS,
  github: GITHUB,
  email: EMAIL,
  card: "4111 1111 1111 1111",
  cardDigits: CARD_DIGITS,
  // Cyrillic А and К for the Latin letters.
  awsHomoglyph: "\u0410\u041a" + AWS.slice(2),
  githubBase64: Buffer.from(`token=${GITHUB}`).toString("base64"),
  dbUrl: "postgres://app:" + "s3cr3tPassw0rd" + "@db.internal:5432/app",
};
const LOOKALIKES = {
  uuid: "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
  sha: "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
  date: "2026-11-26T07:12:00Z",
  card: "4111 1111 1111 1112", // fails Luhn
  cardDigits: "4111111111111112",
  prose: "Привет, мир; 你好，世界；ＦＵＬＬ ｗｉｄｔｈ",
  image:
    "data:image/png;base64," +
    Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) % 256)).toString("base64"),
};
/** Every form in which a secret must not reach the client. */
const FORBIDDEN = [
  AWS,
  GITHUB,
  EMAIL,
  SECRETS.card,
  CARD_DIGITS,
  SECRETS.awsHomoglyph,
  SECRETS.githubBase64,
  "s3cr3tPassw0rd",
];

const Any = z.object({}).passthrough();

describe("redaction in every channel (issue 18)", () => {
  let gw: Gateway;
  let c: ConnectedClient;

  before(async () => {
    gw = await startGateway(
      gatewayConfig([
        {
          name: "leaks",
          command: process.execPath,
          args: [fixture("channel-leaks-server.mjs")],
          env: { SECRETS: JSON.stringify(SECRETS), LOOKALIKES: JSON.stringify(LOOKALIKES) },
          tools: { "*": ["demo:use"] },
          protect: { injection: "off" },
        },
      ]),
    );
    c = await connectClient(gw.mcpUrl);
  });

  after(async () => {
    await c?.close();
    await gw?.stop();
  });

  /** A tools/call as the wire carried it (no client-side schema: unknown content types pass). */
  const call = async (kind: string) =>
    JSON.stringify(
      await c.client.request(
        { method: "tools/call", params: { name: "leaks__leak", arguments: { kind } } },
        Any,
      ),
    );
  const gone = (body: string, what: string) => {
    for (const s of FORBIDDEN) assert.ok(!body.includes(s), `${what}: ${s} reached the client: ${body}`);
  };
  const kept = (body: string, ...values: string[]) => {
    for (const v of values)
      assert.ok(body.includes(JSON.stringify(v).slice(1, -1)), `look-alike changed: ${v} in ${body}`);
  };

  test("object keys of structured content, at any depth", async () => {
    const body = await call("keys");
    gone(body, "keys");
    kept(body, LOOKALIKES.uuid);
    assert.match(body, /\[REDACTED:github_token\]/);
  });

  test("result and item _meta", async () => {
    const body = await call("meta");
    gone(body, "_meta");
    kept(body, LOOKALIKES.sha);
  });

  test("annotations", async () => {
    const body = await call("annotations");
    gone(body, "annotations");
    kept(body, LOOKALIKES.date);
  });

  test("resource_link uri, name, title and description", async () => {
    const body = await call("link");
    gone(body, "resource_link");
    kept(body, "https://files.example.com/plain.csv", LOOKALIKES.uuid);
  });

  test("a content type no spec defines: refused or redacted, never relayed as it is", async () => {
    // The gateway's upstream client may refuse a result it cannot parse; either way no value leaks.
    const body = await call("unknown").catch((err: Error) => `refused: ${err.message}`);
    gone(body, "unknown content type");
    if (!body.startsWith("refused")) kept(body, LOOKALIKES.uuid);
  });

  test("a secret split across two adjacent text items", async () => {
    const r = (await c.client.request(
      { method: "tools/call", params: { name: "leaks__leak", arguments: { kind: "split" } } },
      Any,
    )) as { content: Array<{ text: string }> };
    const joined = r.content.map((x) => x.text).join("");
    assert.ok(!joined.includes(GITHUB), joined);
    assert.ok(!joined.includes(GITHUB.slice(0, 18)) && !joined.includes(GITHUB.slice(18)), joined);
    assert.match(r.content[0]!.text, /^the key is \[REDACTED:github_token\]$/);
    assert.equal(r.content[1]!.text, " and nothing else");
    assert.equal(r.content[2]!.text, `order ${LOOKALIKES.card} ok`);
  });

  test("a card as a JSON number; a Luhn-failing number and a timestamp stay numbers", async () => {
    const r = (await c.client.request(
      { method: "tools/call", params: { name: "leaks__leak", arguments: { kind: "number" } } },
      Any,
    )) as { structuredContent: Record<string, unknown> };
    assert.equal(r.structuredContent.card, "[REDACTED:card_number]");
    assert.equal(r.structuredContent.order, Number(LOOKALIKES.cardDigits));
    assert.equal(r.structuredContent.id, 1732612345678);
  });

  test("disguised values (homoglyphs, base64, a database URL's password); prose and images intact", async () => {
    const body = await call("evasions");
    gone(body, "evasions");
    kept(
      body,
      LOOKALIKES.prose,
      LOOKALIKES.image,
      "postgres://app:[REDACTED:url_password]@db.internal:5432/app",
    );
  });

  test("tools, prompts, resources and templates lists: descriptions and titles; an item named by a secret is left out", async () => {
    const lists = await Promise.all(
      ["tools/list", "prompts/list", "resources/list", "resources/templates/list"].map(async (method) =>
        JSON.stringify(await c.client.request({ method, params: {} }, Any)),
      ),
    );
    for (const [i, body] of lists.entries()) gone(body, ["tools", "prompts", "resources", "templates"][i]!);
    const [tools, , resources] = lists as [string, string, string, string];
    kept(tools, LOOKALIKES.sha, "leak", "notify");
    assert.ok(!tools.includes("a tool whose name is a secret"), "a tool named by a secret was listed");
    assert.ok(resources.includes("leak://doc") && !resources.includes("secret-uri"), resources);
    // Still callable by its name after its description was redacted.
    assert.match(await call("other"), /nothing/);
  });

  test("a log notification's logger and keys; a resource update's _meta and fields", async () => {
    await c.client.setLoggingLevel("debug");
    const seen = c.notifications.length;
    await c.client.request({ method: "tools/call", params: { name: "leaks__notify", arguments: {} } }, Any);
    await waitFor(
      () =>
        c.notifications.slice(seen).some((n) => n.method === "notifications/message") &&
        c.notifications.slice(seen).some((n) => n.method === "notifications/resources/updated"),
      { what: "the log and resource-updated notifications" },
    );
    const got = c.notifications.slice(seen);
    const log = JSON.stringify(got.find((n) => n.method === "notifications/message")?.params);
    const updated = JSON.stringify(got.find((n) => n.method === "notifications/resources/updated")?.params);
    gone(log, "log notification");
    gone(updated, "resource update");
    assert.match(log, /"logger":"db \[REDACTED:aws_access_key\]"/);
    kept(log, LOOKALIKES.uuid);
    assert.match(updated, /"uri":"leak:\/\/doc"/);
    gone(JSON.stringify(c.wire), "anything on the wire");
  });
});
