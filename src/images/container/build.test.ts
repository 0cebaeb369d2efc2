import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../shared/exec.js';
import * as qemuImg from '../../storage/qemu-img.js';
import { ImageLibrary } from '../library.js';
import { BUSYBOX_BINARY } from '../tiny/packages.js';
import { buildContainerImage, loadContainerImage } from './build.js';
import { hostDebianSources } from './debian-12-ct.js';
import { openImageFileSystem } from './inspect.js';
import { FREE_FRACTION, MIN_DISK_BYTES, superblock } from './root.js';
import { tinyCtRecipe } from './tiny-ct.js';

const skip = process.getuid?.() === 0 ? false : 'building container images needs root';

test('tiny-ct builds a qcow2 holding a bare ext4 root file system with busybox init, and is cached', { skip, timeout: 60_000 }, async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-tiny-ct-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const outDir = path.join(dir, 'tiny-ct');
  const steps: string[] = [];
  const image = await buildContainerImage(tinyCtRecipe, { outDir, onProgress: (step) => steps.push(step) });
  assert.ok(steps.includes('make root disk'), steps.join(', '));
  assert.equal(image.disk, path.join(outDir, 'root.qcow2'));
  assert.deepEqual(image.manifest.container, { init: ['/sbin/init'], stopSignal: 'SIGUSR2' });
  assert.deepEqual(Object.keys(image.manifest.packages), ['busybox-static']);

  const info = await qemuImg.info(image.disk);
  assert.equal(info.format, 'qcow2');
  assert.equal(info.backingFile, undefined);
  assert.equal(info.virtualSizeBytes, MIN_DISK_BYTES, 'a small tree gets the 64 MiB minimum');
  assert.equal(image.manifest.diskVirtualSizeBytes, info.virtualSizeBytes);

  const raw = path.join(dir, 'root.raw');
  await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', image.disk, raw]);
  const probe = await run('blkid', ['-p', '-o', 'export', raw]);
  assert.match(probe.stdout, /^TYPE=ext4$/m);
  assert.match(probe.stdout, /^LABEL=rootfs$/m);
  assert.doesNotMatch(probe.stdout, /^PTTYPE=/m, 'no partition table');
  const { blockCount, freeBlocks, blockSize } = await superblock(raw);
  assert.ok(freeBlocks / blockCount >= FREE_FRACTION, `${freeBlocks} of ${blockCount} blocks free`);
  assert.equal(image.manifest.freeBytes, freeBlocks * blockSize);

  const root = await openImageFileSystem(raw, 'raw');
  try {
    const init = await root.stat('/sbin/init');
    assert.equal(init?.type, 'symlink');
    assert.equal(init.linkTarget, '/bin/busybox');
    const busybox = await root.stat('/bin/busybox');
    assert.equal(busybox?.type, 'regular');
    assert.equal(busybox.size, (await fs.stat(BUSYBOX_BINARY)).size);
    assert.equal(busybox.mode, 0o755);
    assert.equal((await root.stat('/bin/sh'))?.linkTarget, '/bin/busybox');
    assert.equal((await root.stat('/etc/init.d/rcS'))?.mode, 0o755);
    assert.match(await root.readText('/etc/inittab'), /^::sysinit:\/etc\/init\.d\/rcS$/m);
    assert.equal((await root.stat('/etc/machine-id'))?.size, 0, 'an empty /etc/machine-id');
    assert.equal((await root.stat('/etc/resolv.conf'))?.size, 0);
    assert.equal(await root.readText('/etc/hostname'), 'tiny-ct\n');
    assert.match(await root.readText('/etc/passwd'), /^root:x:0:0:/m);
    assert.match(await root.readText('/etc/group'), /^root:x:0:/m);
    assert.equal((await root.stat('/tmp'))?.mode, 0o1777);
    assert.equal((await root.stat('/root'))?.mode, 0o700);
    for (const directory of ['/run', '/var', '/proc', '/sys', '/dev']) assert.equal((await root.stat(directory))?.type, 'directory', directory);
    assert.deepEqual(await root.list('/dev'), [], 'the runtime mounts its own /dev');
    const owners = new Set((await root.list('/etc')).map((entry) => `${entry.uid}:${entry.gid}`));
    assert.deepEqual([...owners], ['0:0'], 'files are owned by root, as in a normal root file system');
    assert.equal(await root.stat('/no/such/file'), null);
  } finally {
    await root.dispose();
  }

  const diskStat = await fs.stat(image.disk);
  const again = await buildContainerImage(tinyCtRecipe, { outDir });
  assert.deepEqual(again, image, 'the same inputs give the cached image');
  assert.equal((await fs.stat(image.disk)).mtimeMs, diskStat.mtimeMs, 'the cached disk was not rewritten');
  assert.deepEqual(await loadContainerImage(outDir), image);

  const rebuilt = await buildContainerImage(tinyCtRecipe, { outDir, force: true });
  assert.notEqual(rebuilt.manifest.builtAt, image.manifest.builtAt, '--force rebuilds');
  assert.equal(rebuilt.manifest.inputsHash, image.manifest.inputsHash);
  assert.deepEqual((await fs.readdir(dir)).sort(), ['root.raw', 'tiny-ct'], 'no build or lock files are left beside the image');

  // The library takes the build as a container image.
  const library = new ImageLibrary(path.join(dir, 'library'));
  const registered = await library.registerBuiltContainer('tiny-ct', { disk: rebuilt.disk, osNotes: rebuilt.manifest.osNotes, container: rebuilt.manifest.container });
  assert.equal(registered.type, 'container');
  assert.deepEqual(registered.detected, { filesystem: 'ext4', label: 'rootfs', partitions: [] });
  assert.equal(registered.sha256, createHash('sha256').update(await fs.readFile(rebuilt.disk)).digest('hex'));
});

