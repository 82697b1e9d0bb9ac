import { createContext } from "preact";
import type { Kill, KillScope } from "./api";
import type { ReasonRequest } from "./dialog";

/** What every view can ask of the app: a confirmed change, and the kill switch. */
export interface Actions {
  /** Opens the reason dialog for `request`. */
  ask(request: ReasonRequest): void;
  /** Asks for a reason, then stops `scope`/`target`. */
  kill(scope: KillScope, target: string): void;
  /** Asks for a reason, then lifts `kill`. */
  revive(kill: Kill): void;
  /** The active kills, as last read. */
  kills: Kill[];
  /** Read the kills again (after a change made elsewhere in the console). */
  refreshKills(): void;
}

export const ActionsContext = createContext<Actions>({
  ask: () => {},
  kill: () => {},
  revive: () => {},
  kills: [],
  refreshKills: () => {},
});

export function describeKill(scope: KillScope, target: string): string {
  switch (scope) {
    case "all":
      return "the whole gateway (every call to every server)";
    case "server":
      return `server ${target}`;
    case "tool":
      return `tool ${target}`;
    case "user":
      return `user ${target}`;
    case "client":
      return `client ${target}`;
  }
}
