import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { useAgent } from '../helpers/agent.js';
import { createVm, shOk, startReady, type VmView } from '../helpers/vm.js';

/**
 * A checksum over every regular file of the guest's root filesystem. Left out: pseudo filesystems,
 * logs, and /etc/hosts, which boot writes from the VM's own hostname (its one intended difference).
 */
const FILES_CHECKSUM =
  'find / -xdev -type f ! -path "/proc/*" ! -path "/sys/*" ! -path "/dev/*" ! -path "/run/*" ! -path "/tmp/*" ! -path "/var/log/*" ! -path /etc/hosts | sort | xargs sha256sum | sha256sum';

describe('disks: linked and full clones, snapshots, read-only disks', () => {
  const suite = useAgent();

  test('a linked clone and a full clone boot into systems identical to their source', async () => {
    await createVm(suite.agent, { name: 'golden' });
    await startReady(suite.agent, 'golden');
    await shOk(suite.agent, 'golden', 'echo golden-marker > /root/marker && sync');
    assert.equal((await suite.agent.api<VmView>('POST', '/api/v1/vms/golden/stop')).body.state, 'stopped');

    const linked = await suite.agent.api<VmView>('POST', '/api/v1/vms/golden/clone', { name: 'linked', mode: 'linked' });
    assert.equal(linked.status, 201, JSON.stringify(linked.body));
    const full = await suite.agent.api<VmView>('POST', '/api/v1/vms/golden/clone', { name: 'full', mode: 'full' });
    assert.equal(full.status, 201, JSON.stringify(full.body));

    const info = (file: string): { 'backing-filename'?: string } =>
      JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', file], { encoding: 'utf8' })) as { 'backing-filename'?: string };
    assert.ok(info(linked.body.disks[0]!.path)['backing-filename'], 'linked clone has a backing file');
    assert.equal(info(full.body.disks[0]!.path)['backing-filename'], undefined, 'full clone stands alone');

    const sums: string[] = [];
    for (const name of ['linked', 'full', 'golden']) {
      await startReady(suite.agent, name);
      assert.equal(await shOk(suite.agent, name, 'cat /root/marker'), 'golden-marker\n');
      sums.push(await shOk(suite.agent, name, FILES_CHECKSUM, 120_000));
      await suite.agent.api('POST', `/api/v1/vms/${name}/kill`);
    }
    assert.equal(sums[0], sums[1], 'linked and full clone have the same files');
    assert.equal(sums[1], sums[2], 'clones have the same files as the source');
  });

  test('snapshot, write a file, revert: the file is gone and the VM boots from the snapshot', async () => {
    await startReady(suite.agent, 'full');
    await shOk(suite.agent, 'full', 'echo before > /root/before && sync');
    const snap = await suite.agent.api<Array<{ name: string }>>('POST', '/api/v1/vms/full/snapshots', { name: 'clean' });
    assert.equal(snap.status, 201, JSON.stringify(snap.body));
    assert.deepEqual(snap.body.map((s) => s.name), ['clean']);
    await shOk(suite.agent, 'full', 'echo after > /root/after && sync');

    const refused = await suite.agent.api<{ code: string }>('POST', '/api/v1/vms/full/snapshots/clean/revert');
    assert.equal(refused.status, 409);
    assert.equal(refused.body.code, 'VM_NOT_STOPPED');

    await suite.agent.api('POST', '/api/v1/vms/full/stop');
    const reverted = await suite.agent.api('POST', '/api/v1/vms/full/snapshots/clean/revert');
    assert.equal(reverted.status, 200, JSON.stringify(reverted.body));
    await startReady(suite.agent, 'full');
    assert.equal(await shOk(suite.agent, 'full', 'cat /root/before'), 'before\n');
    assert.equal(await shOk(suite.agent, 'full', 'test -e /root/after && echo present || echo gone'), 'gone\n');

    const missing = await suite.agent.api<{ code: string }>('POST', '/api/v1/vms/full/snapshots/nope/revert');
    assert.equal(missing.body.code, 'VM_NOT_STOPPED');
    await suite.agent.api('POST', '/api/v1/vms/full/kill');
    const missingStopped = await suite.agent.api<{ code: string }>('POST', '/api/v1/vms/full/snapshots/nope/revert');
    assert.equal(missingStopped.status, 404);
    assert.equal(missingStopped.body.code, 'SNAPSHOT_NOT_FOUND');
    const deleted = await suite.agent.api<Array<{ name: string }>>('DELETE', '/api/v1/vms/full/snapshots/clean');
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.body, []);
  });

  test('a read-only disk cannot be written by the guest', async () => {
    await createVm(suite.agent, { name: 'ro', extraDisks: [{ name: 'data', sizeGiB: 1, readOnly: true }] });
    await startReady(suite.agent, 'ro');
    assert.equal(await shOk(suite.agent, 'ro', 'cat /sys/block/vdb/ro'), '1\n');
    const write = await shOk(suite.agent, 'ro', 'dd if=/dev/zero of=/dev/vdb bs=4k count=1 2>&1; echo rc=$?');
    assert.match(write, /rc=1/);
    await suite.agent.api('POST', '/api/v1/vms/ro/kill');
  });

  test('read-only disks are refused for the emulated model, and nothing is created', async () => {
    const res = await suite.agent.api<{ code: string }>('POST', '/api/v1/vms', {
      name: 'ro-ide', image: 'tiny', devices: 'emulated', extraDisks: [{ name: 'data', sizeGiB: 1, readOnly: true }],
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.code, 'INVALID_ARGUMENT');
    assert.equal((await suite.agent.api('GET', '/api/v1/vms/ro-ide')).status, 404);
  });
});
