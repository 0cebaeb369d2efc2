import { useEffect, useMemo, useState } from 'react';
import { DroverApi } from './api';
import { useFleet, Fleet } from './live/fleet';
import { HaMonitor } from './live/ha';
import { Link, navigate, parseRoute, useLocation } from './router';
import { clearToken, loadToken, saveToken, SessionContext, useSession, type Session } from './features/auth/session';
import { SignIn } from './features/auth/SignIn';
import { ClusterPage } from './features/cluster/ClusterPage';
import { ControllerBanner } from './features/controllers/ControllerBanner';
import { Dashboard } from './features/dashboard/Dashboard';
import { EventsPage } from './features/events/EventsPage';
import { HostPage } from './features/hosts/HostPage';
import { OperationsPage } from './features/operations/OperationsPage';
import { OperationsTray } from './features/operations/OperationsTray';
import { OperationTracker } from './features/operations/tracker';
import { VmPage } from './features/vms/VmPage';

/** Signed out: the sign-in page (whatever the URL); signed in: the console. */
export function App() {
  const [token, setToken] = useState<string | null>(loadToken);
  const [notice, setNotice] = useState<string | null>(null);
  const { path } = useLocation();

  if (!token) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(t) => {
          saveToken(t);
          setNotice(null);
          setToken(t);
          if (parseRoute(path).page === 'sign-in') navigate('/', { replace: true });
        }}
      />
    );
  }
  return (
    <SignedIn
      key={token}
      token={token}
      onSignedOut={(reason) => {
        clearToken();
        setNotice(reason);
        setToken(null);
      }}
    />
  );
}

function SignedIn({ token, onSignedOut }: { token: string; onSignedOut: (reason: string | null) => void }) {
  const session = useMemo<Session>(() => {
    const api = new DroverApi(token, (error) => onSignedOut(`Your session has ended: the controller no longer accepts this token (${error.detail ?? error.message}). Sign in again.`));
    const fleet = new Fleet(api);
    return { api, fleet, ha: new HaMonitor(api, fleet), operations: new OperationTracker(api, fleet), signOut: () => onSignedOut('You have signed out.') };
    // One session per token (the component is keyed by it); onSignedOut only clears state.
  }, [token]);
  useEffect(() => {
    session.fleet.start();
    session.operations.start();
    return () => {
      session.operations.stop();
      session.ha.stop();
      session.fleet.stop();
    };
  }, [session]);
  return (
    <SessionContext.Provider value={session}>
      <Shell />
    </SessionContext.Provider>
  );
}

function Shell() {
  const { path } = useLocation();
  const route = parseRoute(path);
  useEffect(() => {
    if (route.page === 'sign-in') navigate('/', { replace: true });
  }, [route.page]);
  useEffect(() => {
    document.title = route.page === 'vm' || route.page === 'host' ? `${route.name} · Drover` : route.page === 'dashboard' ? 'Drover' : `${route.page[0]?.toUpperCase()}${route.page.slice(1)} · Drover`;
  }, [route]);
  return (
    <>
      <a className="skip-link" href="#content">
        Skip to content
      </a>
      <TopBar current={route.page} />
      <ControllerBanner />
      <div id="content">
        {route.page === 'dashboard' && <Dashboard />}
        {route.page === 'vm' && <VmPage key={route.name} name={route.name} />}
        {route.page === 'host' && <HostPage key={route.name} name={route.name} />}
        {route.page === 'events' && <EventsPage />}
        {route.page === 'operations' && <OperationsPage />}
        {route.page === 'cluster' && <ClusterPage />}
        {route.page === 'not-found' && (
          <main className="page">
            <h1>Not found</h1>
            <p>
              Nothing here. <Link to="/">Back to the dashboard</Link>.
            </p>
          </main>
        )}
      </div>
      <OperationsTray />
    </>
  );
}

function TopBar({ current }: { current: string }) {
  const { fleet, signOut } = useSession();
  const { stream } = useFleet(fleet);
  const item = (page: string, to: string, label: string) => (
    <Link to={to} id={`nav-${page}`} aria-current={current === page ? 'page' : undefined}>
      {label}
    </Link>
  );
  return (
    <header className="topbar">
      <Link to="/" className="brand" aria-label="Drover dashboard">
        <span className="logo" aria-hidden="true">
          D
        </span>
        Drover
      </Link>
      <nav aria-label="Main">
        {item('dashboard', '/', 'Dashboard')}
        {item('cluster', '/cluster', 'Cluster')}
        {item('events', '/events', 'Events')}
        {item('operations', '/operations', 'Operations')}
      </nav>
      <span className="spacer" />
      <span id="stream-status" data-status={stream} className={`status-dot ${stream === 'live' ? 'connected' : stream === 'closed' ? 'closed' : 'connecting'}`} title="Changes arrive over the controller's event stream">
        {stream === 'live' ? 'Live' : stream === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
      </span>
      <button type="button" id="sign-out" onClick={signOut}>
        Sign out
      </button>
    </header>
  );
}
