import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildQemuArgs, runtimePaths, tapName } from './cmdline.js';
import type { VmSpec } from '../../vms/spec.js';
import { isDroverError } from '../../shared/errors.js';

const base: VmSpec = {
  id: 'abc',
  name: 'web',
  cpus: 2,
  memoryMiB: 512,
  devices: 'virtio',
  disks: [{ name: 'root', path: '/d/root.qcow2', throttle: { bytesPerSecond: 1048576, iops: 100 } }],
  nics: [{ mode: 'user', mac: '52:54:00:00:00:01', portForwards: [{ protocol: 'tcp', hostPort: 2222, guestPort: 22 }] }],
};
const paths = runtimePaths('/run/drover', 'abc');

/** The value following each occurrence of `flag`. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1] ?? ''] : []));
}

test('virtio model: virtio-blk with throttling, virtio-net with port forwards, guest agent on virtio-serial', () => {
  const args = buildQemuArgs(base, paths, 'tcg');
  assert.deepEqual(values(args, '-machine'), ['pc,accel=tcg']);
  assert.deepEqual(values(args, '-smp'), ['2']);
  assert.deepEqual(values(args, '-m'), ['512']);
  const drive = values(args, '-drive')[0] ?? '';
  assert.match(drive, /throttling\.bps-total=1048576/);
  assert.match(drive, /throttling\.iops-total=100/);
  const devices = values(args, '-device');
  assert.ok(devices.some((d) => d.startsWith('virtio-blk-pci,drive=drive-root')));
  assert.ok(devices.some((d) => d.startsWith('virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01')));
  assert.ok(devices.some((d) => d.includes('name=org.qemu.guest_agent.0')));
  assert.match(values(args, '-netdev')[0] ?? '', /hostfwd=tcp:127\.0\.0\.1:2222-:22/);
  assert.ok(values(args, '-sandbox')[0]?.startsWith('on'));
});

test('emulated model: IDE disk and e1000 NIC, guest agent still on virtio-serial', () => {
  const args = buildQemuArgs({ ...base, devices: 'emulated' }, paths, 'kvm');
  const devices = values(args, '-device');
  assert.ok(devices.some((d) => d.startsWith('ide-hd,drive=drive-root') && d.includes('bus=ide.0')));
  assert.ok(devices.some((d) => d.startsWith('e1000,')));
  assert.ok(!devices.some((d) => d.startsWith('virtio-blk') || d.startsWith('virtio-net')));
  assert.ok(devices.some((d) => d.includes('name=org.qemu.guest_agent.0')));
  assert.deepEqual(values(args, '-machine'), ['pc,accel=kvm']);
});

test('read-only disks: readonly=on for virtio, refused for IDE', () => {
  const ro: VmSpec = { ...base, disks: [...base.disks, { name: 'data', path: '/d/data.qcow2', readOnly: true }] };
  assert.match(values(buildQemuArgs(ro, paths, 'tcg'), '-drive')[1] ?? '', /readonly=on/);
  assert.throws(() => buildQemuArgs({ ...ro, devices: 'emulated' }, paths, 'tcg'), (e) => isDroverError(e, 'INVALID_ARGUMENT'));
});

test('bridged NICs use a tap named within 15 characters; commas in paths are escaped', () => {
  const spec: VmSpec = {
    ...base,
    id: '0123456789abcdef-long-id',
    disks: [{ name: 'root', path: '/d/a,b.qcow2' }],
    nics: [{ mode: 'bridge', mac: '52:54:00:00:00:02', bridge: 'br0' }],
  };
  const args = buildQemuArgs(spec, runtimePaths('/r', spec.id), 'tcg');
  const tap = tapName(spec.id, 0);
  assert.ok(tap.length <= 15);
  assert.equal(values(args, '-netdev')[0], `tap,id=net0,ifname=${tap},script=no,downscript=no`);
  assert.match(values(args, '-drive')[0] ?? '', /file=\/d\/a,,b\.qcow2/);
});

test('a runtime directory too long for unix sockets is refused up front', () => {
  assert.throws(() => runtimePaths(`/${'x'.repeat(100)}`, 'abc'), (e) => isDroverError(e, 'INVALID_ARGUMENT'));
});

test('an incoming migration target: the exact machine type, -incoming defer and -S; a machine type cannot smuggle options', () => {
  const args = buildQemuArgs(base, paths, 'tcg', { machineType: 'pc-i440fx-7.2', incoming: true });
  assert.deepEqual(values(args, '-machine'), ['pc-i440fx-7.2,accel=tcg']);
  assert.deepEqual(values(args, '-incoming'), ['defer']);
  assert.ok(args.includes('-S'));
  assert.ok(!buildQemuArgs(base, paths, 'tcg').includes('-incoming'));
  assert.throws(() => buildQemuArgs(base, paths, 'tcg', { machineType: 'pc,accel=kvm' }), (e) => isDroverError(e, 'INVALID_ARGUMENT'));
});

test('the VM\'s own CPU model goes to -cpu (qemu64 when it names none); a model cannot smuggle feature flags', () => {
  assert.deepEqual(values(buildQemuArgs(base, paths, 'tcg'), '-cpu'), ['qemu64']);
  assert.deepEqual(values(buildQemuArgs({ ...base, cpuModel: 'Nehalem' }, paths, 'tcg'), '-cpu'), ['Nehalem']);
  assert.deepEqual(values(buildQemuArgs({ ...base, cpuModel: 'Skylake-Server-v4' }, paths, 'kvm'), '-cpu'), ['Skylake-Server-v4']);
  assert.throws(() => buildQemuArgs({ ...base, cpuModel: 'qemu64,+vmx' }, paths, 'tcg'), (e) => isDroverError(e, 'INVALID_ARGUMENT'));
});

test('firmware: qboot for direct kernel boot, QEMU\'s default (SeaBIOS) for a disk with a bootloader', () => {
  const kernelBoot: VmSpec = { ...base, boot: { kernel: '/i/tiny.kernel', initrd: '/i/tiny.initrd', cmdline: 'console=ttyS0' } };
  assert.deepEqual(values(buildQemuArgs(kernelBoot, paths, 'tcg'), '-bios'), ['qboot.rom']);
  assert.deepEqual(values(buildQemuArgs(kernelBoot, paths, 'tcg'), '-kernel'), ['/i/tiny.kernel']);
  assert.deepEqual(values(buildQemuArgs(base, paths, 'tcg'), '-bios'), []);
});

test('an incoming migration target starts with the source\'s firmware, whatever Drover would pick; a name cannot smuggle options', () => {
  const kernelBoot: VmSpec = { ...base, boot: { kernel: '/i/tiny.kernel' } };
  const incoming = buildQemuArgs(kernelBoot, paths, 'tcg', { machineType: 'pc-i440fx-7.2', firmware: 'bios-256k.bin', incoming: true });
  assert.deepEqual(values(incoming, '-bios'), ['bios-256k.bin']);
  assert.deepEqual(values(buildQemuArgs(base, paths, 'tcg', { firmware: 'qboot.rom' }), '-bios'), ['qboot.rom']);
  for (const firmware of ['../../etc/passwd', '/usr/share/qemu/qboot.rom', 'a,b', '']) {
    assert.throws(() => buildQemuArgs(base, paths, 'tcg', { firmware }), (e) => isDroverError(e, 'INVALID_ARGUMENT'), firmware);
  }
});

test('free page reporting: a virtio balloon for virtio VMs that have it, none for emulated ones or older records', () => {
  const balloon = (spec: VmSpec) => values(buildQemuArgs(spec, paths, 'tcg'), '-device').filter((d) => d.startsWith('virtio-balloon'));
  assert.deepEqual(balloon({ ...base, freePageReporting: true }), ['virtio-balloon-pci,id=balloon0,free-page-reporting=on']);
  assert.deepEqual(balloon({ ...base, devices: 'emulated', freePageReporting: true, disks: [{ name: 'root', path: '/d/root.qcow2' }] }), []);
  assert.deepEqual(balloon(base), [], 'a record from before it was the default migrates with the devices it started with');
});
