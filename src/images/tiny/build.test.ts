import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { isDroverError } from '../../shared/errors.js';
import { tinyImageDir } from '../../shared/paths.js';
import { loadTinyImage } from './build.js';
import { moduleName, parseModulesBuiltin, parseModulesDep, resolveModuleClosure } from './modules.js';
import { READY_LINE, type TinyDeviceModel, type TinyGuest, bootTinyGuest } from './smoke.js';

const FAKE_MODULES_DEP = `
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko.xz:
kernel/drivers/ata/ata_piix.ko: kernel/drivers/ata/libata.ko kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/drivers/ata/libata.ko: kernel/drivers/scsi/scsi_mod.ko kernel/drivers/scsi/scsi_common.ko
kernel/drivers/scsi/scsi_mod.ko: kernel/drivers/scsi/scsi_common.ko
kernel/drivers/scsi/scsi_common.ko:
kernel/drivers/char/hw_random/virtio-rng.ko.zst: kernel/drivers/virtio/virtio.ko
kernel/drivers/block/loop-broken.ko: kernel/drivers/block/missing.ko
`;

const index = {
  modules: parseModulesDep(FAKE_MODULES_DEP),
  builtin: parseModulesBuiltin('kernel/drivers/virtio/virtio.ko\n'),
};

test('module names drop the .ko suffix and compression, and read "-" as "_"', () => {
  assert.equal(moduleName('kernel/drivers/char/hw_random/virtio-rng.ko.zst'), 'virtio_rng');
  assert.equal(moduleName('kernel/fs/jbd2/jbd2.ko.xz'), 'jbd2');
  assert.equal(moduleName('crc32c-intel'), 'crc32c_intel');
});

test('the module closure lists every dependency before its users, once each', () => {
  const names = resolveModuleClosure(index, ['ata_piix', 'ext4', 'libata']).map((m) => m.name);
  assert.deepEqual(names, ['scsi_common', 'scsi_mod', 'libata', 'ata_piix', 'crc16', 'mbcache', 'jbd2', 'ext4']);
  const jbd2 = resolveModuleClosure(index, ['jbd2'])[0];
  assert.equal(jbd2?.path, 'kernel/fs/jbd2/jbd2.ko.xz');
});

test('built-in dependencies are skipped and requested names may use dashes', () => {
  const closure = resolveModuleClosure(index, ['virtio-rng']);
  assert.deepEqual(
    closure.map((m) => m.name),
    ['virtio_rng'],
  );
});

test('a missing required module fails with the module that needed it; a missing optional one is skipped', () => {
  assert.throws(
    () => resolveModuleClosure(index, ['loop_broken']),
    (err: unknown) => isDroverError(err, 'IMAGE_BUILD_FAILED') && /missing, needed by loop_broken/.test(err.message),
  );
  assert.throws(() => resolveModuleClosure(index, ['no_such_module']), /no_such_module/);
  assert.deepEqual(
    resolveModuleClosure(index, ['crc16'], ['no_such_module']).map((m) => m.name),
    ['crc16'],
  );
});

test('a dependency cycle is reported instead of recursing forever', () => {
  const cyclic = { modules: parseModulesDep('a.ko: b.ko\nb.ko: a.ko\n'), builtin: new Set<string>() };
  assert.throws(() => resolveModuleClosure(cyclic, ['a']), /cycle/);
});

// The boot tests need the built image (`drover image build tiny`); they are skipped without it.
const image = await loadTinyImage(tinyImageDir());
const skip = image ? false : `no tiny image in ${tinyImageDir()}`;

/** Runs `script` with the guest's /bin/sh through the agent and returns its output; fails on a non-zero exit. */
async function guestShell(guest: TinyGuest, script: string): Promise<string> {
  const { pid } = (await guest.agent('guest-exec', { path: '/bin/sh', arg: ['-c', script], 'capture-output': true })) as { pid: number };
  let status: { exited: boolean; exitcode?: number; 'out-data'?: string } = { exited: false };
  for (let tries = 0; !status.exited && tries < 100; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    status = (await guest.agent('guest-exec-status', { pid })) as typeof status;
  }
  const out = Buffer.from(status['out-data'] ?? '', 'base64').toString();
  assert.equal(status.exitcode, 0, `${script} exited ${String(status.exitcode)}: ${out}`);
  return out;
}

/** Modules each device model must load at boot, and ones it must not (the other model's drivers). */
const MODULES: Record<TinyDeviceModel, { loaded: string[]; absent: string[] }> = {
  virtio: { loaded: ['virtio_blk', 'virtio_net', 'virtio_console', 'button', 'bochs'], absent: ['ata_piix', 'e1000', 'sd_mod'] },
  emulated: { loaded: ['ata_piix', 'sd_mod', 'e1000', 'virtio_console', 'button', 'bochs'], absent: ['virtio_blk', 'virtio_net'] },
};

async function bootAndCheck(model: TinyDeviceModel, extra: 'powerdown' | 'exec'): Promise<void> {
  assert.ok(image);
  const guest = await bootTinyGuest(image, model);
  try {
    await guest.waitForSerial(READY_LINE, 45_000);
    const log = await readFile(guest.serialLog, 'utf8');
    assert.equal(log.split(READY_LINE).length - 1, 1, 'the ready line appears exactly once');
    assert.deepEqual(await guest.agent('guest-ping'), {});
    const interfaces = (await guest.agent('guest-network-get-interfaces')) as { name: string; 'ip-addresses'?: { 'ip-address': string }[] }[];
    const eth0 = interfaces.find((i) => i.name === 'eth0');
    assert.ok(eth0?.['ip-addresses']?.some((a) => a['ip-address'] === '10.0.2.15'), `eth0 has the slirp DHCP address: ${JSON.stringify(eth0)}`);
    // The display driver loads in the background after the agent starts; the display's console then shows tty1's shell.
    const display = await guestShell(guest, 'for i in $(seq 100); do [ -e /sys/class/graphics/fb0/name ] && break; usleep 100000; done; cat /sys/class/graphics/fb0/name /sys/class/tty/tty0/active');
    assert.match(display, /^bochs-drmdrmfb\ntty1\n$/);
    const modules = (await guestShell(guest, 'cat /proc/modules')).split('\n').map((line) => line.split(' ')[0]);
    for (const name of MODULES[model].loaded) assert.ok(modules.includes(name), `${model}: ${name} is loaded`);
    for (const name of MODULES[model].absent) assert.ok(!modules.includes(name), `${model}: ${name} is not loaded`);
    if (extra === 'exec') assert.equal(await guestShell(guest, 'echo hi'), 'hi\n');
    if (extra === 'powerdown') {
      await guest.qmp('system_powerdown');
      const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 20_000).unref());
      assert.equal(await Promise.race([guest.exited, timeout]), 0, 'QEMU exits after an ACPI power-down');
    }
  } finally {
    await guest.dispose();
  }
}

test('the image boots with virtio disk and NIC, loads only their drivers, answers the agent, and powers off on ACPI', { skip, timeout: 60_000 }, () =>
  bootAndCheck('virtio', 'powerdown'),
);

test('the image boots with an IDE disk and an e1000 NIC, loads only their drivers, and runs commands through the agent', { skip, timeout: 60_000 }, () =>
  bootAndCheck('emulated', 'exec'),
);
