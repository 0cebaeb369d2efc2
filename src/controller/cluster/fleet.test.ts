import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../store/sqlite-store.js';
import { sampleHost, sampleVm } from '../store/fixtures.js';
import type { Store } from '../store/store.js';
import { FleetMirror } from './fleet.js';

/** The store, counting how often each table's records are listed. */
function counted(store: Store) {
  const lists = { hosts: 0, vms: 0 };
  const view = {
    hosts: { ...store.hosts, changeStamp: () => store.hosts.changeStamp(), list: () => (lists.hosts++, store.hosts.list()) },
    vms: { ...store.vms, changeStamp: () => store.vms.changeStamp(), list: () => (lists.vms++, store.vms.list()) },
  } as unknown as Pick<Store, 'hosts' | 'vms'>;
  return { view, lists };
}

test('HA\'s copy of the fleet is read again when a table changes, when it is old, or when a fresh read is asked for', async (t) => {
  const store = SqliteStore.open(':memory:');
  t.after(() => store.close());
  await store.hosts.insert(sampleHost());
  await store.vms.insert(sampleVm({ hostId: 'host-1' }));
  let clock = 1_000;
  const { view, lists } = counted(store);
  const mirror = new FleetMirror(view, 5_000, () => clock);

  const first = await mirror.read();
  assert.equal(first.fresh, true);
  assert.deepEqual(lists, { hosts: 1, vms: 1 });

  // Nothing changed: the copy serves.
  clock += 1_000;
  const quiet = await mirror.read();
  assert.equal(quiet.fresh, false);
  assert.equal(quiet.vms[0]?.state, 'stopped');
  assert.deepEqual(lists, { hosts: 1, vms: 1 });

  // A VM changed: only the VMs are read again, and the change is seen.
  await new Promise((resolve) => setTimeout(resolve, 2));
  await store.vms.update('vm-1', { state: 'running' });
  const changed = await mirror.read();
  assert.equal(changed.vms[0]?.state, 'running');
  assert.deepEqual(lists, { hosts: 1, vms: 2 });

  // A VM deleted is gone from the next read.
  await store.vms.delete('vm-1');
  assert.deepEqual((await mirror.read()).vms, []);
  assert.deepEqual(lists, { hosts: 1, vms: 3 });

  // Asked for fresh, or older than its limit, both tables are read whatever the stamps say.
  const fresh = await mirror.read(true);
  assert.equal(fresh.fresh, true);
  assert.deepEqual(lists, { hosts: 2, vms: 4 });
  clock += 5_000;
  assert.equal((await mirror.read()).fresh, true);
  assert.deepEqual(lists, { hosts: 3, vms: 5 });

  // Forgotten, the copy is read again.
  mirror.forget();
  await mirror.read();
  assert.deepEqual(lists, { hosts: 4, vms: 6 });
});

test('a transaction takes the copy\'s VMs only while its own stamp matches, and its own list becomes the copy', async (t) => {
  const store = SqliteStore.open(':memory:');
  t.after(() => store.close());
  await store.vms.insert(sampleVm());
  const { view, lists } = counted(store);
  const mirror = new FleetMirror(view, 5_000);
  const first = await store.transaction((tx) => mirror.vmsIn(tx));
  assert.equal(first.length, 1);
  const again = await store.transaction((tx) => mirror.vmsIn(tx));
  assert.equal(again, first, 'the copy, not a second read');
  await new Promise((resolve) => setTimeout(resolve, 2));
  await store.vms.insert(sampleVm({ id: 'vm-2', name: 'web-2' }));
  const changed = await store.transaction((tx) => mirror.vmsIn(tx));
  assert.deepEqual(changed.map((vm) => vm.id).sort(), ['vm-1', 'vm-2']);
  // The transaction's list is HA's copy from then on.
  assert.equal((await mirror.read()).vms.length, 2);
  assert.equal(lists.vms, 0, 'the transactions\' own lists served; the mirror never listed the VMs itself');
});
