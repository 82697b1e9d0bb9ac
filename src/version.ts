import { readFileSync } from "node:fs";
import { packageFile } from "./package/root.js";

const pkg = JSON.parse(readFileSync(packageFile("package.json"), "utf8")) as { version: string };
export const VERSION: string = pkg.version;
