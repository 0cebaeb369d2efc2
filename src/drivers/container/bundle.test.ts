import { test } from 'node:test';
import assert from 'node:assert/strict';
import { capabilitiesIn, containerResources, ociConfig, signalNumber } from './bundle.js';
import type { VmSpec } from '../../vms/spec.js';

const spec: VmSpec = {
  id: '0a1b2c3d-0000-4000-8000-000000000001',
  name: 'c1',
  type: 'container',
  container: { init: ['/sbin/init'], stopSignal: 'SIGRTMIN+3', pidsLimit: 64, swapMiB: 32 },
  cpus: 2,
  memoryMiB: 128,
  devices: 'virtio',
  disks: [{ name: 'root', path: '/pool/c1/root.qcow2', throttle: { bytesPerSecond: 4 * 1024 * 1024, iops: 100 } }],
  nics: [],
};
const ctx = { rootfs: '/run/drover/rootfs/c1', idBase: 1_000_065_536, cgroupsPath: '/drover-ct/c1', rootDevice: { major: 7, minor: 3 } };

test('stop signals by name, SIGRTMIN counted as glibc does; an unknown name is refused', () => {
  assert.equal(signalNumber('SIGRTMIN+3'), 37);
  assert.equal(signalNumber('SIGUSR2'), 12);
  assert.throws(() => signalNumber('SIGBOGUS'), /unknown stop signal/);
});

test('capability masks read as /proc/PID/status shows them', () => {
  const names = capabilitiesIn('000001fffeffffff');
  assert.ok(names.includes('CAP_SYS_ADMIN'));
  assert.ok(!names.includes('CAP_SYS_RESOURCE'), 'bit 24 is clear in that mask');
  assert.equal(capabilitiesIn('0').length, 0);
});

test('an unprivileged container: its own user namespace and id range, init with a console, the limits of its spec', () => {
  const config = ociConfig(spec, ctx) as {
    process: { args: string[]; terminal: boolean; env: string[]; capabilities: { bounding: string[] } };
    hostname: string;
    linux: { uidMappings: unknown[]; namespaces: Array<{ type: string }>; resources: Record<string, unknown>; readonlyPaths: string[] };
    mounts: Array<{ destination: string; options?: string[] }>;
  };
  assert.deepEqual(config.process.args, ['/sbin/init']);
  assert.equal(config.process.terminal, true);
  assert.equal(config.hostname, 'c1');
  assert.ok(config.process.env.includes('container_uuid=0a1b2c3d000040008000000000000001'));
  assert.deepEqual(config.linux.uidMappings, [{ containerID: 0, hostID: 1_000_065_536, size: 65_536 }]);
  assert.ok(config.linux.namespaces.some((n) => n.type === 'user'));
  assert.ok(config.linux.readonlyPaths.includes('/proc/sys'));
  const cgroupMount = config.mounts.find((m) => m.destination === '/sys/fs/cgroup');
  assert.ok(cgroupMount?.options?.includes('rw'), 'systemd needs its own writable hierarchy');
});

test('a privileged container has no user namespace; capabilities are limited to what the host grants', () => {
  const { idBase: _idBase, ...rest } = ctx;
  const config = ociConfig({ ...spec, container: { ...spec.container!, privileged: true } }, { ...rest, grantable: ['CAP_CHOWN', 'CAP_KILL'] }) as {
    process: { capabilities: { bounding: string[] } };
    linux: { uidMappings?: unknown; namespaces: Array<{ type: string }> };
  };
  assert.equal(config.linux.uidMappings, undefined);
  assert.ok(!config.linux.namespaces.some((n) => n.type === 'user'));
  assert.deepEqual(config.process.capabilities.bounding, ['CAP_CHOWN', 'CAP_KILL']);
});

test('resources: memory and swap, a CPU quota of its CPU count, processes, disk I/O on the loop device, no block devices', () => {
  const resources = containerResources(spec, ctx.rootDevice) as {
    memory: { limit: number; swap: number };
    cpu: { quota: number; period: number };
    pids: { limit: number };
    blockIO: { throttleReadBpsDevice: unknown[]; throttleWriteIOPSDevice: unknown[] };
    devices: Array<{ allow: boolean; type?: string }>;
  };
  assert.deepEqual(resources.memory, { limit: 128 * 2 ** 20, swap: 160 * 2 ** 20 });
  assert.equal(resources.cpu.quota / resources.cpu.period, 2);
  assert.equal(resources.pids.limit, 64);
  assert.deepEqual(resources.blockIO.throttleReadBpsDevice, [{ major: 7, minor: 3, rate: 4 * 1024 * 1024 }]);
  assert.deepEqual(resources.blockIO.throttleWriteIOPSDevice, [{ major: 7, minor: 3, rate: 100 }]);
  assert.equal(resources.devices[0]?.allow, false);
  assert.ok(!resources.devices.some((d) => d.allow && d.type === 'b'), 'no block device is allowed');
  const capped = containerResources({ ...spec, cpuLimitPercent: 50 }, ctx.rootDevice) as { cpu: { quota: number; period: number } };
  assert.equal(capped.cpu.quota / capped.cpu.period, 0.5);
});
