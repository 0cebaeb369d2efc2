import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDroverError } from '../shared/errors.js';
import { PlacementImpossibleError, placeMany, placeOne } from './place.js';
import { cluster, GiB, host, vm } from './testing.js';

test('spread and pack choose different hosts, and each decision says why it won', () => {
  const hosts = [host('busy'), host('empty')];
  const running = [vm('old', { hostId: 'busy', cpus: 4, memoryBytes: 8 * GiB })];
  const spread = placeOne(cluster(hosts, running, { weight: 'spread' }), vm('web'));
  const pack = placeOne(cluster(hosts, running, { weight: 'pack' }), vm('web'));
  assert.equal(spread.hostName, 'empty');
  assert.equal(pack.hostName, 'busy');
  // 1 of 8 CPUs and 1 of 16 GiB used on the empty host: 87.5% and 93.75% free.
  assert.deepEqual(spread.score, { weight: 'spread', total: (0.875 + 0.9375) / 2, parts: { cpu: 0.875, memory: 0.9375 } });
  assert.deepEqual(pack.score, { weight: 'pack', total: (5 / 8 + 9 / 16) / 2, parts: { cpu: 5 / 8, memory: 9 / 16 } });
  assert.match(spread.reason, /^spread: the host with the most room left, 88% of CPU and 94% of memory free after placement \(score 0\.906; next best busy at 0\.406\)$/);
  assert.match(pack.reason, /^pack: the fullest host that fits, 63% of CPU and 56% of memory allocated/);
  assert.deepEqual(spread.runnerUp, { hostId: 'busy', hostName: 'busy', total: (0.375 + 0.4375) / 2 });
  assert.equal(spread.candidates, 2);
  assert.deepEqual(spread.rejected, []);
});

test('a decision lists every refused host with its filter and reason', () => {
  const view = cluster([host('h1', { state: 'maintenance' }), host('h2', { memoryBytes: 2 * GiB }), host('h3')], [vm('big', { hostId: 'h2', memoryBytes: 2 * GiB })]);
  const decision = placeOne(view, vm('web'));
  assert.equal(decision.hostId, 'h3');
  assert.equal(decision.candidates, 1);
  assert.match(decision.reason, /the only host that passed every filter/);
  assert.deepEqual(
    decision.rejected.map((r) => [r.hostId, r.filter, r.reason]),
    [
      ['h1', 'maintenance', 'maintenance: host is in maintenance and accepts no new VMs'],
      ['h2', 'memory', 'memory: needs 1 GiB, 0 MiB free of 2 GiB at 1x overcommit (2 GiB physical)'],
    ],
  );
});

test('an impossible placement fails with PLACEMENT_IMPOSSIBLE listing the reason of every host', () => {
  const view = cluster([host('h1', { deviceModels: ['emulated'] }), host('h2', { tags: ['ssd'], cpus: 2 }), host('h3')]);
  assert.throws(
    () => placeOne(view, vm('db', { cpus: 4, requiredTags: ['ssd'] })),
    (err: unknown) => {
      assert.ok(err instanceof PlacementImpossibleError);
      assert.ok(isDroverError(err, 'PLACEMENT_IMPOSSIBLE'));
      assert.equal(err.status, 409);
      assert.deepEqual(err.vmIds, ['db']);
      const lines = [
        'h1: device-model: VM needs virtio devices, host supports only emulated',
        'h2: cpu: needs 4 vCPU(s), 2 free of 2 at 1x overcommit (2 physical)',
        'h3: tags: host lacks required tag(s) ssd',
      ];
      assert.deepEqual(err.refusals.map((r) => `${r.hostName}: ${r.reason}`), lines);
      assert.equal(err.detail, `VM db (4 vCPU(s), 1 GiB): ${lines.join('; ')}`);
      return true;
    },
  );
});

test('a failure detail names the first ten hosts and counts the rest by filter', () => {
  const hosts = Array.from({ length: 14 }, (_, i) => host(`h${i + 1}`, i < 12 ? { state: 'maintenance' } : { memoryBytes: GiB / 2 }));
  const [failure] = placeMany(cluster(hosts), [vm('web')]).failures;
  assert.ok(failure);
  assert.equal(failure.refusals.length, 14);
  assert.match(failure.detail ?? '', /h10: maintenance: [^;]+; and 4 more host\(s\) \(maintenance 2, memory 2\)$/);
});

test('anti-affinity: members land on different hosts even under pack, and a fourth has nowhere to go', () => {
  const view = cluster([host('h1'), host('h2'), host('h3')], [], { weight: 'pack' });
  const members = ['db-1', 'db-2', 'db-3', 'db-4'].map((id) => vm(id, { groups: { antiAffinity: ['db'] } }));
  const { decisions, failures } = placeMany(view, members);
  assert.deepEqual(decisions.map((d) => d.hostId).sort(), ['h1', 'h2', 'h3']);
  assert.equal(failures.length, 1);
  assert.deepEqual(failures[0]?.vmIds, ['db-4']);
  assert.deepEqual(
    failures[0]?.refusals.map((r) => r.filter),
    ['anti-affinity', 'anti-affinity', 'anti-affinity'],
  );
  assert.match(failures[0]?.refusals[0]?.reason ?? '', /^anti-affinity: group db already has db-\d on this host$/);
});

