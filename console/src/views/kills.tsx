// The kill switch: what is stopped now (each revivable), and stopping a user, client, server or
// tool. "Stop everything" lives in the header, on every view.
import { useContext, useState } from "preact/hooks";
import type { KillScope } from "../api";
import { ActionsContext, describeKill } from "../context";
import { when } from "../util";

const TARGETS: { scope: Exclude<KillScope, "all">; label: string; hint: string }[] = [
  { scope: "user", label: "User", hint: "the subject (sub) of the caller" },
  { scope: "client", label: "Client", hint: "an OAuth client id" },
  { scope: "server", label: "Server", hint: "a server name from the config" },
  { scope: "tool", label: "Tool", hint: "server/tool" },
];

export function Kills() {
  const actions = useContext(ActionsContext);
  const [scope, setScope] = useState<Exclude<KillScope, "all">>("user");
  const [target, setTarget] = useState("");
  const hint = TARGETS.find((t) => t.scope === scope)?.hint ?? "";

  return (
    <>
      <section aria-labelledby="active-title">
        <h2 id="active-title">Active kills</h2>
        <ActiveKills />
      </section>
      <section aria-labelledby="stop-title">
        <h2 id="stop-title">Stop one user, client, server or tool</h2>
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            const t = target.trim();
            if (t !== "") actions.kill(scope, t);
          }}
        >
          <div class="field">
            <label for="kill-scope">What</label>
            <select
              id="kill-scope"
              value={scope}
              onChange={(e) => setScope(e.currentTarget.value as Exclude<KillScope, "all">)}
            >
              {TARGETS.map((t) => (
                <option key={t.scope} value={t.scope}>
                  {t.label}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="kill-target">Name</label>
            <input
              id="kill-target"
              required
              maxLength={300}
              value={target}
              aria-describedby="kill-target-hint"
              onInput={(e) => setTarget(e.currentTarget.value)}
            />
            <span id="kill-target-hint" class="muted small-text">
              {hint}
            </span>
          </div>
          <div class="field-actions">
            <button type="submit" class="danger" disabled={target.trim() === ""}>
              Stop…
            </button>
          </div>
        </form>
      </section>
    </>
  );
}

export function ActiveKills() {
  const actions = useContext(ActionsContext);
  if (actions.kills.length === 0) return <p class="muted">Nothing is stopped.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Stopped</th>
          <th scope="col">Reason</th>
          <th scope="col">By</th>
          <th scope="col">Since</th>
          <th scope="col">Actions</th>
        </tr>
      </thead>
      <tbody>
        {actions.kills.map((k) => (
          <tr key={`${k.scope}:${k.target}`}>
            <th scope="row">{describeKill(k.scope, k.target)}</th>
            <td>{k.reason}</td>
            <td>{k.by}</td>
            <td>{when(k.at)}</td>
            <td>
              <button type="button" class="small" onClick={() => actions.revive(k)}>
                Revive<span class="visually-hidden"> {describeKill(k.scope, k.target)}</span>
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
