import { ErrorCode, GatewayError, PeerRpcError } from "../../errors.js";
import { ResultTooLarge, type Findings, type Protector } from "../../protect/protector.js";
import type { Interceptor } from "../compose.js";
import type { CallContext, Outcome } from "../context.js";

/**
 * Data protection around the forward: sensitive arguments blocked or redacted on the way in;
 * results (and upstream errors) stripped of hidden Unicode, checked for injected instructions and
 * redacted on the way out. Any failure inside protection withholds the result (fail closed).
 */
export function protect(protectors: ReadonlyMap<string, Protector>): Interceptor<CallContext, Outcome> {
  return async function protectCall(ctx, next) {
    const plan = ctx.plan;
    if (plan.kind !== "call") return next();
    const protector = protectors.get(plan.server);
    if (!protector) throw failed("no protection compiled for this server");
    const findings: Findings = { redacted: {}, signals: [], binary: [] };
    ctx.findings = findings;
    try {
      const args = plan.params?.arguments;
      if (args !== undefined && (ctx.method === "tools/call" || ctx.method === "prompts/get")) {
        plan.params = { ...plan.params, arguments: guarded(() => protector.arguments(args, findings)) };
        ctx.argumentsClean =
          protector.options.redactArguments !== "off" && Object.keys(findings.redacted).length === 0;
      }
      let outcome: Outcome;
      try {
        outcome = await next();
      } catch (err) {
        if (err instanceof PeerRpcError) throw guarded(() => protector.error(err, findings));
        throw err;
      }
      if (outcome.kind !== "result") return outcome;
      const source = `${plan.server}/${plan.name}`.slice(0, 200);
      const toolNames = ctx.catalog.toolNames();
      const result = outcome.result;
      outcome.result = guarded(() => protector.result(ctx.method, result, { source, toolNames }, findings));
      if (protector.classifier) {
        // After the local detector: a result it already flagged is not sent out to be classified.
        const checked = await protector.classified(ctx.method, outcome.result, source, findings);
        if (checked.error)
          ctx.log.warn(
            { error: checked.error },
            "injection classifier failed; result passed (on_error: allow)",
          );
        outcome.result = checked.result;
      }
      return outcome;
    } finally {
      // One line per call, whether it was refused, failed upstream or returned.
      report(ctx, findings);
    }
  };
}

function guarded<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    if (err instanceof ResultTooLarge) {
      throw new GatewayError(ErrorCode.SensitiveDataBlocked, "too_large_to_inspect", err.message);
    }
    throw failed(err instanceof Error ? err.message : String(err));
  }
}

function failed(why: string): GatewayError {
  // The detail goes to the log only; the client learns that protection withheld the data.
  return new GatewayError(
    ErrorCode.SensitiveDataBlocked,
    "protection_failed",
    "the data could not be inspected and was withheld",
    {
      detail: why.slice(0, 200),
    },
  );
}

/**
 * A debug line per call with findings: the audit log records them (`redacted` and `injection`
 * events), and an info line per redacted call cost as much CPU as the redaction (bench/load.ts).
 */
function report(ctx: CallContext, f: Findings): void {
  if (!ctx.log.isLevelEnabled("debug")) return;
  const types = Object.keys(f.redacted);
  if (types.length === 0 && f.signals.length === 0 && f.binary.length === 0) return;
  ctx.log.debug(
    { method: ctx.method, redacted: f.redacted, injection: f.signals.map((s) => s.kind), binary: f.binary },
    "protection findings",
  );
}
