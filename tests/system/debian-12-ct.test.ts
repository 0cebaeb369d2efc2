/**
 * The debian-12-ct container image, as `drover image build debian-12-ct` makes it: built in the machine's cache
 * (<cacheDir>/images/debian-12-ct), so a later run whose recipe has not changed checks the cached build. The first
 * build runs mmdebstrap against the Debian mirror and takes about a minute.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as qemuImg from '../../src/storage/qemu-img.js';
import { buildContainerImage } from '../../src/images/container/build.js';
import { DEBIAN_PACKAGES, MASKED_UNITS, debian12CtRecipe } from '../../src/images/container/debian-12-ct.js';
import { openImageFileSystem } from '../../src/images/container/inspect.js';
import { FREE_FRACTION } from '../../src/images/container/root.js';
import { builtImageDir } from '../../src/shared/paths.js';

const skip = process.getuid?.() === 0 ? false : 'building container images needs root';

test('debian-12-ct holds a Debian 12 root file system with systemd as init and an empty machine-id', { skip, timeout: 20 * 60_000 }, async () => {
  const image = await buildContainerImage(debian12CtRecipe, {
    outDir: builtImageDir('debian-12-ct'),
    onProgress: (step) => process.stderr.write(`debian-12-ct: ${step}\n`),
  });
  const { manifest } = image;
  assert.deepEqual(manifest.container, { init: ['/sbin/init'], stopSignal: 'SIGRTMIN+3' });
  for (const pkg of [...DEBIAN_PACKAGES, 'login', 'passwd', 'apt']) assert.ok(manifest.packages[pkg], `${pkg} is installed`);
  assert.match(manifest.packages['base-files'] ?? '', /^12\./, 'bookworm base-files');
  assert.ok(manifest.freeBytes >= FREE_FRACTION * manifest.diskVirtualSizeBytes, `${manifest.freeBytes} of ${manifest.diskVirtualSizeBytes} bytes free`);
  assert.equal((await qemuImg.info(image.disk)).format, 'qcow2');

  const root = await openImageFileSystem(image.disk);
  try {
    assert.equal((await root.stat('/sbin/init'))?.linkTarget, '/lib/systemd/systemd');
    const systemd = await root.stat('/lib/systemd/systemd');
    assert.equal(systemd?.type, 'regular');
    assert.equal(systemd.uid, 0);
    assert.equal((await root.stat('/etc/machine-id'))?.size, 0, 'an empty /etc/machine-id');
    assert.equal(await root.stat('/var/lib/dbus/machine-id'), null, "no D-Bus copy of the build's machine-id");
    assert.equal((await root.stat('/etc/resolv.conf'))?.size, 0, "no trace of the build host's resolver");
    assert.equal(await root.readText('/etc/hostname'), 'debian\n');
    assert.match(await root.readText('/usr/lib/os-release'), /^VERSION_CODENAME=bookworm$/m);
    assert.match(await root.readText('/etc/shadow'), /^root:[*!]/m, 'root is locked');
    assert.match(await root.readText('/etc/network/interfaces'), /^iface eth0 inet manual$/m);
    for (const unit of MASKED_UNITS) assert.equal((await root.stat(`/etc/systemd/system/${unit}`))?.linkTarget, '/dev/null', `${unit} is masked`);
    const consoleGetty = await root.stat('/etc/systemd/system/getty.target.wants/console-getty.service');
    assert.equal(consoleGetty?.linkTarget, '/lib/systemd/system/console-getty.service');
    assert.deepEqual(await root.list('/dev'), []);
    assert.ok((await root.list('/etc/apt/sources.list.d')).some((entry) => entry.name.endsWith('.sources')), 'apt has sources');
  } finally {
    await root.dispose();
  }
});