test('affinity: a group lands on one host together, or follows members already placed', () => {
  const hosts = [host('h1'), host('h2'), host('h3')];
  const web = ['web-1', 'web-2', 'web-3'].map((id) => vm(id, { groups: { affinity: ['web'] } }));
  const together = placeMany(cluster(hosts, [], { weight: 'spread' }), web);
  assert.equal(new Set(together.decisions.map((d) => d.hostId)).size, 1);
  assert.deepEqual(together.decisions.find((d) => d.vmId === 'web-1')?.placedWith, ['web-2', 'web-3']);

  const placed = vm('web-0', { hostId: 'h2', groups: { affinity: ['web'] } });
  const follow = placeMany(cluster(hosts, [placed], { weight: 'spread' }), web);
  assert.deepEqual(follow.decisions.map((d) => d.hostId), ['h2', 'h2', 'h2']);
  assert.deepEqual(
    follow.decisions[0]?.rejected.map((r) => r.reason),
    ['web-1: affinity: group web runs on h2 (web-0)', 'web-1: affinity: group web runs on h2 (web-0)'],
  );
});

test('affinity: a lone newcomer follows its group even when empty hosts look better', () => {
  const view = cluster([host('h1'), host('h2'), host('h3')], [vm('web-0', { hostId: 'h2', groups: { affinity: ['web'] } })]);
  const decision = placeOne(view, vm('web-1', { groups: { affinity: ['web'] } }));
  assert.equal(decision.hostId, 'h2');
  assert.deepEqual(decision.rejected.map((r) => r.hostId), ['h1', 'h3']);
});

test('affinity: a group too big for every host fails as a whole, naming the member that did not fit', () => {
  const hosts = [host('h1', { cpus: 2 }), host('h2', { cpus: 2 })];
  const web = ['web-1', 'web-2', 'web-3'].map((id) => vm(id, { groups: { affinity: ['web'] } }));
  const { decisions, failures } = placeMany(cluster(hosts), web);
  assert.deepEqual(decisions, []);
  assert.deepEqual(failures[0]?.vmIds, ['web-1', 'web-2', 'web-3']);
  assert.deepEqual(
    failures[0]?.refusals.map((r) => r.reason),
    ['web-3: cpu: needs 1 vCPU(s), 0 free of 2 at 1x overcommit (2 physical)', 'web-3: cpu: needs 1 vCPU(s), 0 free of 2 at 1x overcommit (2 physical)'],
  );
  assert.match(failures[0]?.detail ?? '', /^affinity group of VMs web-1, web-2, web-3 \(3 vCPU\(s\), 3 GiB\)/);
});

test('placeMany: largest first, so the input order does not change the outcome; pack uses fewer hosts than spread', () => {
  const hosts = Array.from({ length: 6 }, (_, i) => host(`h${i + 1}`));
  const sizes = [1, 4, 2, 3, 1, 2, 4, 3, 1, 2];
  const vms = sizes.map((cpus, i) => vm(`vm-${i}`, { cpus, memoryBytes: cpus * GiB }));
  // Which sizes share a host, per host; equal VMs may swap places between orders.
  const sizesByHost = (weight: 'spread' | 'pack', order: typeof vms) => {
    const byHost: Record<string, number[]> = {};
    for (const d of placeMany(cluster(hosts, [], { weight }), order).decisions) (byHost[d.hostId] ??= []).push(sizes[Number(d.vmId.slice(3))] ?? -1);
    return byHost;
  };
  assert.deepEqual(sizesByHost('pack', vms), sizesByHost('pack', [...vms].reverse()));
  assert.deepEqual(sizesByHost('spread', vms), sizesByHost('spread', [...vms].reverse()));
  // 23 vCPUs on 8-CPU hosts: at least 3 hosts; best-fit decreasing finds 3.
  assert.deepEqual(sizesByHost('pack', vms), { h1: [4, 4], h2: [3, 3, 2], h3: [2, 2, 1, 1, 1] });
  assert.equal(Object.keys(sizesByHost('spread', vms)).length, 6);
});

test('placeMany re-places VMs already in the view and refuses duplicate ids', () => {
  const view = cluster([host('h1'), host('h2', { cpus: 2 })], [vm('web', { hostId: 'h2', cpus: 2 })], { weight: 'pack' });
  // Re-placed as if it ran nowhere: h2 is then empty and, being smaller, the fuller after placement.
  assert.equal(placeOne(view, vm('web', { cpus: 2 })).hostId, 'h2');
  assert.throws(() => placeMany(view, [vm('a'), vm('a')]), (err: unknown) => isDroverError(err, 'INVALID_ARGUMENT'));
});
