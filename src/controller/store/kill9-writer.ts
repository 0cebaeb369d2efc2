/**
 * Test support for kill9.test.ts, run as its own process: writes numbered transactions to the
 * store at argv[2] forever and prints each number once it has committed. Transaction n appends
 * three events tagged n, inserts operation `op-n` and sets the counter host's cpus to n.
 */
import { SqliteStore } from './sqlite-store.js';
import { sampleHost, sampleOperation } from './fixtures.js';

const file = process.argv[2];
if (!file) throw new Error('usage: kill9-writer.ts DB_FILE');
const store = SqliteStore.open(file);
const padding = 'x'.repeat(4000);

let counter = await store.hosts.get('counter');
if (!counter) {
  counter = sampleHost({ id: 'counter', name: 'counter', usage: { cpus: 0, memoryBytes: 0, diskBytes: 0 } });
  await store.hosts.insert(counter);
}
for (let n = counter.usage.cpus + 1; ; n++) {
  await store.transaction(async (tx) => {
    for (let part = 0; part < 3; part++) {
      await tx.events.append({
        time: new Date().toISOString(),
        actor: 'writer',
        objectType: 'test',
        objectId: String(n),
        objectName: null,
        action: 'write',
        hostId: null,
        result: 'ok',
        requestId: null,
        detail: { n, part, padding },
      });
    }
    await tx.operations.insert(sampleOperation({ id: `op-${n}` }));
    await tx.hosts.update('counter', { usage: { cpus: n, memoryBytes: 0, diskBytes: 0 } });
  });
  process.stdout.write(`${n}\n`);
}
