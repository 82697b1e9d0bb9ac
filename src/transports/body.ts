import type { IncomingMessage } from "node:http";
import { JsonScanner, type JsonExcess, type JsonLimits } from "./json-scan.js";

export class BodyTooLarge extends Error {}

/** A JSON body past a JsonLimits, refused while it was read: nothing of it was parsed. */
export class JsonTooComplex extends Error {
  constructor(readonly excess: JsonExcess) {
    super(`JSON body past its ${excess} limit`);
  }
}

/**
 * Reads a request body, refusing (without buffering) anything past `limit` bytes, and with `json`
 * anything past those limits as its bytes arrive (JsonScanner), so that `JSON.parse` never sees it.
 * A body that stops arriving is cut by the server's `requestTimeout` (http/server.ts).
 */
export function readBody(req: IncomingMessage, limit: number, json?: JsonLimits): Promise<string> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new BodyTooLarge());
  const scanner = json && scannerFor(json);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const end = () => {
      if (scanner) release(scanner);
      resolve(
        chunks.length === 1 ? (chunks[0] as Buffer).toString("utf8") : Buffer.concat(chunks).toString("utf8"),
      );
    };
    const refuse = (err: Error) => {
      req.removeAllListeners("data");
      // The refused body's scanner stays out of the pool: `end` no longer runs.
      req.off("end", end);
      req.resume();
      reject(err);
    };
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return refuse(new BodyTooLarge());
      const excess = scanner?.write(chunk);
      if (excess) return refuse(new JsonTooComplex(excess));
      chunks.push(chunk);
    });
    req.on("end", end);
    req.on("error", reject);
  });
}

/**
 * Scanners of finished bodies, kept for the next ones with the same limits (an endpoint's limits
 * are one object): a scanner holds two typed arrays, which cost more to allocate per request than
 * the scan of a small body. A scanner whose body failed is not returned here.
 */
const spares: JsonScanner[] = [];
const MAX_SPARES = 64;

function scannerFor(limits: JsonLimits): JsonScanner {
  const spare = spares.pop();
  if (spare && spare.limits === limits) return spare;
  return new JsonScanner(limits);
}

function release(scanner: JsonScanner): void {
  scanner.reset();
  if (spares.length < MAX_SPARES) spares.push(scanner);
}
