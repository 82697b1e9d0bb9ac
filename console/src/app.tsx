// The shell: landmarks, the kill switch in the header on every view, navigation by hash, and the
// one reason dialog every change goes through.
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import { api, messageOf, whenUnauthorized, type Kill, type KillScope, type Me } from "./api";
import { finishSignIn, forgetToken, readToken } from "./auth";
import { ActionsContext, describeKill, type Actions } from "./context";
import { ReasonDialog, type ReasonRequest } from "./dialog";
import { Login } from "./login";
import { when } from "./util";
import { Access } from "./views/access";
import { Audit } from "./views/audit";
import { Dashboard } from "./views/dashboard";
import { Kills } from "./views/kills";
import { Servers } from "./views/servers";

const VIEWS = [
  { id: "dashboard", title: "Dashboard", render: () => <Dashboard /> },
  { id: "audit", title: "Audit log", render: () => <Audit /> },
  { id: "servers", title: "Servers & tools", render: () => <Servers /> },
  { id: "access", title: "Grants & keys", render: () => <Access /> },
  { id: "kills", title: "Kill switch", render: () => <Kills /> },
] as const;

function viewFromHash() {
  const id = location.hash.replace(/^#\/?/, "");
  return VIEWS.find((v) => v.id === id) ?? VIEWS[0];
}

export function App() {
  const [phase, setPhase] = useState<"callback" | "out" | "checking" | "in">("callback");
  const [problem, setProblem] = useState("");
  const [me, setMe] = useState<Me | undefined>(undefined);

  useEffect(() => {
    whenUnauthorized(() => {
      setProblem("The token was refused (expired, revoked or without warden:admin). Sign in again.");
      setPhase("out");
    });
    finishSignIn().then(
      () => setPhase(readToken() ? "checking" : "out"),
      (err: unknown) => {
        setProblem(messageOf(err));
        setPhase("out");
      },
    );
  }, []);

  // A token is only kept if the API takes it as an admin's.
  useEffect(() => {
    if (phase !== "checking") return;
    api.me().then(
      (who) => {
        setMe(who);
        setPhase("in");
      },
      (err: unknown) => {
        forgetToken();
        setProblem(`The token was refused: ${messageOf(err)}.`);
        setPhase("out");
      },
    );
  }, [phase]);

  if (phase === "callback" || phase === "checking") {
    return (
      <main id="main" class="login">
        <p class="muted" role="status">
          Signing in…
        </p>
      </main>
    );
  }
  if (phase === "out") {
    return (
      <Login
        problem={problem}
        onToken={() => {
          setProblem("");
          setPhase("checking");
        }}
      />
    );
  }
  return (
    <Console
      me={me}
      onSignOut={() => {
        forgetToken();
        setProblem("");
        setPhase("out");
      }}
    />
  );
}

function Console({ me, onSignOut }: { me: Me | undefined; onSignOut(): void }) {
  const [view, setView] = useState(viewFromHash);
  const [kills, setKills] = useState<Kill[]>([]);
  const [request, setRequest] = useState<ReasonRequest | null>(null);
  const [notice, setNotice] = useState("");

  useEffect(() => {
    const onHash = () => {
      setView(viewFromHash());
      setNotice("");
    };
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);

  useEffect(() => {
    document.title = `${view.title} · mcp-warden admin`;
  }, [view]);

  const refreshKills = useCallback(() => {
    api.kills().then(
      (r) => setKills(r.kills),
      () => undefined,
    );
  }, []);

  useEffect(() => {
    refreshKills();
    const timer = setInterval(refreshKills, 5000);
    return () => clearInterval(timer);
  }, [refreshKills]);

  const actions = useMemo<Actions>(
    () => ({
      ask: setRequest,
      kills,
      refreshKills,
      kill: (scope: KillScope, target: string) =>
        setRequest({
          title: scope === "all" ? "Stop the whole gateway" : `Stop ${describeKill(scope, target)}`,
          body: (
            <p>
              Every call to {describeKill(scope, target)} is refused with error -32003 until revived; calls in
              flight are cancelled.
            </p>
          ),
          confirm: scope === "all" ? "Stop the whole gateway" : "Stop",
          danger: true,
          run: async (reason) => {
            await api.kill(scope, target, reason);
            setNotice(`Stopped ${describeKill(scope, target)}.`);
            refreshKills();
          },
        }),
      revive: (kill: Kill) =>
        setRequest({
          title: `Revive ${describeKill(kill.scope, kill.target)}`,
          body: (
            <p>
              Stopped by {kill.by}: “{kill.reason}”. Calls are admitted again once revived.
            </p>
          ),
          confirm: "Revive",
          run: async (reason) => {
            await api.revive(kill.scope, kill.target, reason);
            setNotice(`Revived ${describeKill(kill.scope, kill.target)}.`);
            refreshKills();
          },
        }),
    }),
    [kills, refreshKills],
  );

  const all = kills.find((k) => k.scope === "all");

  return (
    <ActionsContext.Provider value={actions}>
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          // The hash names views: move focus instead of navigating.
          e.preventDefault();
          document.getElementById("main")?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="top">
        <span class="brand">mcp-warden admin</span>
        <span class="who">
          {me ? (
            <>
              Signed in as <strong>{me.sub}</strong> ({me.auth})
            </>
          ) : null}
        </span>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
        {/* "the whole gateway", not "everything": a server may well be named `everything`. */}
        <button type="button" class="danger big" onClick={() => actions.kill("all", "")}>
          Stop the whole gateway
        </button>
      </header>
      {all && (
        <div class="banner" role="status">
          <strong>The whole gateway is stopped</strong> since {when(all.at)} by {all.by}: “{all.reason}”.
          <button type="button" onClick={() => actions.revive(all)}>
            Revive the whole gateway
          </button>
        </div>
      )}
      <nav aria-label="Views">
        <ul>
          {VIEWS.map((v) => (
            <li key={v.id}>
              <a href={`#/${v.id}`} aria-current={v.id === view.id ? "page" : undefined}>
                {v.title}
                {v.id === "kills" && kills.length > 0 ? ` (${kills.length} active)` : ""}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <h1>{view.title}</h1>
        <p class="notice" role="status" aria-live="polite">
          {notice}
        </p>
        {view.render()}
      </main>
      {request && <ReasonDialog key={request.title} request={request} onClose={() => setRequest(null)} />}
    </ActionsContext.Provider>
  );
}
