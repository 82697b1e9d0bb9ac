// The floods bench/dos.ts runs against a gateway, each from its own loopback address (never the
// legitimate caller's), bounded by a stop signal: every worker stops starting requests once told.
import { randomBytes, createHash } from "node:crypto";
import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { connect, type Socket } from "node:net";

/**
 * Each flood comes from its own loopback address (127.0.0.2 and up), so that one flood's window
 * does not carry into the next phase; the legitimate caller stays on 127.0.0.1.
 */
export const FIRST_ATTACKER = 2;

export interface Target {
  /** http://127.0.0.1:<port> */
  readonly base: string;
  /** A token and a session of the attacker's own (an authenticated caller sending bad bodies). */
  readonly token: string;
  readonly sessionId: string;
  /** A client registered beforehand, for authorization and sign-in floods. */
  readonly clientId: string;
  readonly redirectUri: string;
  /** The address this flood connects from. */
  readonly source: string;
}

export interface AttackStats {
  sent: number;
  /** HTTP status (or "error") → count. */
  statuses: Record<string, number>;
}

export interface Attack {
  readonly name: string;
  readonly description: string;
  run(target: Target, stop: AbortSignal, stats: AttackStats): Promise<void>;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });
/** Set once per process (one flood per process): the address every request leaves from. */
let source = "127.0.0.2";

function send(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; fresh?: boolean },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: opts.method ?? "GET",
        headers: opts.headers,
        localAddress: source,
        agent: opts.fresh ? false : agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString(),
          }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(opts.body);
  });
}

function count(stats: AttackStats, status: number | "error"): void {
  stats.sent++;
  stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
}

/** `workers` loops of `once` until `stop`. */
export function useSource(address: string): void {
  source = address;
}

async function loop(
  workers: number,
  stop: AbortSignal,
  stats: AttackStats,
  once: () => Promise<number>,
): Promise<void> {
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (!stop.aborted) {
        try {
          count(stats, await once());
        } catch {
          count(stats, "error");
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    }),
  );
}

const mcpHeaders = (extra: Record<string, string>) => ({
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  ...extra,
});

// 2,000,000 nested arrays (4 MB, under the 4 MiB body limit): about half a second of JSON.parse.
const DEEP_BODY = Buffer.from(
  `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"everything__echo","arguments":{"message":${"[".repeat(2_000_000)}${"]".repeat(2_000_000)}}}}`,
);

