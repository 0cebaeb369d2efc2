import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cluster, GiB, host, vm } from '../scheduler/testing.js';
import { checkAdmission } from './admission.js';

const fourHosts = [host('h1'), host('h2'), host('h3'), host('h4')];
/** Each host runs one HA VM of 2 vCPUs and 4 GiB. */
const quarterLoaded = cluster(fourHosts, fourHosts.map((h, i) => vm(`vm${i + 1}`, { hostId: h.id, cpus: 2, memoryBytes: 4 * GiB })));
const allHa = quarterLoaded.vms.map((v) => v.id);

test('admitted: the figures are those of the tightest combination', () => {
  const result = checkAdmission(quarterLoaded, allHa, 2);
  assert.equal(result.admitted, true);
  assert.equal(result.combinationsChecked, 6);
  assert.equal(result.exhaustive, true);
  assert.deepEqual(result.figures && { ...result.figures, failedHostIds: result.figures.failedHostIds.length }, {
    failedHostIds: 2,
    neededCpus: 4,
    neededMemoryBytes: 8 * GiB,
    spareCpus: 12,
    spareMemoryBytes: 24 * GiB,
    unplaced: [],
  });
  assert.match(result.reason, /^the HA VMs of any 2 failed host\(s\) fit on the others; tightest: if h1 and h2 fail, their HA VMs need 4 vCPU\(s\) and 8 GiB/);
});

test('refused by a placement rule, not only by capacity: anti-affinity members need a host each', () => {
  const view = cluster(fourHosts.slice(0, 3), [
    vm('db-1', { hostId: 'h1', groups: { antiAffinity: ['db'] } }),
    vm('db-2', { hostId: 'h2', groups: { antiAffinity: ['db'] } }),
    vm('db-3', { hostId: 'h3', groups: { antiAffinity: ['db'] } }),
  ]);
  const result = checkAdmission(view, ['db-1', 'db-2', 'db-3'], 1);
  assert.equal(result.admitted, false);
  assert.equal(result.figures?.spareCpus, 14, 'plenty of room, but the rule refuses');
  assert.match(result.figures?.unplaced[0]?.reason ?? '', /anti-affinity: group db already has db-2 on this host/);
});

test('tolerating as many failures as there are hosts is refused outright; none is trivially admitted', () => {
  assert.deepEqual(
    [checkAdmission(quarterLoaded, allHa, 4).admitted, checkAdmission(quarterLoaded, allHa, 4).reason],
    [false, 'tolerating 4 host failure(s) needs more than 4 host(s); the cluster has 4 that are not offline'],
  );
  assert.equal(checkAdmission(quarterLoaded, allHa, 0).admitted, true);
});

test('with too many combinations only the hosts with the most HA load are failed together, and the answer says so', () => {
  const heavy = cluster(fourHosts, [vm('big', { hostId: 'h3', cpus: 8, memoryBytes: 16 * GiB }), vm('small', { hostId: 'h1' })]);
  const result = checkAdmission(heavy, ['big', 'small'], 1, { maxCombinations: 2 });
  assert.equal(result.exhaustive, false);
  assert.equal(result.admitted, true);
  assert.deepEqual(result.figures?.failedHostIds, ['h3'], 'the heaviest host is the one checked');
  assert.match(result.reason, /only the hosts with the most HA load were checked/);
});
