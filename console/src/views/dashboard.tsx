import { api } from "../api";
import { ErrorNote, duration, useLoad } from "../util";
import { MinuteChart } from "./chart";

export function Dashboard() {
  const { data, error } = useLoad(() => api.summary(), [], 5000);
  if (!data) return <Loading error={error} />;
  const reasons = Object.entries(data.denials_by_reason).sort((a, b) => b[1] - a[1]);
  return (
    <>
      <ErrorNote error={error} />
      <p class="muted">
        Instance <code>{data.instance}</code>, up {duration(data.uptime_s)}. Audit log:{" "}
        <span class={data.audit === "ok" ? "state-ok" : "state-bad"}>{data.audit}</span>.
      </p>
      <section aria-labelledby="totals-title">
        <h2 id="totals-title">Traffic</h2>
        <dl class="stats">
          <Stat label="Calls per second (last minute)" value={data.calls_per_s.toFixed(2)} />
          <Stat label="Calls" value={data.totals.calls} />
          <Stat label="Denied" value={data.totals.denied} />
          <Stat label="Errors" value={data.totals.errors} />
          <Stat label="Redacted" value={data.totals.redacted} />
          <Stat label="Injection signals" value={data.totals.injection} />
        </dl>
        <MinuteChart minutes={data.minutes} />
      </section>
      <div class="columns">
        <section aria-labelledby="denials-title">
          <h2 id="denials-title">Denials by reason</h2>
          {reasons.length === 0 ? (
            <p class="muted">No denials since start.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Reason</th>
                  <th scope="col" class="num">
                    Count
                  </th>
                </tr>
              </thead>
              <tbody>
                {reasons.map(([reason, n]) => (
                  <tr key={reason}>
                    <td>{reason}</td>
                    <td class="num">{n}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section aria-labelledby="upstreams-title">
          <h2 id="upstreams-title">Upstream health</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Server</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {data.upstreams.map((u) => (
                <tr key={u.name}>
                  <td>{u.name}</td>
                  <td>
                    <StateBadge state={u.state} />
                    {u.reason && <span class="muted"> {u.reason}</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      </div>
    </>
  );
}

function Stat({ label, value }: { label: string; value: string | number }) {
  return (
    <div class="stat">
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

export function StateBadge({ state }: { state: string }) {
  const kind = state === "up" || state === "pinned" ? "ok" : state === "starting" ? "warn" : "bad";
  return <span class={`badge badge-${kind}`}>{state}</span>;
}

export function Loading({ error }: { error: string }) {
  return error !== "" ? <ErrorNote error={error} /> : <p class="muted">Loading…</p>;
}
