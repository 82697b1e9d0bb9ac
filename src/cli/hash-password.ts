import { hashPassword } from "../auth/passwords.js";

/** Reads a password on stdin (one line) and prints its hash for `auth.users[].password_hash`. */
export async function hashPasswordCommand(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
  if (!password) {
    process.stderr.write("mcp-warden: no password on stdin\n");
    process.exitCode = 2;
    return;
  }
  process.stdout.write(`${await hashPassword(password)}\n`);
}
