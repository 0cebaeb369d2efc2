/**
 * The behaviour every Store engine must have, as a test suite an engine's test file runs against
 * itself (`storeConformance('sqlite', open)`). A new engine is done when this suite passes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDroverError } from '../../shared/errors.js';
import { sampleHost, sampleJoinToken, sampleOperation, samplePlacement, sampleToken, sampleVm, T0 } from './fixtures.js';
import type { Store } from './store.js';

const event = (overrides: Partial<Parameters<Store['events']['append']>[0]> = {}) => ({
  time: T0,
  actor: 'admin',
  objectType: 'vm',
  objectId: 'vm-1',
  objectName: 'web',
  action: 'vm.start',
  hostId: 'host-1',
  result: 'succeeded',
  requestId: null,
  detail: { note: 'x' },
  ...overrides,
});

/** Registers the conformance tests for one engine; `open` returns a fresh, empty store. */
export function storeConformance(engine: string, open: () => Promise<Store>): void {
  const withStore = (name: string, body: (store: Store) => Promise<void>) =>
    test(`${engine} store: ${name}`, async () => {
      const store = await open();
      try {
        await body(store);
      } finally {
        await store.close();
      }
    });

  withStore('named records round-trip, including JSON fields', async (store) => {
    await store.hosts.insert(sampleHost());
    await store.vms.insert(sampleVm({ hostId: 'host-1' }));
    assert.deepEqual(await store.hosts.get('host-1'), sampleHost());
    assert.deepEqual(await store.vms.getByName('web'), sampleVm({ hostId: 'host-1' }));
    assert.deepEqual(await store.vms.listByHost('host-1'), [sampleVm({ hostId: 'host-1' })]);
    assert.equal(await store.vms.get('nope'), undefined);
  });

  withStore('VM pages: by name in byte order, after a name, limited, filtered by host, state and type', async (store) => {
    await store.hosts.insert(sampleHost());
    await store.hosts.insert(sampleHost({ id: 'host-2', name: 'beta' }));
    // Inserted out of order; in byte order 'B' < 'a-1' < 'a-10' < 'a-2' < 'a1' < 'b' (a locale's order would differ).
    const vms = [
      sampleVm({ id: 'v-b', name: 'b', hostId: 'host-2', state: 'running' }),
      sampleVm({ id: 'v-a-2', name: 'a-2', hostId: 'host-1', state: 'running', spec: { cpus: 1, memoryBytes: 2 ** 30, imageId: null, type: 'container' } }),
      sampleVm({ id: 'v-a1', name: 'a1', hostId: 'host-1' }),
      sampleVm({ id: 'v-B', name: 'B', hostId: null }),
      sampleVm({ id: 'v-a-10', name: 'a-10', hostId: 'host-2', state: 'running', spec: { cpus: 1, memoryBytes: 2 ** 30, imageId: null, type: 'vm' } }),
      sampleVm({ id: 'v-a-1', name: 'a-1', hostId: 'host-1', state: 'running' }),
    ];
    for (const vm of vms) await store.vms.insert(vm);
    const names = async (filter: Parameters<Store['vms']['page']>[0]) => (await store.vms.page(filter)).map((vm) => vm.name);
    assert.deepEqual(await names({}), ['B', 'a-1', 'a-10', 'a-2', 'a1', 'b']);
    assert.deepEqual(await names({ limit: 2 }), ['B', 'a-1']);
    assert.deepEqual(await names({ limit: 2, afterName: 'a-1' }), ['a-10', 'a-2']);
    assert.deepEqual(await names({ limit: 2, afterName: 'a1' }), ['b']);
    assert.deepEqual(await names({ limit: 5, afterName: 'b' }), []);
    // The cursor need not be a name that exists (the VM may have been deleted since).
    assert.deepEqual(await names({ afterName: 'a-15' }), ['a-2', 'a1', 'b']);
    assert.deepEqual(await names({ hostId: 'host-1' }), ['a-1', 'a-2', 'a1']);
    assert.deepEqual(await names({ state: 'running', limit: 3 }), ['a-1', 'a-10', 'a-2']);
    assert.deepEqual(await names({ state: 'running', hostId: 'host-2', afterName: 'a-10' }), ['b']);
    assert.deepEqual(await names({ type: 'container' }), ['a-2']);
    // No type in the spec is a VM.
    assert.deepEqual(await names({ type: 'vm', hostId: 'host-1' }), ['a-1', 'a1']);
    assert.deepEqual(await store.vms.page({ limit: 1, afterName: 'a-2' }), [vms[2]]);
    assert.deepEqual(await store.hosts.namesOf(['host-2', 'nope', 'host-1', 'host-2']), new Map([['host-1', 'alpha'], ['host-2', 'beta']]));
    assert.deepEqual(await store.hosts.namesOf([]), new Map());
  });

  withStore('a taken name is ALREADY_EXISTS and changes nothing', async (store) => {
    await store.vms.insert(sampleVm());
    await assert.rejects(store.vms.insert(sampleVm({ id: 'vm-2' })), (err) => isDroverError(err, 'ALREADY_EXISTS'));
    assert.equal((await store.vms.list()).length, 1);
  });

  withStore('update bumps updatedAt, NOT_FOUND for a missing id; delete reports', async (store) => {
    await store.vms.insert(sampleVm());
    const updated = await store.vms.update('vm-1', { state: 'running', snapshots: [{ name: 's1', createdAt: T0 }] });
    assert.equal(updated.state, 'running');
    assert.deepEqual(updated.snapshots, [{ name: 's1', createdAt: T0 }]);
    assert.ok(updated.updatedAt > T0);
    await assert.rejects(store.vms.update('missing', { state: 'running' }), (err) => isDroverError(err, 'NOT_FOUND'));
    assert.equal(await store.vms.delete('vm-1'), true);
    assert.equal(await store.vms.delete('vm-1'), false);
  });

  withStore('the change stamp moves with an insert, an update and a delete, and not with a read', async (store) => {
    const empty = await store.vms.changeStamp();
    await store.vms.insert(sampleVm());
    const inserted = await store.vms.changeStamp();
    assert.notEqual(inserted, empty);
    await store.vms.list();
    assert.equal(await store.vms.changeStamp(), inserted);
    await new Promise((resolve) => setTimeout(resolve, 2));
    await store.vms.update('vm-1', { state: 'running' });
    const updated = await store.vms.changeStamp();
    assert.notEqual(updated, inserted);
    await store.vms.delete('vm-1');
    assert.notEqual(await store.vms.changeStamp(), updated);
    assert.equal(await store.hosts.changeStamp(), await store.hosts.changeStamp());
  });

  withStore('a table read a piece at a time by id gives every record once', async (store) => {
    for (const id of ['vm-c', 'vm-a', 'vm-e', 'vm-b', 'vm-d']) await store.vms.insert(sampleVm({ id, name: `name-of-${id}` }));
    const pieces: string[][] = [];
    let after: string | undefined;
    for (;;) {
      const piece = await store.vms.listAfterId(after, 2);
      if (piece.length === 0) break;
      pieces.push(piece.map((vm) => vm.id));
      after = piece.at(-1)?.id;
    }
    assert.deepEqual(pieces, [['vm-a', 'vm-b'], ['vm-c', 'vm-d'], ['vm-e']]);
    assert.equal((await store.vms.listAfterId('vm-b', 10)).map((vm) => vm.name).join(','), 'name-of-vm-c,name-of-vm-d,name-of-vm-e');
  });

  withStore('operations list filters by state and target, newest first', async (store) => {
    await store.operations.insert(sampleOperation({ id: 'a', createdAt: '2025-01-01T00:00:01.000Z' }));
    await store.operations.insert(sampleOperation({ id: 'b', createdAt: '2025-01-01T00:00:02.000Z', state: 'running' }));
    await store.operations.insert(sampleOperation({ id: 'c', createdAt: '2025-01-01T00:00:03.000Z', targetId: 'vm-2' }));
    const ids = async (filter: Parameters<Store['operations']['list']>[0]) =>
      (await store.operations.list(filter)).map((op) => op.id);
    assert.deepEqual(await ids({ limit: 10 }), ['c', 'b', 'a']);
    assert.deepEqual(await ids({ limit: 10, states: ['queued'] }), ['c', 'a']);
    assert.deepEqual(await ids({ limit: 10, targetType: 'vm', targetId: 'vm-1' }), ['b', 'a']);
    assert.deepEqual(await ids({ limit: 1 }), ['c']);
    const done = await store.operations.update('b', { state: 'failed', error: { code: 'INTERNAL', message: 'm' }, cancelRequested: true });
    assert.deepEqual([done.state, done.error, done.cancelRequested], ['failed', { code: 'INTERNAL', message: 'm' }, true]);
    await assert.rejects(store.operations.update('zz', { progress: 1 }), (err) => isDroverError(err, 'OPERATION_NOT_FOUND'));
  });

  withStore('events get growing ids and filter by VM, host, actor, time and id', async (store) => {
    const first = await store.events.append(event());
    const second = await store.events.append(event({ time: '2025-01-02T00:00:00.000Z', actor: 'ci', objectId: 'vm-2', objectName: 'db' }));
    const third = await store.events.append(event({ time: '2025-01-03T00:00:00.000Z', objectType: 'host', objectId: 'host-2', objectName: 'beta', hostId: null }));
    assert.ok(first < second && second < third);
    const ids = async (filter: Partial<Parameters<Store['events']['query']>[0]>) =>
      (await store.events.query({ order: 'asc', limit: 100, ...filter })).map((e) => e.id);
    assert.deepEqual(await ids({ vm: 'web' }), [first]);
    assert.deepEqual(await ids({ vm: 'vm-2' }), [second]);
    assert.deepEqual(await ids({ host: 'host-1' }), [first, second]);
    assert.deepEqual(await ids({ host: 'beta' }), [third]);
    assert.deepEqual(await ids({ actor: 'ci' }), [second]);
    assert.deepEqual(await ids({ since: '2025-01-02T00:00:00.000Z' }), [second, third]);
    assert.deepEqual(await ids({ until: '2025-01-02T00:00:00.000Z' }), [first, second]);
    assert.deepEqual(await ids({ afterId: first, beforeId: third }), [second]);
    assert.deepEqual(await ids({ order: 'desc', limit: 2 }), [third, second]);
    const [stored] = await store.events.query({ order: 'asc', limit: 1 });
    assert.deepEqual(stored, { id: first, ...event() });
  });

  withStore('token names are unique among active tokens only', async (store) => {
    await store.tokens.insert(sampleToken());
    await assert.rejects(store.tokens.insert(sampleToken({ id: 'tok-2', hash: 'b'.repeat(64) })), (err) => isDroverError(err, 'ALREADY_EXISTS'));
    await store.tokens.update('tok-1', { revokedAt: T0 });
    await store.tokens.insert(sampleToken({ id: 'tok-2', hash: 'b'.repeat(64) }));
    assert.equal((await store.tokens.getActiveByName('ci'))?.id, 'tok-2');
    assert.equal((await store.tokens.getByHash('a'.repeat(64)))?.revokedAt, T0);
    assert.equal((await store.tokens.list()).length, 2);
  });

  withStore('host tags and overcommit ratios round-trip and update', async (store) => {
    await store.hosts.insert(sampleHost({ tags: ['zone=a', 'ssd'], cpuOvercommit: 4, memoryOvercommit: 1.5 }));
    const stored = await store.hosts.get('host-1');
    assert.deepEqual([stored?.tags, stored?.cpuOvercommit, stored?.memoryOvercommit], [['zone=a', 'ssd'], 4, 1.5]);
    const updated = await store.hosts.update('host-1', { tags: [], cpuOvercommit: 2 });
    assert.deepEqual([updated.tags, updated.cpuOvercommit, updated.memoryOvercommit], [[], 2, 1.5]);
  });

  withStore('a join token is consumed once, never after it expires, and expired ones are pruned', async (store) => {
    await store.joinTokens.insert(sampleJoinToken());
    await store.joinTokens.insert(sampleJoinToken({ id: 'join-2', hash: 'c'.repeat(64), expiresAt: '2025-01-01T00:30:00.000Z' }));
    await assert.rejects(store.joinTokens.insert(sampleJoinToken({ id: 'join-3' })), (err) => isDroverError(err, 'ALREADY_EXISTS'));
    assert.equal(await store.joinTokens.consume('join-2', '2025-01-01T00:45:00.000Z', 'host-1'), false, 'expired');
    assert.equal(await store.joinTokens.consume('join-1', '2025-01-01T00:45:00.000Z', 'host-1'), true);
    assert.equal(await store.joinTokens.consume('join-1', '2025-01-01T00:46:00.000Z', 'host-2'), false, 'already used');
    assert.deepEqual(await store.joinTokens.getByHash('b'.repeat(64)), sampleJoinToken({ usedAt: '2025-01-01T00:45:00.000Z', usedByHostId: 'host-1' }));
    assert.equal(await store.joinTokens.deleteExpired('2025-01-01T00:59:00.000Z'), 1);
    assert.equal(await store.joinTokens.getByHash('c'.repeat(64)), undefined);
    assert.equal(await store.joinTokens.getByHash('x'.repeat(64)), undefined);
  });

  withStore('a transaction that throws leaves nothing behind, in any table', async (store) => {
    const committed: string[] = [];
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.hosts.insert(sampleHost());
        await tx.vms.insert(sampleVm({ hostId: 'host-1' }));
        await tx.events.append(event());
        tx.afterCommit(() => committed.push('rolled back'));
        throw new Error('step 3 failed');
      }),
      /step 3 failed/,
    );
    assert.deepEqual(await store.hosts.list(), []);
    assert.deepEqual(await store.vms.list(), []);
    assert.deepEqual(await store.events.query({ order: 'asc', limit: 10 }), []);
    assert.deepEqual(committed, []);
  });

  withStore('a transaction commits all its writes, then runs afterCommit', async (store) => {
    const seen: number[] = [];
    const result = await store.transaction(async (tx) => {
      await tx.hosts.insert(sampleHost());
      await tx.vms.insert(sampleVm({ hostId: 'host-1' }));
      tx.afterCommit(() => seen.push(1));
      assert.deepEqual(seen, []);
      return 'done';
    });
    assert.equal(result, 'done');
    assert.deepEqual(seen, [1]);
    assert.equal((await store.vms.list()).length, 1);
  });

  withStore('callers outside a transaction never see or join its writes', async (store) => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const inside = store.transaction(async (tx) => {
      await tx.hosts.insert(sampleHost());
      await gate;
      throw new Error('abort');
    });
    const outside = store.hosts.insert(sampleHost({ id: 'host-2', name: 'beta' }));
    const seenOutside = store.hosts.list();
    release();
    await assert.rejects(inside, /abort/);
    await outside;
    // SQLite makes the outside calls wait for the transaction; PostgreSQL runs them beside it. Either
    // way the outside list never sees the uncommitted host, and the outside insert is not rolled back with it.
    assert.ok(!(await seenOutside).some((h) => h.id === 'host-1'));
    assert.deepEqual((await store.hosts.list()).map((h) => h.id), ['host-2']);
  });

  withStore('settings: unset reads undefined, set overwrites, a rolled-back set is not kept', async (store) => {
    assert.equal(await store.settings.get('weight'), undefined);
    await store.settings.set('weight', 'pack');
    await store.settings.set('weight', 'spread');
    assert.equal(await store.settings.get('weight'), 'spread');
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.settings.set('cpuModel', 'EPYC');
        throw new Error('abort');
      }),
      /abort/,
    );
    assert.equal(await store.settings.get('cpuModel'), undefined);
  });

  withStore('hosts: reported pools and CPU models round-trip', async (store) => {
    await store.hosts.insert(sampleHost());
    assert.deepEqual((await store.hosts.get('host-1'))?.cpuModels, ['*']);
    await store.hosts.update('host-1', { pools: [{ name: 'local:alpha', kind: 'local' }, { name: 'nas-1', kind: 'shared' }], cpuModels: ['*'] });
    const host = await store.hosts.get('host-1');
    assert.deepEqual([host?.pools, host?.cpuModels], [[{ name: 'local:alpha', kind: 'local' }, { name: 'nas-1', kind: 'shared' }], ['*']]);
  });

  withStore('hosts: a fence device round-trips, is replaced whole and cleared', async (store) => {
    await store.hosts.insert(sampleHost());
    assert.equal((await store.hosts.get('host-1'))?.fenceDevice, null);
    const device = { agent: 'fence_ipmilan', options: { ip: '10.0.0.9', username: 'admin', password: 'p=ss "x"', lanplus: '1' }, setAt: T0, setBy: 'admin' };
    await store.hosts.update('host-1', { fenceDevice: device });
    assert.deepEqual((await store.hosts.getByName('alpha'))?.fenceDevice, device);
    const other = { agent: 'fence_redfish', options: { ip: 'bmc.example' }, setAt: T0, setBy: 'ops' };
    await store.hosts.update('host-1', { fenceDevice: other });
    assert.deepEqual((await store.hosts.get('host-1'))?.fenceDevice, other, 'options of the old device are not merged in');
    // Other updates (a heartbeat) leave the device alone.
    await store.hosts.update('host-1', { health: 'unreachable' });
    assert.deepEqual((await store.hosts.get('host-1'))?.fenceDevice, other);
    await store.hosts.update('host-1', { fenceDevice: null });
    assert.equal((await store.hosts.get('host-1'))?.fenceDevice, null);
  });

  withStore('placements: newest first, one open per VM, the stay covering a time', async (store) => {
    const T1 = '2025-01-01T01:00:00.000Z';
    await store.placements.insert(samplePlacement());
    await assert.rejects(store.placements.insert(samplePlacement({ id: 'pl-2', hostId: 'host-2' })), (err) => isDroverError(err, 'ALREADY_EXISTS'));
    await store.transaction(async (tx) => {
      assert.equal(await tx.placements.close('vm-1', T1), true);
      await tx.placements.insert(samplePlacement({ id: 'pl-2', hostId: 'host-2', hostName: 'beta', startedAt: T1, reason: 'user', detail: { from: 'alpha' } }));
    });
    assert.deepEqual((await store.placements.listByVm('vm-1')).map((p) => [p.id, p.endedAt]), [['pl-2', null], ['pl-1', T1]]);
    assert.equal((await store.placements.current('vm-1'))?.hostName, 'beta');
    assert.equal((await store.placements.at('vm-1', '2025-01-01T00:30:00.000Z'))?.hostName, 'alpha');
    assert.equal((await store.placements.at('vm-1', T1))?.hostName, 'beta');
    assert.equal(await store.placements.at('vm-1', '2024-12-31T00:00:00.000Z'), undefined);
    assert.equal(await store.placements.close('vm-2', T1), false);
    assert.deepEqual(await store.placements.listByVm('vm-2'), []);
  });

  withStore('misusing the store inside a transaction fails loudly', async (store) => {
    await assert.rejects(
      store.transaction(async () => {
        await store.hosts.list();
      }),
      (err) => isDroverError(err, 'INTERNAL'),
    );
    let escaped!: Parameters<Parameters<Store['transaction']>[0]>[0];
    await store.transaction(async (tx) => {
      escaped = tx;
    });
    await assert.rejects(escaped.hosts.list(), (err) => isDroverError(err, 'INTERNAL'));
    await assert.rejects(
      store.transaction(() => store.transaction(async () => undefined)),
      (err) => isDroverError(err, 'INTERNAL'),
    );
  });

  withStore('controllers: put inserts then replaces, oldest first, delete reports', async (store) => {
    const a = { id: 'c-a', name: 'ctl-a', url: 'http://127.0.0.1:7700', version: '0.1.0', startedAt: T0, lastSeenAt: T0 };
    const b = { ...a, id: 'c-b', name: 'ctl-b', url: 'http://127.0.0.1:7710' };
    await store.controllers.put(a);
    await store.controllers.put(b);
    await store.controllers.put({ ...a, lastSeenAt: '2025-01-01T00:00:05.000Z' });
    assert.deepEqual(await store.controllers.list(), [{ ...a, lastSeenAt: '2025-01-01T00:00:05.000Z' }, b]);
    assert.equal(await store.controllers.delete('c-b'), true);
    assert.equal(await store.controllers.delete('c-b'), false);
  });

  withStore('the leader lease: absent until put, replaced whole, and read inside a transaction', async (store) => {
    assert.equal(await store.leaderLease.get(), undefined);
    const lease = { holder: 'c-a', token: 1, acquiredAt: T0, renewedAt: T0, expiresAt: '2025-01-01T00:00:10.000Z' };
    await store.leaderLease.put(lease);
    assert.deepEqual(await store.leaderLease.get(), lease);
    await store.transaction(async (tx) => {
      const held = await tx.leaderLease.get();
      assert.ok(held);
      await tx.leaderLease.put({ ...held, holder: 'c-b', token: held.token + 1 });
    });
    assert.deepEqual(await store.leaderLease.get(), { ...lease, holder: 'c-b', token: 2 });
  });
}
