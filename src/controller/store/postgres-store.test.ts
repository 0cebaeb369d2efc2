import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStoreUrl } from './postgres/connection.js';
import { startLocalPostgres, type LocalPostgres } from './postgres/local-server.js';
import { PgStore } from './postgres-store.js';
import { sampleHost } from './fixtures.js';
import { storeConformance } from './store.conformance.js';

let server: LocalPostgres;
before(async () => {
  server = await startLocalPostgres();
});
after(async () => {
  await server?.stop();
});

async function openStore(): Promise<PgStore> {
  const location = parseStoreUrl(await server.createDatabase());
  if (location.engine !== 'postgresql') throw new Error('expected a PostgreSQL location');
  return PgStore.open(location);
}

storeConformance('postgresql', openStore);

test('postgresql store: concurrent read-modify-write transactions from two controllers are serialized, none lost', async () => {
  const url = await server.createDatabase();
  const location = parseStoreUrl(url);
  if (location.engine !== 'postgresql') throw new Error('expected a PostgreSQL location');
  const [a, b] = await Promise.all([PgStore.open(location), PgStore.open(location)]);
  try {
    await a.hosts.insert(sampleHost({ id: 'counter', name: 'counter', usage: { cpus: 0, memoryBytes: 0, diskBytes: 0 } }));
    let attempts = 0;
    const increment = (store: PgStore) =>
      store.transaction(async (tx) => {
        attempts++;
        const host = await tx.hosts.get('counter');
        assert.ok(host);
        await tx.hosts.update('counter', { usage: { ...host.usage, cpus: host.usage.cpus + 1 } });
      });
    await Promise.all(Array.from({ length: 20 }, (_, i) => increment(i % 2 === 0 ? a : b)));
    assert.equal((await a.hosts.get('counter'))?.usage.cpus, 20);
    assert.ok(attempts > 20, `the race must have happened: ${attempts} attempts for 20 increments`);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
