// Runs one flood of attacks.ts in its own process, so that the attacker's CPU and event loop are not
// the measured caller's: started with the attack's name and target (IPC), stopped by a "stop"
// message, it answers with its counts and exits.
import { ATTACKS, useSource, type AttackStats, type Target } from "./attacks.js";

const [name, json] = process.argv.slice(2);
const attack = ATTACKS.find((a) => a.name === name);
if (!attack || !json || !process.send)
  throw new Error("usage: attack-process.ts <attack> <target json> (with IPC)");
const stop = new AbortController();
const stats: AttackStats = { sent: 0, statuses: {} };
process.on("message", (m) => {
  if (m === "stop") stop.abort();
});
const target = JSON.parse(json) as Target;
useSource(target.source);
await attack.run(target, stop.signal, stats);
process.send(stats, () => process.exit(0));
