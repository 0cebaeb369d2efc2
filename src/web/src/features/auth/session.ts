/**
 * The signed-in session: the token lives in sessionStorage, so it is gone when the tab closes and
 * is never sent anywhere but to this controller's API (as a header, or a WebSocket subprotocol).
 */
import { createContext, useContext } from 'react';
import type { DroverApi } from '../../api';
import type { Fleet } from '../../live/fleet';
import type { HaMonitor } from '../../live/ha';
import type { OperationTracker } from '../operations/tracker';

const KEY = 'drover.token';

export function loadToken(): string | null {
  try {
    return window.sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function saveToken(token: string): void {
  window.sessionStorage.setItem(KEY, token);
}

export function clearToken(): void {
  window.sessionStorage.removeItem(KEY);
}

/** What every page of a signed-in session uses. */
export interface Session {
  api: DroverApi;
  fleet: Fleet;
  /** HA's status, read while a page shows it. */
  ha: HaMonitor;
  operations: OperationTracker;
  signOut: () => void;
}

export const SessionContext = createContext<Session | null>(null);

/** The session; only under the signed-in app. */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in session');
  return session;
}