test("a build killed with the host's file systems mounted in its root directory is cleaned up without touching them", { skip, timeout: 60_000 }, async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-ct-abandoned-'));
  const precious = path.join(dir, 'precious');
  // A pid above the kernel's limit (2^22) never runs, so the build directory reads as abandoned.
  const abandonedRoot = path.join(dir, 'tiny-ct.build-4194305-1', 'work', 'rootfs');
  const mountPoint = path.join(abandonedRoot, 'dev', 'null');
  t.after(async () => {
    await run('umount', [mountPoint], { allowFailure: true });
    await fs.rm(dir, { recursive: true, force: true });
  });
  await fs.mkdir(precious);
  await fs.writeFile(path.join(precious, 'keep'), 'host data');
  await fs.mkdir(mountPoint, { recursive: true });
  await run('mount', ['--bind', precious, mountPoint]);

  await buildContainerImage(tinyCtRecipe, { outDir: path.join(dir, 'tiny-ct') });
  assert.deepEqual((await fs.readdir(dir)).sort(), ['precious', 'tiny-ct']);
  assert.equal(await fs.readFile(path.join(precious, 'keep'), 'utf8'), 'host data');
  assert.ok(!(await fs.readFile('/proc/self/mountinfo', 'utf8')).includes(dir), 'nothing stays mounted');
});

test('a missing or damaged manifest reads as no image', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-ct-manifest-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  assert.equal(await loadContainerImage(dir), null);
  await fs.writeFile(path.join(dir, 'manifest.json'), '{"recipe": "tiny-ct"}');
  await fs.writeFile(path.join(dir, 'root.qcow2'), 'x');
  assert.equal(await loadContainerImage(dir), null);
});

test("the Debian recipe takes only the host's bookworm stanzas from Debian's archive", async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-sources-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  assert.equal(await hostDebianSources(dir), null, 'no sources: mmdebstrap picks its default mirror');
  const debian = [
    'Types: deb\n# a comment\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    'Types: deb\nURIs: http://security.debian.org/debian-security\nSuites: bookworm-security\nComponents: main',
  ];
  const others = [
    'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main',
    'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main',
    'Types: deb\nURIs: https://download.example.com/linux/debian\nSuites: bookworm\nComponents: stable\nSigned-By: /etc/apt/keyrings/example.gpg',
    'Types: deb\nURIs: https://other.example.com/debian\nSuites: bookworm\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n -----END PGP PUBLIC KEY BLOCK-----',
    'Types: deb\nEnabled: no\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main',
  ];
  await fs.writeFile(path.join(dir, 'debian.sources'), `${debian[0]}\n\n${others[0]}\n\n${others[1]}\n`);
  await fs.writeFile(path.join(dir, 'security.sources'), `${debian[1]}\n`);
  await fs.writeFile(path.join(dir, 'vendor.sources'), `${others[2]}\n\n${others[3]}\n\n${others[4]}\n`);
  await fs.writeFile(path.join(dir, 'old.list'), 'deb http://deb.debian.org/debian bookworm main\n');
  assert.equal(await hostDebianSources(dir), `${debian.join('\n\n')}\n`);
});
