// The gateway runs from the CLI bundle (dist/cli-bundle/, scripts/build-cli.js): a profile's frames
// name its chunks. Each chunk's linked source map gives the file a frame came from (src/…, or a
// package under node_modules/), so that profiles still attribute time to parts of the code.
import { readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const maps = new Map<string, SourceMap | null>();

function mapOf(path: string): SourceMap | null {
  let map = maps.get(path);
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, "utf8")));
    } catch {
      map = null; // no map beside it: the frame stays where it is
    }
    maps.set(path, map);
  }
  return map;
}

/** `url` at `line`:`column` (0-based), at its source when it is a file of the bundle. */
export function sourceOf(url: string, line: number, column: number): { url: string; line: number } {
  if (!url.startsWith("file:") || !url.includes("/dist/cli-bundle/")) return { url, line };
  const path = fileURLToPath(url);
  const entry = mapOf(path)?.findEntry(line, column);
  if (!entry || !("originalSource" in entry)) return { url, line };
  return { url: pathToFileURL(resolve(dirname(path), entry.originalSource)).href, line: entry.originalLine };
}
