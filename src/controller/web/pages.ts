/**
 * The URLs the web console answers without a token: its client-side pages (each serves index.html,
 * and the app routes in the browser) and its built, content-hashed assets. Kept apart from the
 * serving code so the authentication hook can import the list without importing Fastify plugins.
 */
export const WEB_CLIENT_ROUTES = ['/', '/sign-in', '/vms/:name', '/hosts/:name', '/events', '/operations', '/cluster'] as const;

/** Built assets (scripts, styles), under the prefix Vite writes them to. */
export const WEB_ASSET_ROUTE = '/assets/*';

/** Every public web route pattern, as Fastify sees it. */
export const WEB_PAGE_ROUTES: readonly string[] = [...WEB_CLIENT_ROUTES, WEB_ASSET_ROUTE];
