#!/usr/bin/env node
// A stdio MCP server for bench/blast.ts: `echo`, and `crash`, which ends the process while its
// call is in flight (any server that dies on some input behaves like this to the gateway).
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const server = new McpServer({ name: "crash", version: "1.0.0" });

server.registerTool(
  "echo",
  { description: "Echoes its message", inputSchema: { message: z.string() } },
  async ({ message }) => ({ content: [{ type: "text", text: `Echo: ${message}` }] }),
);

server.registerTool("crash", { description: "Ends this server's process, unanswered" }, async () => {
  process.exit(1);
});

await server.connect(new StdioServerTransport());
