// Virtual servers: each curated endpoint's tools as the last listed definitions resolve them,
// the upstream tool behind each, its state, and what the entry overrides (name, description,
// fixed, default and hidden arguments); clashes and selections that match nothing.
import { api, type VirtualReport } from "../api";
import { useLoad } from "../util";
import { Loading } from "./dashboard";

export function VirtualServers() {
  const virtual = useLoad(() => api.virtual(), []);
  // Nothing while loading: most configs have no virtual server, and the page above is the point.
  if (!virtual.data) return virtual.error ? <Loading error={virtual.error} /> : null;
  if (virtual.data.items.length === 0) return null;
  return (
    <section aria-labelledby="virtual-title">
      <h2 id="virtual-title">Virtual servers</h2>
      {virtual.data.items.map((v) => (
        <VirtualTable key={v.name} report={v} />
      ))}
    </section>
  );
}

function VirtualTable({ report }: { report: VirtualReport }) {
  return (
    <>
      <h3>
        {report.name} <span class="muted small-text">{report.path}</span>
        {report.search && <span class="badge">search</span>}
      </h3>
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Upstream tool</th>
            <th scope="col">State</th>
            <th scope="col">Overrides</th>
          </tr>
        </thead>
        <tbody>
          {report.tools.map((t) => (
            <tr key={t.name}>
              <th scope="row">{t.name}</th>
              <td>{t.tool}</td>
              <td>
                {t.state}
                {t.problem && <div class="muted small-text">{t.problem}</div>}
              </td>
              <td>{t.overrides.length === 0 ? "—" : t.overrides.join(", ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {[
        ...report.clashes.map((c) => `clash: ${c} is selected twice (neither is served)`),
        ...report.unmatched.map((u) => `unmatched: ${u} matches no listed tool`),
        ...report.unlisted.map((s) => `unknown: ${s} has not been listed yet`),
      ].map((line) => (
        <p key={line} class="muted">
          {line}
        </p>
      ))}
    </>
  );
}
