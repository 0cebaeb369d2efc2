/** Test support: a controller app over an in-memory store, with an admin token ready to use. */
import { pino } from 'pino';
import { SYSTEM_ACTOR } from '../actor.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { buildControllerApp, type ControllerApp, type ControllerAppOptions } from './app.js';
import { createControllerServices, type ControllerServices } from './services.js';

export interface TestController {
  app: ControllerApp;
  services: ControllerServices;
  store: Store;
  /** The admin token's secret. */
  secret: string;
  /** Headers carrying the admin token. */
  auth: { authorization: string };
  close(): Promise<void>;
}

/** Builds the app with a fresh store and an `admin` token; `close` shuts both down. */
export async function testController(options: Omit<ControllerAppOptions, 'services'> = {}): Promise<TestController> {
  const store = SqliteStore.open(':memory:');
  const services = createControllerServices(store, { logger: pino({ level: 'silent' }) });
  const { secret } = await services.tokens.create('admin', SYSTEM_ACTOR);
  const app = await buildControllerApp({ services, ...options });
  await app.ready();
  return {
    app,
    services,
    store,
    secret,
    auth: { authorization: `Bearer ${secret}` },
    close: async () => {
      await app.close();
      await services.operations.shutdown(1000);
      await store.close();
    },
  };
}
