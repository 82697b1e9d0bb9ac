// Servers and their pinned definitions: what is held (changed since pinned) or poisoned, the
// change side by side, and Approve (with a reason) for the exact hash that was reviewed.
import { useContext, useState } from "preact/hooks";
import { ApiError, api, type DiffLine, type ToolDiff, type ToolItem } from "../api";
import { ActionsContext } from "../context";
import { ErrorNote, useLoad, when } from "../util";
import { Loading, StateBadge } from "./dashboard";
import { VirtualServers } from "./virtual";

export function Servers() {
  const actions = useContext(ActionsContext);
  // Read again when a kill changes, to show the server's `killed` state.
  const killKey = actions.kills.map((k) => `${k.scope}:${k.target}`).join("\n");
  const servers = useLoad(() => api.servers(), [killKey], 10_000);
  const [only, setOnly] = useState("");
  const tools = useLoad(() => api.tools(only === "" ? undefined : only), [only]);
  const [review, setReview] = useState<ToolItem | null>(null);
  const killed = (name: string) => actions.kills.find((k) => k.scope === "server" && k.target === name);

  return (
    <>
      <section aria-labelledby="servers-title">
        <h2 id="servers-title">Servers</h2>
        {!servers.data ? (
          <Loading error={servers.error} />
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Transport</th>
                <th scope="col">State</th>
                <th scope="col" class="num">
                  Tools shown
                </th>
                <th scope="col" class="num">
                  Hidden by policy
                </th>
                <th scope="col" class="num">
                  Held
                </th>
                <th scope="col" class="num">
                  Poisoned
                </th>
                <th scope="col">Sandbox</th>
                <th scope="col">Integrity</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {servers.data.servers.map((s) => {
                const kill = killed(s.name);
                return (
                  <tr key={s.name}>
                    <th scope="row">
                      {s.name}
                      <div class="muted small-text">{s.route}</div>
                    </th>
                    <td>{s.transport}</td>
                    <td>
                      <StateBadge state={s.state} />
                      {s.killed && <span class="badge badge-bad">stopped</span>}
                      {s.reason && <div class="muted small-text">{s.reason}</div>}
                    </td>
                    <td class="num">{s.exposed ?? "—"}</td>
                    <td class="num">{s.tools === null || s.exposed === null ? "—" : s.tools - s.exposed}</td>
                    <td class="num">{s.held}</td>
                    <td class="num">{s.poisoned}</td>
                    <td>{s.sandbox ? "yes" : "no"}</td>
                    <td>{s.integrity ? "yes" : "no"}</td>
                    <td>
                      <div class="actions">
                        <button type="button" class="small" onClick={() => setOnly(s.name)}>
                          Definitions<span class="visually-hidden"> of {s.name}</span>
                        </button>
                        {kill ? (
                          <button type="button" class="small" onClick={() => actions.revive(kill)}>
                            Revive<span class="visually-hidden"> {s.name}</span>
                          </button>
                        ) : (
                          <button
                            type="button"
                            class="small danger"
                            onClick={() => actions.kill("server", s.name)}
                          >
                            Stop<span class="visually-hidden"> server {s.name}</span>
                          </button>
                        )}
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby="tools-title">
        <h2 id="tools-title">Definitions{only !== "" ? ` of ${only}` : ""}</h2>
        <div class="toolbar">
          <label for="tools-server">Server</label>
          <select id="tools-server" value={only} onChange={(e) => setOnly(e.currentTarget.value)}>
            <option value="">all</option>
            {servers.data?.servers.map((s) => (
              <option key={s.name} value={s.name}>
                {s.name}
              </option>
            ))}
          </select>
          <button type="button" onClick={tools.reload}>
            Refresh
          </button>
        </div>
        {!tools.data ? (
          <Loading error={tools.error} />
        ) : (
          <ToolTable items={tools.data.items} onReview={setReview} />
        )}
      </section>
      <VirtualServers />
      {review && (
        <Review
          item={review}
          onDone={() => {
            setReview(null);
            tools.reload();
            servers.reload();
          }}
        />
      )}
    </>
  );
}

function ToolTable({ items, onReview }: { items: ToolItem[]; onReview(item: ToolItem): void }) {
  // Whatever needs attention first.
  const order = { poisoned: 0, held: 1, pinned: 2 } as const;
  const sorted = items.slice().sort((a, b) => order[a.state] - order[b.state]);
  if (sorted.length === 0) return <p class="muted">No pinned definitions.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Server</th>
          <th scope="col">Kind</th>
          <th scope="col">Name</th>
          <th scope="col">State</th>
          <th scope="col">Seen</th>
          <th scope="col">Findings</th>
          <th scope="col">Actions</th>
        </tr>
      </thead>
      <tbody>
        {sorted.map((t) => (
          <tr
            key={`${t.server}/${t.kind}/${t.name}`}
            class={`tool-${t.state}${t.hidden ? " tool-hidden" : ""}`}
          >
            <td>{t.server}</td>
            <td>{t.kind}</td>
            <th scope="row">{t.name}</th>
            <td>
              <StateBadge state={t.state} />
              {t.hidden && (
                <span class="badge badge-hidden" title="No tools entry and no * entry: no caller is shown it">
                  hidden by policy
                </span>
              )}
            </td>
            <td>{when(t.seen_at)}</td>
            <td>
              {t.findings.length === 0 ? (
                "—"
              ) : (
                <ul class="findings">
                  {t.findings.map((f, i) => (
                    <li key={i}>
                      <code>{f.field}</code>: {f.reason}
                      {f.excerpt && <q>{f.excerpt}</q>}
                    </li>
                  ))}
                </ul>
              )}
            </td>
            <td>
              {t.state !== "pinned" && (
                <button type="button" class="small primary" onClick={() => onReview(t)}>
                  Review<span class="visually-hidden"> {t.name}</span>
                </button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Rows of the side-by-side view: a run of removed lines beside the run of added lines after it. */
export function sideBySide(lines: DiffLine[]): { left?: DiffLine; right?: DiffLine }[] {
  const rows: { left?: DiffLine; right?: DiffLine }[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as DiffLine;
    if (line.op === "same") {
      rows.push({ left: line, right: line });
      i++;
      continue;
    }
    const removed: DiffLine[] = [];
    const added: DiffLine[] = [];
    while (i < lines.length && (lines[i] as DiffLine).op !== "same") {
      const l = lines[i] as DiffLine;
      (l.op === "removed" ? removed : added).push(l);
      i++;
    }
    for (let k = 0; k < Math.max(removed.length, added.length); k++) {
      rows.push({ left: removed[k], right: added[k] });
    }
  }
  return rows;
}

function Review({ item, onDone }: { item: ToolItem; onDone(): void }) {
  const actions = useContext(ActionsContext);
  const diff = useLoad(() => api.diff(item), [item]);
  return (
    <section class="review" aria-labelledby="review-title">
      <h2 id="review-title">
        Review {item.kind} {item.server}/{item.name}
      </h2>
      {!diff.data ? <Loading error={diff.error} /> : <DiffView diff={diff.data} />}
      <ErrorNote error={diff.data ? diff.error : ""} />
      <div class="toolbar">
        <button
          type="button"
          class="primary"
          disabled={!diff.data}
          onClick={() => {
            const d = diff.data;
            if (!d) return;
            actions.ask({
              title: `Approve ${item.server}/${item.name}`,
              body: (
                <p>
                  The current definition (<code>{d.current_hash}</code>) becomes the pin, and calls to it are
                  served again.
                </p>
              ),
              confirm: "Approve",
              run: async (reason) => {
                try {
                  await api.approve(item, d.current_hash, reason);
                } catch (err) {
                  // Changed again while being reviewed: show the new difference.
                  if (err instanceof ApiError && err.status === 409) diff.reload();
                  throw err;
                }
                onDone();
              },
            });
          }}
        >
          Approve…
        </button>
        <button type="button" onClick={onDone}>
          Close review
        </button>
      </div>
    </section>
  );
}

function DiffView({ diff }: { diff: ToolDiff }) {
  const rows = sideBySide(diff.lines);
  return (
    <table class="diff">
      <caption>
        Pinned <code>{diff.pinned_hash}</code> (left) against current <code>{diff.current_hash}</code> (right)
      </caption>
      <thead>
        <tr>
          <th scope="col">Pinned (removed lines)</th>
          <th scope="col">Current (added lines)</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r, i) => (
          <tr key={i}>
            <DiffCell line={r.left} />
            <DiffCell line={r.right} />
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function DiffCell({ line }: { line: DiffLine | undefined }) {
  if (!line) return <td class="diff-empty" />;
  const mark = line.op === "removed" ? "−" : line.op === "added" ? "+" : " ";
  return (
    <td class={`diff-${line.op}`}>
      <span class="visually-hidden">{line.op === "same" ? "" : `${line.op}: `}</span>
      <span aria-hidden="true" class="diff-mark">
        {mark}
      </span>
      <code>{line.text}</code>
    </td>
  );
}
