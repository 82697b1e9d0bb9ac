import type { ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./paths.js";
import { spawnTracked, stopChild } from "./processes.js";
import { waitFor } from "./wait.js";

const NGINX = "/usr/sbin/nginx";

export interface Nginx {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Runs the shipped deploy/nginx.conf in front of the gateways at `upstreams` (its `warden-1` and
 * `warden-2`), listening on 127.0.0.1:`port`, with its files under `dir`; resolves once it answers
 * /healthz through a gateway.
 */
export async function startNginx(opts: {
  dir: string;
  port: number;
  upstreams: readonly [number, number];
}): Promise<Nginx> {
  const { dir, port, upstreams } = opts;
  // The shipped file, with this test's addresses in place of the compose service names.
  const conf = readFileSync(join(ROOT, "deploy", "nginx.conf"), "utf8")
    .replaceAll("warden-1:8808", `127.0.0.1:${upstreams[0]}`)
    .replaceAll("warden-2:8808", `127.0.0.1:${upstreams[1]}`)
    .replace("listen 8808;", `listen 127.0.0.1:${port};`)
    .replace(
      "http {",
      `http {\n  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;`,
    );
  const file = join(dir, "nginx.conf");
  writeFileSync(file, conf);
  const child: ChildProcess = spawnTracked(
    NGINX,
    ["-c", file, "-g", `daemon off; pid ${dir}/nginx.pid; error_log stderr;`],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      try {
        return (await fetch(`${url}/healthz`)).ok;
      } catch {
        return false;
      }
    },
    { what: "nginx to answer" },
  );
  return { url, stop: () => stopChild(child, "SIGQUIT").then(() => undefined) };
}
