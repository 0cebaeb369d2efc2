import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { DroverError } from '../../shared/errors.js';
import { parseStoreUrl } from './postgres/connection.js';
import { PgStore } from './postgres-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { SqlEngine } from './sql/executor.js';
import type { Store } from './store.js';

/** The embedded default: an SQLite file in the data directory. */
export function defaultStoreUrl(dataDir: string): string {
  return `sqlite:${path.join(dataDir, 'controller.db')}`;
}

/**
 * Opens and migrates the store at `url`: `sqlite:PATH` (the embedded default) or a
 * `postgresql://` URL (several hosts allowed). STORE_URL_INVALID for anything else,
 * STORE_UNAVAILABLE when no PostgreSQL host answers. With `migrate: false` (a store only read,
 * such as a copy's source, perhaps in use by a controller of another version) the schema is not
 * changed and must already be this Drover's; an SQLite file must then exist (STORE_NOT_FOUND).
 */
export async function openStore(url: string, options: { migrate?: boolean } = {}): Promise<Store & SqlEngine> {
  const location = parseStoreUrl(url);
  if (location.engine === 'postgresql') return PgStore.open(location, options);
  if (options.migrate === false) {
    if (!existsSync(location.path)) throw new DroverError('STORE_NOT_FOUND', `${location.path} does not exist`);
  } else if (location.path !== ':memory:') {
    mkdirSync(path.dirname(path.resolve(location.path)), { recursive: true, mode: 0o700 });
  }
  return SqliteStore.open(location.path, options);
}
