/**
 * The debian-12-ct container image, as `drover image build debian-12-ct` makes it: built in the machine's cache
 * (<cacheDir>/images/debian-12-ct), so a later run whose recipe has not changed checks the cached build. The first
 * build runs mmdebstrap against the Debian mirror and takes about a minute.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as qemuImg from '../../src/storage/qemu-img.js';
import { buildContainerImage } from '../../src/images/container/build.js';
import { DEBIAN_PACKAGES, MASKED_UNITS, debian12CtRecipe } from '../../src/images/container/debian-12-ct.js';
import { openImageFileSystem } from '../../src/images/container/inspect.js';
import { FREE_FRACTION } from '../../src/images/container/root.js';
import { builtImageDir } from '../../src/shared/paths.js';
import { useAgent } from '../helpers/agent.js';
import { READY_TIMEOUT_MS, eventually, sh, shOk, type VmView } from '../helpers/vm.js';

interface ContainerView extends VmView {
  type: string;
}

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

// After the build above: the agent registers the built image when it starts.
describe('a Debian 12 system container with systemd (debian-12-ct)', () => {
  const suite = useAgent();

  test('systemd runs as PID 1 and reaches running or degraded; it has its own machine-id', { timeout: 600_000 }, async () => {
    for (const name of ['deb1', 'deb2']) {
      const res = await suite.agent.api<ContainerView>('POST', '/api/v1/vms', { name, type: 'container', image: 'debian-12-ct', memoryMiB: 256 });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal((await suite.agent.api('POST', `/api/v1/vms/${name}/start`)).status, 200);
    }
    for (const name of ['deb1', 'deb2']) {
      const ready = await suite.agent.api('POST', `/api/v1/vms/${name}/wait-ready`, { timeoutMs: READY_TIMEOUT_MS });
      assert.equal(ready.status, 200);
      const state = await eventually(async () => {
        const out = (await sh(suite.agent, name, 'systemctl is-system-running')).stdout.trim();
        assert.match(out, /^(running|degraded)$/);
        return out;
      }, 120_000, 1_000);
      assert.ok(state);
      assert.equal((await shOk(suite.agent, name, 'cat /proc/1/comm')).trim(), 'systemd');
      assert.equal((await shOk(suite.agent, name, 'hostname')).trim(), name);
    }
    const ids = await Promise.all(['deb1', 'deb2'].map(async (n) => (await shOk(suite.agent, n, 'cat /etc/machine-id')).trim()));
    assert.match(ids[0] ?? '', /^[0-9a-f]{32}$/);
    assert.notEqual(ids[0], ids[1]);
    // A clean stop goes through systemd's shutdown, and is not a crash.
    const stopped = await suite.agent.api<ContainerView>('POST', '/api/v1/vms/deb1/stop?timeoutMs=60000');
    assert.equal(stopped.body.state, 'stopped');
    assert.match(String((await suite.agent.api('GET', '/api/v1/vms/deb1/console/log')).body), /Reached target|Power-Off|System Power Off|login:/);
  });
});
