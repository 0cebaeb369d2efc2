/**
 * A tiny history router: the controller serves index.html for every client route
 * (src/controller/web/pages.ts lists them), and the app picks the page from the path.
 */
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

export type Route =
  | { page: 'dashboard' }
  | { page: 'sign-in' }
  | { page: 'vm'; name: string }
  | { page: 'host'; name: string }
  | { page: 'events' }
  | { page: 'operations' }
  | { page: 'cluster' }
  | { page: 'not-found' };

const listeners = new Set<() => void>();
window.addEventListener('popstate', () => listeners.forEach((l) => l()));

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const current = () => window.location.pathname + window.location.search;

/** Goes to `to` (a path with an optional query) without reloading. */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === current()) return;
  if (options.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  listeners.forEach((l) => l());
}

/** The current path and query, re-rendering on navigation. */
export function useLocation(): { path: string; search: URLSearchParams } {
  const href = useSyncExternalStore(subscribe, current);
  const url = new URL(href, window.location.origin);
  return { path: url.pathname, search: url.searchParams };
}

export function parseRoute(path: string): Route {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: 'dashboard' };
  if (parts.length === 1 && parts[0] === 'sign-in') return { page: 'sign-in' };
  if (parts.length === 1 && parts[0] === 'events') return { page: 'events' };
  if (parts.length === 1 && parts[0] === 'operations') return { page: 'operations' };
  if (parts.length === 1 && parts[0] === 'cluster') return { page: 'cluster' };
  if (parts.length === 2 && parts[0] === 'vms' && parts[1]) return { page: 'vm', name: parts[1] };
  if (parts.length === 2 && parts[0] === 'hosts' && parts[1]) return { page: 'host', name: parts[1] };
  return { page: 'not-found' };
}

export const vmPath = (name: string, tab?: string) => `/vms/${encodeURIComponent(name)}${tab ? `?tab=${tab}` : ''}`;
export const hostPath = (name: string) => `/hosts/${encodeURIComponent(name)}`;

/** An <a> that navigates in the app (a modified click still opens a new tab). */
export function Link({ to, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string }) {
  const handle = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={handle} {...rest} />;
}
