// Who can call: the embedded authorization server's grants and the API keys, each revocable.
import { useContext } from "preact/hooks";
import { api } from "../api";
import { ActionsContext } from "../context";
import { useLoad, when } from "../util";
import { Loading } from "./dashboard";

export function Access() {
  const actions = useContext(ActionsContext);
  const grants = useLoad(() => api.grants(), []);
  const keys = useLoad(() => api.keys(), []);
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
