/**
 * Test support: a controller app over a fresh store, with an admin token ready to use. The store is
 * an in-memory SQLite database, or a new database on the PostgreSQL server named by
 * DROVER_TEST_POSTGRES (an admin URL; `scripts/test` runs the controller tier that way too).
 */
import pg from 'pg';
import { pino } from 'pino';
import { SYSTEM_ACTOR } from '../actor.js';
import { openStore } from '../store/open.js';
import { clientConfig } from '../store/postgres/connection.js';
import { PgStore } from '../store/postgres-store.js';
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
  const store = await openStore(await testStoreUrl());
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

let databases = 0;

/** Where a test's store goes: a new PostgreSQL database when DROVER_TEST_POSTGRES names a server, else in-memory SQLite. */
export async function testStoreUrl(): Promise<string> {
  const admin = process.env.DROVER_TEST_POSTGRES;
  if (!admin) return 'sqlite::memory:';
  const name = `drover_test_${process.pid}_${++databases}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return admin.replace(/\/[^/?]*(\?.*)?$/, `/${name}`);
}

/** Every row of a table exactly as the engine keeps it, behind the repositories' back: for tests that check what is stored. */
export async function rawRows(store: Store, table: string): Promise<Record<string, unknown>[]> {
  if (!/^[a-z_]+$/.test(table)) throw new Error(`bad table name ${table}`);
  if (store instanceof SqliteStore) return store.database.prepare(`SELECT * FROM ${table}`).all() as Record<string, unknown>[];
  if (store instanceof PgStore) {
    const client = new pg.Client(clientConfig(store.location, Math.max(store.serverIndex, 0), 3000));
    await client.connect();
    try {
      return (await client.query<Record<string, unknown>>(`SELECT * FROM ${table}`)).rows;
    } finally {
      await client.end();
    }
  }
  throw new Error(`no raw access to a ${store.engine} store`);
}
