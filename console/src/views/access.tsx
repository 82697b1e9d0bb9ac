// Who can call: the embedded authorization server's grants, the API keys, and users' connected
// accounts at oauth_user servers, each revocable.
import { useContext } from "preact/hooks";
import { api } from "../api";
import { ActionsContext } from "../context";
import { useLoad, when } from "../util";
import { Loading } from "./dashboard";

export function Access() {
  const actions = useContext(ActionsContext);
  const grants = useLoad(() => api.grants(), []);
  const keys = useLoad(() => api.keys(), []);
  const connections = useLoad(() => api.connections(), []);
  const noEmbedded = grants.error !== "" && /no embedded authorization server/.test(grants.error);

  return (
    <>
      <section aria-labelledby="grants-title">
        <h2 id="grants-title">Grants</h2>
        {noEmbedded ? (
          <p class="muted">No embedded authorization server: grants live at the external issuer.</p>
        ) : !grants.data ? (
          <Loading error={grants.error} />
        ) : grants.data.grants.length === 0 ? (
          <p class="muted">No grants.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Client</th>
                <th scope="col">Scopes</th>
                <th scope="col">Resources</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {grants.data.grants.map((g) => (
                <tr key={g.id}>
                  <th scope="row">{g.account_id}</th>
                  <td>
                    {g.client_name ? (
                      <>
                        {g.client_name} <span class="muted id">{g.client_id}</span>
                      </>
                    ) : (
                      g.client_id
                    )}
                  </td>
                  <td>{g.scopes.join(" ")}</td>
                  <td>{g.resources.join(" ")}</td>
                  <td>{when(g.created_at)}</td>
                  <td>{when(g.expires_at)}</td>
                  <td>
                    <button
                      type="button"
                      class="small danger"
                      onClick={() =>
                        actions.ask({
                          title: `Revoke the grant of ${g.account_id} to ${g.client_name ? `${g.client_name} (${g.client_id})` : g.client_id}`,
                          body: <p>The grant and every token issued under it stop working at once.</p>,
                          confirm: "Revoke grant",
                          danger: true,
                          run: async (reason) => {
                            await api.revokeGrant(g.id, reason);
                            grants.reload();
                          },
                        })
                      }
                    >
                      Revoke<span class="visually-hidden"> grant of {g.account_id}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {connections.data && connections.data.servers.length > 0 && (
        <section aria-labelledby="connections-title">
          <h2 id="connections-title">Upstream connections</h2>
          {connections.data.connections.length === 0 ? (
            <p class="muted">No user has connected an account at {connections.data.servers.join(", ")}.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">User</th>
                  <th scope="col">Server</th>
                  <th scope="col">Status</th>
                  <th scope="col">Scopes</th>
                  <th scope="col">Token expires</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {connections.data.connections.map((c) => (
                  <tr key={c.id}>
                    <th scope="row">{c.user}</th>
                    <td>{c.server}</td>
                    <td>{c.status}</td>
                    <td>
                      {c.scopes}
                      {c.step_up_scopes && (
                        <span
                          class="muted"
                          title="Scopes the server asked for since; the user's next connect asks for them"
                        >
                          {" "}
                          (step-up: {c.step_up_scopes})
                        </span>
                      )}
                    </td>
                    <td>{when(c.expires_at)}</td>
                    <td>{when(c.last_used_at)}</td>
                    <td>
                      <button
                        type="button"
                        class="small danger"
                        onClick={() =>
                          actions.ask({
                            title: `Revoke ${c.user}'s connection to ${c.server}`,
                            body: (
                              <p>
                                The gateway forgets the tokens and revokes them at {c.issuer} where it can;
                                the user's next call asks them to connect again.
                              </p>
                            ),
                            confirm: "Revoke connection",
                            danger: true,
                            run: async (reason) => {
                              await api.revokeConnection(c.id, reason);
                              connections.reload();
                            },
                          })
                        }
                      >
                        Revoke
                        <span class="visually-hidden">
                          {" "}
                          connection of {c.user} to {c.server}
                        </span>
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      )}
      <section aria-labelledby="keys-title">
        <h2 id="keys-title">API keys</h2>
        {!keys.data ? (
          <Loading error={keys.error} />
        ) : keys.data.keys.length === 0 ? (
          <p class="muted">No API keys.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Id</th>
                <th scope="col">Scopes</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Revoked</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {keys.data.keys.map((k) => (
                <tr key={k.id}>
                  <th scope="row">{k.name}</th>
                  <td>
                    <code>{k.id}</code>
                  </td>
                  <td>{k.scopes.join(" ")}</td>
                  <td>{when(k.created_at)}</td>
                  <td>{when(k.expires_at)}</td>
                  <td>{when(k.revoked_at)}</td>
                  <td>
                    {k.revoked_at === null && (
                      <button
                        type="button"
                        class="small danger"
                        onClick={() =>
                          actions.ask({
                            title: `Revoke API key ${k.name}`,
                            body: <p>Calls with this key are refused from now on.</p>,
                            confirm: "Revoke key",
                            danger: true,
                            run: async (reason) => {
                              await api.revokeKey(k.id, reason);
                              keys.reload();
                            },
                          })
                        }
                      >
                        Revoke<span class="visually-hidden"> key {k.name}</span>
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
