import { ErrorCode, GatewayError } from "../../errors.js";
import type { Kill } from "../../ops/kill-store.js";
import type { KillSwitch } from "../../ops/kill-switch.js";
import type { Interceptor } from "../compose.js";
import type { CallContext, Outcome } from "../context.js";

export function killedError(kill: Kill): GatewayError {
  return new GatewayError(
    ErrorCode.Killed,
    "killed",
    `stopped by the kill switch: ${kill.reason}`.slice(0, 300),
    {
      scope: kill.scope,
      ...(kill.target ? { target: kill.target } : {}),
    },
  );
}

/**
 * The first brake: a call covered by a kill (everything, its server, its tool, its user or its
 * client) is refused with -32003 before any policy work. Lists leave out what is killed.
 */
export function killSwitch(kills: KillSwitch): Interceptor<CallContext, Outcome> {
  // Not async: a call that passes is handed on as it is (no promise of its own per call).
  return function killSwitchCall(ctx, next) {
    const plan = ctx.plan;
    const p = ctx.principal;
    const kill =
      plan.kind === "call"
        ? kills.check({ server: plan.server, name: plan.name, subject: p.subject, clientId: p.clientId })
        : kills.check({ subject: p.subject, clientId: p.clientId });
    // Thrown here, it is the chain's rejection (compose.ts).
    if (kill) throw killedError(kill);
    if (plan.kind === "call") return next();
    return next().then((outcome) => {
      if (outcome.kind === "list") {
        outcome.items = outcome.items.filter(({ server, item }) => {
          if (kills.has("server", server)) return false;
          const name = typeof item.name === "string" ? item.name : undefined;
          return name === undefined || !kills.has("tool", `${server}/${name}`);
        });
      }
      return outcome;
    });
  };
}
