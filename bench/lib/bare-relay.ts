// The floor for a bridge: streamable HTTP in, stdio out, with no checks at all. One upstream
// process per session (mcp-warden's isolation today), so ids need no remapping: each request body
// goes to the child as one line, and the child's line with that id is the answer, sent as written.
// No authentication, no limits, no logging, no audit; JSON is parsed only to find ids.
//   node --import tsx bench/lib/bare-relay.ts <port> <command> [args…]
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

const [portArg, command, ...args] = process.argv.slice(2);
if (!portArg || !command) throw new Error("usage: bare-relay.ts <port> <command> [args…]");

interface Upstream {
  readonly child: ChildProcess;
  readonly waiting: Map<string | number, ServerResponse>;
}

const sessions = new Map<string, Upstream>();

function launch(): Upstream {
  const child = spawn(command as string, args, { stdio: ["pipe", "pipe", "ignore"] });
  const up: Upstream = { child, waiting: new Map() };
  let partial = "";
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.length === 0) continue;
      // Notifications and requests from the server have no waiting caller here: dropped.
      const id = (JSON.parse(line) as { id?: string | number }).id;
      const res = id === undefined ? undefined : up.waiting.get(id);
      if (!res || id === undefined) continue;
      up.waiting.delete(id);
      res.end(line);
    }
  });
  return up;
}

function read(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const sid = req.headers["mcp-session-id"];
  if (req.method === "DELETE") {
    const up = typeof sid === "string" ? sessions.get(sid) : undefined;
    if (up) {
      sessions.delete(sid as string);
      up.child.kill();
    }
    res.writeHead(up ? 200 : 404).end();
    return;
  }
  // No standalone GET stream: the SDK client accepts 405 and goes on without one.
  if (req.method !== "POST") {
    res.writeHead(405).end();
    return;
  }
  const body = await read(req);
  const message = JSON.parse(body) as { id?: string | number; method?: string };
  let up = typeof sid === "string" ? sessions.get(sid) : undefined;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (!up && message.method === "initialize") {
    const id = randomUUID();
    up = launch();
    sessions.set(id, up);
    headers["mcp-session-id"] = id;
  }
  if (!up) {
    res.writeHead(404).end();
    return;
  }
  up.child.stdin?.write(`${body}\n`);
  if (message.id === undefined) {
    res.writeHead(202).end();
    return;
  }
  res.writeHead(200, headers);
  up.waiting.set(message.id, res);
}

const server = createServer((req, res) => {
  handle(req, res).catch(() => {
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(portArg), "127.0.0.1");

process.on("SIGTERM", () => {
  for (const up of sessions.values()) up.child.kill();
  server.close();
  process.exit(0);
});
