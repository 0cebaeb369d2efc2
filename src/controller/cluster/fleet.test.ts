import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../store/sqlite-store.js';
import { sampleHost, sampleVm } from '../store/fixtures.js';
import type { Store } from '../store/store.js';
import { FLEET_READ_PIECE, FleetMirror } from './fleet.js';

/** `list` counts whole reads: `list()`, or the first piece of a read in pieces (`listAfterId` from the start); `pieces` counts every piece. */
type Reads = Record<'list' | 'listUpdatedSince' | 'ids' | 'pieces', number>;

/** The store, counting how each table's records are read. */
function counted(store: Store) {
  const reads = { hosts: { list: 0, listUpdatedSince: 0, ids: 0, pieces: 0 } as Reads, vms: { list: 0, listUpdatedSince: 0, ids: 0, pieces: 0 } as Reads };
  const counting = <T extends object>(repo: T, into: Reads): T =>
    new Proxy(repo, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (prop === 'listAfterId') {
            into.pieces++;
            if (args[0] === undefined) into.list++;
          } else if (prop in into) into[prop as keyof Reads]++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  const view = { hosts: counting(store.hosts, reads.hosts), vms: counting(store.vms, reads.vms) } as Pick<Store, 'hosts' | 'vms'>;
  return { view, reads };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 2));

test('the fleet copy: read whole at first, then only what changed, deletions found by the count, whole again when due', async (t) => {
  const store = SqliteStore.open(':memory:');
  t.after(() => store.close());
  await store.hosts.insert(sampleHost());
  await store.vms.insert(sampleVm({ hostId: 'host-1' }));
  await store.vms.insert(sampleVm({ id: 'vm-2', name: 'web-2', hostId: 'host-1' }));
  let clock = 1_000;
  const { view, reads } = counted(store);
  const mirror = new FleetMirror(view, 60_000, () => clock);

  const first = await mirror.read();
  assert.deepEqual([reads.hosts.list, reads.vms.list], [1, 1]);

  // Nothing changed: the copy serves, the same array.
  clock += 1_000;
  const quiet = await mirror.read();
  assert.equal(quiet.vms, first.vms);
  assert.deepEqual(reads.vms, { list: 1, listUpdatedSince: 0, ids: 0, pieces: 1 });

  // A VM changed: only the records updated lately are read, and the change is seen; the hosts are left alone.
  await tick();
  await store.vms.update('vm-1', { state: 'running' });
  const changed = await mirror.read();
  assert.deepEqual(changed.vms.map((vm) => [vm.id, vm.state]), [['vm-1', 'running'], ['vm-2', 'stopped']]);
  assert.deepEqual(reads.vms, { list: 1, listUpdatedSince: 1, ids: 0, pieces: 1 });
  assert.deepEqual(reads.hosts, { list: 1, listUpdatedSince: 0, ids: 0, pieces: 1 });

  // An insert is read like a change; a delete is found through the ids, since the count drops.
  await tick();
  await store.vms.insert(sampleVm({ id: 'vm-3', name: 'web-3', createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() }));
  assert.deepEqual((await mirror.read()).vms.map((vm) => vm.id), ['vm-1', 'vm-2', 'vm-3']);
  assert.equal(reads.vms.ids, 0);
  await store.vms.delete('vm-2');
  assert.deepEqual((await mirror.read()).vms.map((vm) => vm.id), ['vm-1', 'vm-3']);
  assert.equal(reads.vms.ids, 1);
  assert.equal(reads.vms.list, 1, 'never read whole meanwhile');

  // Asked for the recent records, it reads them whatever the stamps say; unchanged, the copy stays the same array.
  const before = await mirror.read();
  const recent = await mirror.read(true);
  assert.equal(recent.vms, before.vms);
  assert.equal(reads.vms.listUpdatedSince, 4);
  // Due for its whole read, both tables are read whole.
  clock += 60_000;
  await mirror.read();
  assert.deepEqual([reads.hosts.list, reads.vms.list], [2, 2]);
});

test('a table is read whole in pieces, oldest first, letting other work run between them', async (t) => {
  const store = SqliteStore.open(':memory:');
  t.after(() => store.close());
  const count = 2 * FLEET_READ_PIECE + 500;
  const base = Date.parse('2026-01-01T00:00:00.000Z');
  // Ids in the opposite order to their age, so the pieces (by id) come newest first and the copy must put them back.
  await store.transaction(async (tx) => {
    for (let i = 0; i < count; i++) {
      const at = new Date(base + i).toISOString();
      await tx.vms.insert(sampleVm({ id: `vm-${String(count - i).padStart(6, '0')}`, name: `web-${i}`, createdAt: at, updatedAt: at }));
    }
  });
  const { view, reads } = counted(store);
  let turns = 0;
  const other = setInterval(() => turns++, 0);
  const { vms } = await new FleetMirror(view).read();
  clearInterval(other);
  assert.equal(reads.vms.pieces, 3);
  assert.equal(vms.length, count);
  assert.deepEqual(vms.slice(0, 3).map((vm) => vm.name), ['web-0', 'web-1', 'web-2']);
  assert.equal(vms.at(-1)?.name, `web-${count - 1}`);
  assert.ok(turns > 0, 'a timer ran while the pieces were read');
});

test('a transaction takes the copy\'s VMs while its own stamp matches, and brings the copy up to date when not', async (t) => {
  const store = SqliteStore.open(':memory:');
  t.after(() => store.close());
  await store.vms.insert(sampleVm());
  const mirror = new FleetMirror(store);
  const first = await store.transaction((tx) => mirror.vmsIn(tx));
  assert.equal(first.length, 1);
  assert.equal(await store.transaction((tx) => mirror.vmsIn(tx)), first, 'the copy, not a second read');
  await tick();
  await store.vms.insert(sampleVm({ id: 'vm-2', name: 'web-2', updatedAt: new Date().toISOString() }));
  const changed = await store.transaction((tx) => mirror.vmsIn(tx));
  assert.deepEqual(changed.map((vm) => vm.id), ['vm-1', 'vm-2']);
  // The transaction's reading is the copy from then on.
  assert.equal((await mirror.read()).vms, changed);
});

test('a record inserted with an old updatedAt (as a restore writes it) is not missed: the count sends the copy to a whole read', async (t) => {
  const store = SqliteStore.open(':memory:');
  t.after(() => store.close());
  await store.vms.insert(sampleVm({ updatedAt: new Date().toISOString() }));
  const mirror = new FleetMirror(store);
  await mirror.read();
  await store.vms.insert(sampleVm({ id: 'vm-old', name: 'old', updatedAt: '2020-01-01T00:00:00.000Z' }));
  const view = await mirror.read();
  assert.deepEqual(view.vms.map((vm) => vm.id).sort(), ['vm-1', 'vm-old']);
});

test('a change the stamp cannot show (same count, same latest millisecond) is caught when the recent records are asked for', async (t) => {
  const store = SqliteStore.open(':memory:');
  t.after(() => store.close());
  const at = new Date().toISOString();
  await store.vms.insert(sampleVm({ updatedAt: at }));
  await store.vms.insert(sampleVm({ id: 'vm-2', name: 'web-2', updatedAt: at }));
  const mirror = new FleetMirror(store);
  await mirror.read();
  await store.vms.update('vm-2', { state: 'running', updatedAt: at });
  assert.equal((await mirror.read()).vms.find((vm) => vm.id === 'vm-2')?.state, 'stopped', 'the stamp did not move');
  assert.equal((await mirror.read(true)).vms.find((vm) => vm.id === 'vm-2')?.state, 'running');
});
