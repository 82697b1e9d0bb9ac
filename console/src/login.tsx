// Signed out: sign in through the authorization server, or paste a token (an API key holding
// warden:admin, or the bootstrap token the gateway printed at start).
import { useEffect, useState } from "preact/hooks";
import { api, messageOf, type AdminConfig } from "./api";
import { saveToken, startSignIn } from "./auth";
import { ErrorNote } from "./util";

export function Login({ onToken, problem }: { onToken(): void; problem: string }) {
  const [config, setConfig] = useState<AdminConfig | undefined>(undefined);
  const [error, setError] = useState(problem);
  const [token, setToken] = useState("");

  useEffect(() => {
    api.config().then(setConfig, (err: unknown) => setError(messageOf(err)));
  }, []);

  const canSignIn = Boolean(config?.authorization_endpoint && config.token_endpoint && config.client_id);

  return (
    <main id="main" class="login">
      <h1>mcp-warden admin console</h1>
      <ErrorNote error={error} />
      <section aria-labelledby="signin-title">
        <h2 id="signin-title">Sign in</h2>
        {config === undefined ? (
          <p class="muted">Reading the gateway's sign-in settings…</p>
        ) : canSignIn ? (
          <>
            <p>
              Sign in at <code>{config.issuer ?? config.authorization_endpoint}</code> as a user holding{" "}
              <code>{config.scope}</code>.
            </p>
            <button
              type="button"
              class="primary"
              onClick={() => startSignIn(config).catch((err: unknown) => setError(messageOf(err)))}
            >
              Sign in
            </button>
          </>
        ) : (
          <p class="muted">This gateway offers no sign-in for the console: use a token.</p>
        )}
      </section>
      <section aria-labelledby="token-title">
        <h2 id="token-title">Use a token</h2>
        <p class="muted">
          An API key or access token holding <code>warden:admin</code>
          {config?.bootstrap
            ? ", or the bootstrap token the gateway made at start (from this machine only)"
            : ""}
          . It is kept for this tab only.
        </p>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const t = token.trim();
            if (t === "") return setError("Paste a token first.");
            saveToken(t);
            setToken("");
            onToken();
          }}
        >
          <label for="token-input">Bearer token</label>
          <input
            id="token-input"
            type="password"
            autoComplete="off"
            spellcheck={false}
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
          />
          <button type="submit">Use this token</button>
        </form>
      </section>
    </main>
  );
}
