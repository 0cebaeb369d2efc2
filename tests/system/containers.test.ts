/**
 * System containers on one host (real runc, tiny-ct and debian-12-ct images): limits that hold, walls that
 * hold, snapshots and clones, and a real init. Each containment test fails if its wall is missing.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { useAgent } from '../helpers/agent.js';
import { READY_TIMEOUT_MS, sh, shOk, type VmView } from '../helpers/vm.js';

interface ContainerView extends VmView {
  type: string;
  privileged?: boolean;
}

describe('system containers on one host (runc)', () => {
  const suite = useAgent();
  const create = async (name: string, body: Record<string, unknown> = {}) => {
    const res = await suite.agent.api<ContainerView>('POST', '/api/v1/vms', { name, type: 'container', image: 'tiny-ct', memoryMiB: 128, ...body });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  };
  const startReady = async (name: string) => {
    assert.equal((await suite.agent.api('POST', `/api/v1/vms/${name}/start`)).status, 200);
    const ready = await suite.agent.api<ContainerView>('POST', `/api/v1/vms/${name}/wait-ready`, { timeoutMs: READY_TIMEOUT_MS });
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    return ready.body;
  };
  const get = async (name: string) => (await suite.agent.api<ContainerView>('GET', `/api/v1/vms/${name}`)).body;
  const cgroup = (id: string, file: string) => fs.readFileSync(`/sys/fs/cgroup/${file.split('.')[0]}/drover-ct/${id}/${file}`, 'utf8').trim();

  test('a container image is refused for a VM and a VM image for a container, with a coded error', async () => {
    const asVm = await suite.agent.api<{ code: string }>('POST', '/api/v1/vms', { name: 'wrong1', image: 'tiny-ct' });
    assert.equal(asVm.status, 409);
    assert.equal(asVm.body.code, 'IMAGE_TYPE_MISMATCH');
    const asContainer = await suite.agent.api<{ code: string }>('POST', '/api/v1/vms', { name: 'wrong2', type: 'container', image: 'tiny' });
    assert.equal(asContainer.status, 409);
    assert.equal(asContainer.body.code, 'IMAGE_TYPE_MISMATCH');
    assert.equal((await suite.agent.api('GET', '/api/v1/vms/wrong1')).status, 404, 'nothing is left of a refused create');
  });

  test('unprivileged: root inside maps to its own host id range, its own hostname and machine-id', { timeout: 120_000 }, async () => {
    const a = await create('ct-a');
    await create('ct-b');
    assert.equal(a.type, 'container');
    const readyA = await startReady('ct-a');
    const readyB = await startReady('ct-b');
    const mapA = (await shOk(suite.agent, 'ct-a', 'cat /proc/self/uid_map')).trim().split(/\s+/).map(Number);
    const mapB = (await shOk(suite.agent, 'ct-b', 'cat /proc/self/uid_map')).trim().split(/\s+/).map(Number);
    assert.equal(mapA[0], 0);
    assert.ok((mapA[1] ?? 0) >= 65_536, `root maps to host id ${mapA[1]}, not root`);
    assert.notEqual(mapA[1], mapB[1], 'each container has its own range');
    assert.equal(fs.statSync(`/proc/${readyA.pid}`).uid, mapA[1], 'init runs as the mapped host id');
    assert.equal((await shOk(suite.agent, 'ct-a', 'hostname')).trim(), 'ct-a');
    assert.equal((await shOk(suite.agent, 'ct-b', 'hostname')).trim(), 'ct-b');
    assert.ok(readyB.pid);
    assert.equal(a.privileged ?? false, false);
  });

  test('containment: no core_pattern write, no block device, no new cgroup hierarchy, no release_agent', { timeout: 60_000 }, async () => {
    const corePattern = fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
    assert.notEqual((await sh(suite.agent, 'ct-a', 'echo "|/tmp/evil" > /proc/sys/kernel/core_pattern')).exitCode, 0);
    assert.equal(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), corePattern);
    assert.notEqual((await sh(suite.agent, 'ct-a', 'mknod /root/disk b 7 0')).exitCode, 0, 'mknod of a block device');
    const hostDisk = execFileSync('sh', ['-c', "lsblk -dn -o MAJ:MIN | head -1"]).toString().trim();
    const [major, minor] = hostDisk.split(':');
    // Even a node that exists (made on the host, in the container's own filesystem) opens to nothing: the device cgroup refuses.
    assert.notEqual((await sh(suite.agent, 'ct-a', `mknod /tmp/hd b ${major} ${minor} 2>/dev/null; head -c 1 /tmp/hd >/dev/null`)).exitCode, 0);
    assert.notEqual((await sh(suite.agent, 'ct-a', 'mkdir -p /root/cg && mount -t cgroup -o none,name=evil cgroup /root/cg')).exitCode, 0, 'a new named cgroup hierarchy');
    assert.notEqual((await sh(suite.agent, 'ct-a', 'unshare -Urm -C sh -c "mkdir -p /root/cg2 && mount -t cgroup -o none,name=evil2 cgroup /root/cg2"')).exitCode, 0, 'the same from a nested user namespace');
    // What it may mount is its own part of an existing hierarchy, which has no release_agent to write.
    const releaseAgent = await sh(suite.agent, 'ct-a', 'mkdir -p /root/cg3; mount -t cgroup -o memory cgroup /root/cg3 2>/dev/null; echo /evil > /root/cg3/release_agent');
    assert.notEqual(releaseAgent.exitCode, 0);
  });

  test("containment: the host's runc binary cannot be written from inside (the CVE-2019-5736 class)", { timeout: 120_000 }, async () => {
    const runcPath = execFileSync('sh', ['-c', 'command -v runc']).toString().trim();
    const before = crypto.createHash('sha256').update(fs.readFileSync(runcPath)).digest('hex');
    await shOk(suite.agent, 'ct-a', "printf '#!/proc/self/exe\\n' > /root/evil; chmod +x /root/evil");
    // Inside, something keeps trying to open for writing every executable it can see while runc enters.
    await shOk(suite.agent, 'ct-a', 'sh -c \'i=0; while [ $i -lt 300 ]; do for p in /proc/[0-9]*; do (echo pwn > $p/exe) 2>/dev/null && echo "WROTE $p"; done; i=$((i+1)); done\' > /root/attempts 2>&1 &');
    for (let i = 0; i < 10; i++) await sh(suite.agent, 'ct-a', '/root/evil').catch(() => undefined);
    await delay(2_000);
    const after = crypto.createHash('sha256').update(fs.readFileSync(runcPath)).digest('hex');
    assert.equal(after, before, 'the host runc binary is unchanged');
    assert.doesNotMatch(await shOk(suite.agent, 'ct-a', 'cat /root/attempts'), /WROTE/);
    await sh(suite.agent, 'ct-a', 'killall sh 2>/dev/null; true');
  });

  test('containment: a container cannot see or signal another container\'s processes', { timeout: 60_000 }, async () => {
    await shOk(suite.agent, 'ct-b', 'sleep 4321 >/dev/null 2>&1 &');
    const hostPid = Number(execFileSync('sh', ['-c', "pgrep -f 'sleep 4321' | head -1"]).toString().trim());
    assert.ok(hostPid > 0);
    // Every command line ct-a can see; the other container's sleep is not among them.
    const seen = (await shOk(suite.agent, 'ct-a', 'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null; echo; done')).split('\n');
    assert.ok(seen.length > 1);
    assert.ok(!seen.some((line) => line.startsWith('sleep 4321')), seen.join('\n'));
    assert.notEqual((await sh(suite.agent, 'ct-a', `kill -9 ${hostPid}`)).exitCode, 0);
    assert.ok(process.kill(hostPid, 0), 'the other container\'s process lives');
    await sh(suite.agent, 'ct-b', 'killall sleep; true');
  });

  test('limits: memory beyond the limit ends in an OOM inside; the container and the host carry on', { timeout: 60_000 }, async () => {
    const oom = await sh(suite.agent, 'ct-a', 'dd if=/dev/zero of=/dev/null bs=300M count=1');
    assert.equal(oom.exitCode, 137, `a 300 MiB buffer under a 128 MiB limit: ${JSON.stringify(oom)}`);
    const vm = await get('ct-a');
    assert.equal(vm.state, 'running');
    assert.equal((await shOk(suite.agent, 'ct-a', 'echo alive')).trim(), 'alive');
    assert.match(cgroup(vm.id, 'memory.oom_control'), /^oom_kill [1-9]/m, 'the OOM killer acted inside the container\'s memory cgroup');
  });

  test('limits: a fork bomb stops at the process limit, live-changed with vm set', { timeout: 120_000 }, async () => {
    const vm = await get('ct-b');
    const set = await suite.agent.api('PUT', '/api/v1/vms/ct-b/limits', { pidsLimit: 40 });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(cgroup(vm.id, 'pids.max'), '40');
    const bomb = await sh(suite.agent, 'ct-b', 'bomb() { bomb | bomb & }; (bomb) 2>/dev/null & sleep 3; echo started', 30_000);
    assert.match(bomb.stdout, /started/);
    assert.ok(Number(cgroup(vm.id, 'pids.current')) <= 40);
    assert.ok(Number(cgroup(vm.id, 'pids.events').split(' ')[1]) > 0, 'forks were refused');
    // The host is unharmed and the container is still reachable once the bomb is killed.
    assert.equal((await suite.agent.api('POST', '/api/v1/vms/ct-b/kill')).status, 200);
    await startReady('ct-b');
  });

  test('limits: a throttled disk holds its read and write rate', { timeout: 180_000 }, async () => {
    await create('ct-io', { diskThrottle: { bytesPerSecond: 4 * 1024 * 1024 } });
    await startReady('ct-io');
    let started = Date.now();
    await shOk(suite.agent, 'ct-io', 'dd if=/dev/zero of=/root/big bs=1M count=16 conv=fsync 2>/dev/null', 120_000);
    const writeRate = 16 / ((Date.now() - started) / 1000);
    execFileSync('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']);
    started = Date.now();
    await shOk(suite.agent, 'ct-io', 'dd if=/root/big of=/dev/null bs=1M 2>/dev/null', 120_000);
    const readRate = 16 / ((Date.now() - started) / 1000);
    assert.ok(writeRate < 4.6 && writeRate > 2, `write at ${writeRate.toFixed(2)} MiB/s under a 4 MiB/s cap`);
    assert.ok(readRate < 4.6 && readRate > 2, `read at ${readRate.toFixed(2)} MiB/s under a 4 MiB/s cap`);
    await suite.agent.api('POST', '/api/v1/vms/ct-io/kill');
  });

  test('snapshots and clones: linked and full clones of a stopped container give identical systems', { timeout: 180_000 }, async () => {
    await shOk(suite.agent, 'ct-a', 'echo v1 > /root/app; sync');
    assert.equal((await suite.agent.api('POST', '/api/v1/vms/ct-a/stop?timeoutMs=30000')).status, 200);
    for (const mode of ['linked', 'full']) {
      const cloned = await suite.agent.api<ContainerView>('POST', '/api/v1/vms/ct-a/clone', { name: `ct-${mode}`, mode });
      assert.equal(cloned.status, 201, JSON.stringify(cloned.body));
      assert.equal(cloned.body.type, 'container');
      await startReady(`ct-${mode}`);
      assert.equal((await shOk(suite.agent, `ct-${mode}`, 'cat /root/app')).trim(), 'v1');
      assert.equal((await shOk(suite.agent, `ct-${mode}`, 'hostname')).trim(), `ct-${mode}`);
      await suite.agent.api('POST', `/api/v1/vms/ct-${mode}/kill`);
    }
    const fileList = async (name: string) => shOk(suite.agent, name, 'find / -xdev -type f | sort | md5sum');
    await startReady('ct-a');
    await startReady('ct-linked');
    await startReady('ct-full');
    const sums = await Promise.all(['ct-a', 'ct-linked', 'ct-full'].map(fileList));
    assert.equal(new Set(sums).size, 1, `the same files in all three: ${sums.join(', ')}`);
  });

  test('disk quota: --disk sizes the root filesystem, and a write beyond it fails inside only', { timeout: 120_000 }, async () => {
    await create('ct-quota', { diskGiB: 1 });
    await startReady('ct-quota');
    const sizeKiB = Number((await shOk(suite.agent, 'ct-quota', "df -k / | tail -1 | awk '{print $2}'")).trim());
    assert.ok(sizeKiB > 900 * 1024 && sizeKiB <= 1024 * 1024, `root filesystem of ${sizeKiB} KiB for a 1 GiB disk`);
    const full = await sh(suite.agent, 'ct-quota', 'dd if=/dev/zero of=/root/fill bs=1M count=1200 2>&1; sync', 120_000);
    assert.match(full.stdout + full.stderr, /No space left on device/);
    assert.equal((await shOk(suite.agent, 'ct-quota', 'rm /root/fill; echo ok')).trim(), 'ok');
    await suite.agent.api('POST', '/api/v1/vms/ct-quota/kill');
  });

  test('privileged exists for admins and is flagged', { timeout: 60_000 }, async () => {
    const created = await create('ct-priv', { privileged: true });
    assert.equal(created.privileged, true);
    await startReady('ct-priv');
    assert.equal((await shOk(suite.agent, 'ct-priv', 'cat /proc/self/uid_map')).trim().split(/\s+/)[1], '0');
    await suite.agent.api('POST', '/api/v1/vms/ct-priv/kill');
  });
});