export const ATTACKS: readonly Attack[] = [
  {
    name: "deep",
    description: "2 senders, each posting 4 MB of nested `[` in a loop (an authenticated caller)",
    run: (t, stop, stats) =>
      loop(2, stop, stats, async () => {
        const res = await send(`${t.base}/mcp`, {
          method: "POST",
          fresh: true,
          headers: mcpHeaders({
            authorization: `Bearer ${t.token}`,
            "mcp-session-id": t.sessionId,
            "mcp-protocol-version": "2025-06-18",
          }),
          body: DEEP_BODY,
        });
        return res.status;
      }),
  },
  {
    name: "slow",
    description: "200 connections each trickling a body one byte a second (reopened when cut)",
    run: async (t, stop, stats) => {
      const { port } = new URL(t.base);
      const open = (): Promise<void> =>
        new Promise((resolve) => {
          if (stop.aborted) return resolve();
          const socket: Socket = connect({ port: Number(port), host: "127.0.0.1", localAddress: t.source });
          let reply = "";
          const head =
            `POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\n` +
            `accept: application/json, text/event-stream\r\nauthorization: Bearer ${t.token}\r\n` +
            `mcp-session-id: ${t.sessionId}\r\nmcp-protocol-version: 2025-06-18\r\ncontent-length: 100000\r\n\r\n{`;
          const drip = setInterval(() => socket.writable && socket.write(" "), 1000);
          const end = () => socket.destroy();
          stop.addEventListener("abort", end, { once: true });
          socket.on("data", (d: Buffer) => (reply += d.toString()));
          socket.on("error", () => undefined);
          socket.on("close", () => {
            clearInterval(drip);
            stop.removeEventListener("abort", end);
            if (!stop.aborted) count(stats, Number(/^HTTP\/1\.1 (\d+)/.exec(reply)?.[1] ?? 0) || "error");
            resolve();
          });
          socket.write(head);
        });
      await Promise.all(
        Array.from({ length: 200 }, async () => {
          while (!stop.aborted) await open();
        }),
      );
    },
  },
  {
    name: "unauthenticated",
    description: "8 loops of initialize without a token (401s)",
    run: (t, stop, stats) =>
      loop(8, stop, stats, async () => {
        const res = await send(`${t.base}/mcp`, {
          method: "POST",
          headers: mcpHeaders({}),
          body: JSON.stringify({
            jsonrpc: "2.0",
            id: 1,
            method: "initialize",
            params: {
              protocolVersion: "2025-06-18",
              capabilities: {},
              clientInfo: { name: "x", version: "1" },
            },
          }),
        });
        return res.status;
      }),
  },
  {
    name: "authorize",
    description: "8 loops of new authorization requests (each stores an interaction)",
    run: (t, stop, stats) => loop(8, stop, stats, async () => (await send(authorizeUrl(t), {})).status),
  },
  {
    name: "sign-in",
    description: "4 loops: open a sign-in page, then 5 attempts with random user names",
    run: (t, stop, stats) =>
      loop(4, stop, stats, async () => {
        const page = await openSignIn(t);
        if (!page) return 0;
        let status = 0;
        for (let i = 0; i < 5 && !stop.aborted; i++) {
          const res = await send(page.action, {
            method: "POST",
            headers: {
              "content-type": "application/x-www-form-urlencoded",
              origin: t.base,
              cookie: page.cookies,
            },
            body: new URLSearchParams({
              csrf: page.csrf,
              username: `user-${randomBytes(6).toString("hex")}`,
              password: randomBytes(9).toString("base64url"),
            }).toString(),
          });
          status = res.status;
          if (i < 4) count(stats, status);
          if (res.status !== 401) break;
        }
        return status;
      }),
  },
  {
    name: "register",
    description: "8 loops of dynamic client registration",
    run: (t, stop, stats) =>
      loop(8, stop, stats, async () => {
        const res = await send(`${t.base}/oauth/register`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            client_name: `flood-${randomBytes(4).toString("hex")}`,
            redirect_uris: ["http://127.0.0.1:9/callback"],
            token_endpoint_auth_method: "none",
          }),
        });
        return res.status;
      }),
  },
];

function authorizeUrl(t: Target): string {
  const verifier = randomBytes(32).toString("base64url");
  const q = new URLSearchParams({
    response_type: "code",
    client_id: t.clientId,
    redirect_uri: t.redirectUri,
    scope: "demo:use",
    resource: `${t.base}/mcp`,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    state: randomBytes(8).toString("hex"),
  });
  return `${t.base}/oauth/authorize?${q}`;
}

/** Follows an authorization request to its sign-in page: the form's action, CSRF token, cookies. */
async function openSignIn(t: Target): Promise<{ action: string; csrf: string; cookies: string } | undefined> {
  const jar = new Map<string, string>();
  let url = authorizeUrl(t);
  for (let hop = 0; hop < 5; hop++) {
    const res = await send(url, { headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") } });
    for (const line of ([] as string[]).concat(res.headers["set-cookie"] ?? [])) {
      const [pair] = line.split(";");
      const eq = (pair ?? "").indexOf("=");
      if (eq > 0) jar.set((pair as string).slice(0, eq).trim(), (pair as string).slice(eq + 1).trim());
    }
    const location = res.headers.location;
    if (res.status >= 300 && res.status < 400 && location) {
      url = new URL(location, url).href;
      continue;
    }
    const action = /<form method="post" action="([^"]+\/login)">/.exec(res.text)?.[1];
    const csrf = /name="csrf" value="([^"]+)"/.exec(res.text)?.[1];
    if (!action || !csrf) return undefined;
    return {
      action: new URL(action.replace(/&amp;/g, "&"), url).href,
      csrf,
      cookies: [...jar].map(([k, v]) => `${k}=${v}`).join("; "),
    };
  }
  return undefined;
}
