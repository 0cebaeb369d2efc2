import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../shared/exec.js';
import { isDroverError, type ErrorCode } from '../shared/errors.js';
import * as qemuImg from '../storage/qemu-img.js';
import { ImageLibrary } from './library.js';

const MiB = 1024 * 1024;
let dir: string;
let sources: string;
let full: string;
const fixture: Record<'qcow2' | 'raw' | 'vmdk' | 'vhdx' | 'partitioned' | 'rootfs' | 'rootfsRaw', string> = {
  qcow2: '',
  raw: '',
  vmdk: '',
  vhdx: '',
  partitioned: '',
  rootfs: '',
  rootfsRaw: '',
};

const withCode = (code: ErrorCode) => (err: unknown) => {
  assert.ok(isDroverError(err), `expected a DroverError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return true;
};

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await fs.readFile(file)).digest('hex');
}

/** A library in a fresh directory, so every test sees exactly the files it made. */
async function newLibrary(): Promise<ImageLibrary> {
  return new ImageLibrary(path.join(await fs.mkdtemp(path.join(dir, 'data-')), 'images'));
}

async function filesIn(library: ImageLibrary): Promise<string[]> {
  return (await fs.readdir(library.dir).catch(() => [] as string[])).sort();
}

async function source(name: string, content: string | Buffer): Promise<string> {
  const file = path.join(sources, name);
  await fs.writeFile(file, content);
  return file;
}

/** An MBR-partitioned raw disk: partition 1 at 1 MiB holds an ext4 filesystem labelled "rootfs". */
async function partitionedDisk(file: string): Promise<void> {
  const mbr = Buffer.alloc(512);
  mbr[446 + 4] = 0x83;
  mbr.writeUInt32LE(2048, 446 + 8);
  mbr.writeUInt32LE(14336, 446 + 12);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  await fs.writeFile(file, mbr);
  await fs.truncate(file, 8 * MiB);
  await run('mkfs.ext4', ['-q', '-F', '-L', 'rootfs', '-E', `offset=${MiB}`, file, '7M']);
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-library-'));
  sources = path.join(dir, 'sources');
  full = path.join(dir, 'full');
  await fs.mkdir(sources);
  await fs.mkdir(full);
  await run('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', full]);
  fixture.qcow2 = path.join(sources, 'disk.qcow2');
  await qemuImg.create(fixture.qcow2, 16 * MiB);
  await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 0 64k', '-c', 'write -P 0xcd 5M 1M', fixture.qcow2]);
  for (const format of ['raw', 'vmdk', 'vhdx'] as const) {
    fixture[format] = path.join(sources, `disk.${format}`);
    await run('qemu-img', ['convert', '-f', 'qcow2', '-O', format, fixture.qcow2, fixture[format]]);
  }
  fixture.partitioned = path.join(sources, 'partitioned.raw');
  await partitionedDisk(fixture.partitioned);
  // A container image: a bare ext4 file system (no partition table) in a qcow2.
  fixture.rootfsRaw = path.join(sources, 'rootfs.raw');
  await run('mkfs.ext4', ['-q', '-F', '-L', 'rootfs', fixture.rootfsRaw, '8M']);
  fixture.rootfs = path.join(sources, 'rootfs.qcow2');
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', fixture.rootfsRaw, fixture.rootfs]);
});

after(async () => {
  await run('umount', [full], { allowFailure: true });
  await fs.rm(dir, { recursive: true, force: true });
});

test('imports qcow2, raw, vmdk and vhdx into qcow2 with the same content', async () => {
  const library = await newLibrary();
  for (const format of ['qcow2', 'raw', 'vmdk', 'vhdx'] as const) {
    const image = await library.import(fixture[format], { name: `disk-${format}`, osNotes: `from ${format}` });
    assert.equal(image.format, 'qcow2');
    assert.equal(image.type, 'vm');
    assert.equal(image.container, undefined);
    assert.equal(image.sourceFormat, format);
    assert.equal(image.virtualSizeBytes, 16 * MiB);
    assert.equal(image.sha256, await sha256(fixture[format]));
    assert.equal(image.osNotes, `from ${format}`);
    assert.equal(image.path, path.join(library.dir, `disk-${format}.qcow2`));
    const info = await qemuImg.info(image.path);
    assert.equal(info.format, 'qcow2');
    assert.equal(info.backingFile, undefined);
    assert.equal(image.actualSizeBytes, info.actualSizeBytes);
    assert.equal(await qemuImg.compare(image.path, fixture[format]), true, `${format} content survives`);
    assert.deepEqual(library.get(`disk-${format}`), image);
  }
  assert.deepEqual(library.list().map((i) => i.name), ['disk-qcow2', 'disk-raw', 'disk-vhdx', 'disk-vmdk']);
  assert.deepEqual(await filesIn(library), [
    'disk-qcow2.json', 'disk-qcow2.qcow2', 'disk-raw.json', 'disk-raw.qcow2',
    'disk-vhdx.json', 'disk-vhdx.qcow2', 'disk-vmdk.json', 'disk-vmdk.qcow2',
  ]);
  const stored = JSON.parse(await fs.readFile(path.join(library.dir, 'disk-raw.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(stored.path, undefined, 'the metadata file holds no absolute paths');
});

test('detects the partition table and filesystems and summarises them when no notes are given', async () => {
  const library = await newLibrary();
  const image = await library.import(fixture.partitioned, { name: 'linux' });
  assert.equal(image.detected.partitionTable, 'dos');
  assert.equal(image.detected.partitions.length, 1);
  assert.deepEqual(image.detected.partitions[0], {
    number: 1, startBytes: MiB, sizeBytes: 14336 * 512, typeCode: '0x83', filesystem: 'ext4', label: 'rootfs',
  });
  assert.equal(image.osNotes, 'dos partition table; 1: ext4 "rootfs"');
  const blank = await library.import(fixture.raw, { name: 'blank' });
  assert.deepEqual(blank.detected, { partitions: [] });
  assert.equal(blank.osNotes, '');
});

test('refuses files that are not importable images and leaves nothing behind', async () => {
  const library = await newLibrary();
  await library.import(fixture.qcow2, { name: 'keep' });
  const before = await filesIn(library);
  const truncated = path.join(sources, 'truncated.qcow2');
  await fs.copyFile(fixture.qcow2, truncated);
  await fs.truncate(truncated, 300_000);
  const badHeader = path.join(sources, 'bad-header.qcow2');
  await fs.copyFile(fixture.qcow2, badHeader);
  const handle = await fs.open(badHeader, 'r+');
  await handle.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]), 0, 8, 40); // L1 table offset
  await handle.close();
  const vdi = path.join(sources, 'disk.vdi');
  await run('qemu-img', ['create', '-q', '-f', 'vdi', vdi, '4M']);
  const overlay = path.join(sources, 'overlay.qcow2');
  await qemuImg.create(overlay, 16 * MiB, { backingFile: fixture.qcow2 });
  const evilVmdk = await source('evil.vmdk', '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 8 FLAT "/etc/hostname" 0\n');

  const cases: [string, string, ErrorCode, string?][] = [
    ['text file', await source('notes.txt', 'just some notes, not a disk\n'), 'IMAGE_INVALID'],
    ['text file of 1024 bytes', await source('aligned.txt', 'x'.repeat(1023) + '\n'), 'IMAGE_INVALID'],
    ['empty file', await source('empty.img', ''), 'IMAGE_INVALID'],
    ['empty file as raw', path.join(sources, 'empty.img'), 'IMAGE_INVALID', 'raw'],
    ['binary of 1000 bytes', await source('odd.bin', randomBytes(1000)), 'IMAGE_INVALID'],
    ['truncated qcow2', truncated, 'IMAGE_CORRUPT'],
    ['qcow2 with a bad L1 offset', badHeader, 'IMAGE_INVALID'],
    ['qcow2 read as vmdk', fixture.qcow2, 'IMAGE_INVALID', 'vmdk'],
    ['missing file', path.join(sources, 'missing.qcow2'), 'FILE_NOT_FOUND'],
    ['directory', sources, 'IMAGE_INVALID'],
    ['vdi', vdi, 'IMAGE_FORMAT_UNSUPPORTED'],
    ['unknown format name', fixture.raw, 'IMAGE_FORMAT_UNSUPPORTED', 'iso'],
    ['vmdk reading a host file', evilVmdk, 'IMAGE_FORMAT_UNSUPPORTED'],
    ['qcow2 with a backing file', overlay, 'IMAGE_FORMAT_UNSUPPORTED'],
  ];
  for (const [what, file, code, format] of cases) {
    await assert.rejects(library.import(file, { name: 'refused', ...(format ? { format } : {}) }), withCode(code), what);
    assert.deepEqual(await filesIn(library), before, `${what} left nothing behind`);
  }
  const odd = await library.import(path.join(sources, 'odd.bin'), { name: 'odd', format: 'raw' });
  assert.equal(odd.virtualSizeBytes, 1024, "an explicit 'raw' accepts any non-empty file, padded to a sector");
});

test('bad and duplicate names are refused before any work', async () => {
  const library = await newLibrary();
  for (const name of ['', 'UPPER', 'a/b', 'x'.repeat(70), '../x', '.hidden', 'a.json']) {
    await assert.rejects(library.import(fixture.qcow2, { name }), withCode('INVALID_NAME'), JSON.stringify(name));
  }
  await library.import(fixture.qcow2, { name: 'taken' });
  await assert.rejects(library.import(fixture.raw, { name: 'taken' }), withCode('IMAGE_EXISTS'));
  assert.equal(library.get('taken').sourceFormat, 'qcow2');
  assert.deepEqual(await filesIn(library), ['taken.json', 'taken.qcow2']);
});

test('two concurrent imports of one name: one wins, the other is IMAGE_EXISTS', async () => {
  const library = await newLibrary();
  const results = await Promise.allSettled([
    library.import(fixture.qcow2, { name: 'race' }),
    library.import(fixture.vmdk, { name: 'race' }),
  ]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const lost = results.find((r) => r.status === 'rejected');
  assert.ok(lost && withCode('IMAGE_EXISTS')(lost.reason));
  assert.deepEqual(await filesIn(library), ['race.json', 'race.qcow2']);
});

test('get, list and delete; an image in use is kept', async () => {
  const library = await newLibrary();
  assert.deepEqual(library.list(), [], 'a library whose directory does not exist yet is empty');
  assert.throws(() => library.get('nothing'), withCode('IMAGE_NOT_FOUND'));
  assert.throws(() => library.get('Bad'), withCode('INVALID_NAME'));
  const image = await library.import(fixture.qcow2, { name: 'base' });
  assert.equal(library.has('base'), true);
  assert.equal(library.has('../base'), false);
  let asked = '';
  const inUse = (diskPath: string) => ((asked = diskPath), true);
  await assert.rejects(library.delete('base', { isInUse: inUse }), withCode('IMAGE_IN_USE'));
  assert.equal(asked, image.path);
  assert.deepEqual(await filesIn(library), ['base.json', 'base.qcow2']);
  await library.delete('base', { isInUse: async () => false });
  assert.deepEqual(await filesIn(library), []);
  assert.equal(library.has('base'), false);
  await assert.rejects(library.delete('base'), withCode('IMAGE_NOT_FOUND'));
});

test('damaged metadata and leftover temp files are not listed', async () => {
  const library = await newLibrary();
  await library.import(fixture.qcow2, { name: 'good' });
  await fs.writeFile(path.join(library.dir, 'broken.json'), '{');
  await fs.writeFile(path.join(library.dir, 'crashed.qcow2.tmp-0123456789ab'), 'partial');
  assert.deepEqual(library.list().map((i) => i.name), ['good']);
  assert.throws(() => library.get('broken'), withCode('STORAGE_ERROR'));
});

test('registerBuilt copies disk, kernel and initrd in, and is idempotent for the same build', async () => {
  const library = await newLibrary();
  const kernel = await source('vmlinuz', randomBytes(4096));
  const initrd = await source('initrd.img', randomBytes(8192));
  const built = { disk: fixture.qcow2, kernel, initrd, cmdline: 'console=ttyS0', osNotes: 'tiny test guest' };
  const image = await library.registerBuilt('tiny', built);
  assert.equal(image.type, 'vm');
  assert.equal(image.sha256, await sha256(fixture.qcow2));
  assert.equal(image.osNotes, 'tiny test guest');
  assert.deepEqual(image.boot, {
    kernel: path.join(library.dir, 'tiny.kernel'),
    initrd: path.join(library.dir, 'tiny.initrd'),
    cmdline: 'console=ttyS0',
  });
  assert.deepEqual(await fs.readFile(image.boot?.kernel ?? ''), await fs.readFile(kernel));
  assert.equal(await qemuImg.compare(image.path, fixture.qcow2), true);
  assert.deepEqual(await library.registerBuilt('tiny', built), image, 'the same build again changes nothing');
  await assert.rejects(library.registerBuilt('tiny', { ...built, cmdline: 'quiet' }), withCode('IMAGE_EXISTS'));
  await assert.rejects(library.registerBuilt('tiny', { ...built, disk: fixture.raw }), withCode('IMAGE_EXISTS'));
  assert.deepEqual(await filesIn(library), ['tiny.initrd', 'tiny.json', 'tiny.kernel', 'tiny.qcow2']);
  await library.delete('tiny');
  assert.deepEqual(await filesIn(library), []);
});

const systemd = { init: ['/sbin/init'], stopSignal: 'SIGRTMIN+3' };

test('registerBuiltContainer records a container image with its init and stop signal, idempotently', async () => {
  const library = await newLibrary();
  const built = { disk: fixture.rootfs, osNotes: 'a root file system', container: systemd };
  const image = await library.registerBuiltContainer('debian', built);
  assert.equal(image.type, 'container');
  assert.deepEqual(image.container, systemd);
  assert.equal(image.boot, undefined);
  assert.equal(image.sha256, await sha256(fixture.rootfs));
  assert.equal(image.sourceFormat, 'qcow2');
  assert.deepEqual(image.detected, { filesystem: 'ext4', label: 'rootfs', partitions: [] });
  assert.equal(await qemuImg.compare(image.path, fixture.rootfs), true);
  assert.deepEqual(library.get('debian'), image);
  assert.deepEqual(library.list(), [image]);
  const stored = JSON.parse(await fs.readFile(path.join(library.dir, 'debian.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(stored.type, 'container');
  assert.deepEqual(stored.container, systemd);

  assert.deepEqual(await library.registerBuiltContainer('debian', built), image, 'the same build again changes nothing');
  const busybox = { init: ['/sbin/init'], stopSignal: 'SIGUSR2' };
  await assert.rejects(library.registerBuiltContainer('debian', { ...built, container: busybox }), withCode('IMAGE_EXISTS'));
  await assert.rejects(library.registerBuiltContainer('debian', { ...built, disk: fixture.rootfsRaw }), withCode('IMAGE_EXISTS'), 'another disk');
  const kernel = await source('vmlinuz-ct', randomBytes(4096));
  const asVm = { disk: fixture.rootfs, kernel, initrd: kernel, cmdline: '', osNotes: '' };
  await assert.rejects(library.registerBuilt('debian', asVm), withCode('IMAGE_EXISTS'), 'a VM build under the name of a container image');
  assert.deepEqual(await filesIn(library), ['debian.json', 'debian.qcow2']);

  // A raw disk is converted; a VM image under the name is refused the other way round too.
  const fromRaw = await library.registerBuiltContainer('from-raw', { ...built, disk: fixture.rootfsRaw, container: busybox });
  assert.equal(fromRaw.sourceFormat, 'raw');
  assert.equal((await qemuImg.info(fromRaw.path)).format, 'qcow2');
  await library.import(fixture.qcow2, { name: 'plain-vm' });
  await assert.rejects(library.registerBuiltContainer('plain-vm', built), withCode('IMAGE_EXISTS'));
});

test('registerBuiltContainer refuses disks that are not a bare ext4 file system, and bad settings', async () => {
  const library = await newLibrary();
  const container = systemd;
  await assert.rejects(library.registerBuiltContainer('parted', { disk: fixture.partitioned, osNotes: '', container }), withCode('IMAGE_INVALID'), 'partitioned');
  await assert.rejects(library.registerBuiltContainer('blank', { disk: fixture.qcow2, osNotes: '', container }), withCode('IMAGE_INVALID'), 'no file system');
  await assert.rejects(library.registerBuiltContainer('gone', { disk: path.join(sources, 'missing.qcow2'), osNotes: '', container }), withCode('FILE_NOT_FOUND'));
  for (const bad of [{ init: [], stopSignal: 'SIGUSR2' }, { init: [''], stopSignal: 'SIGUSR2' }, { init: ['/sbin/init'], stopSignal: 'poweroff' }]) {
    await assert.rejects(library.registerBuiltContainer('bad', { disk: fixture.rootfs, osNotes: '', container: bad }), withCode('INVALID_ARGUMENT'), JSON.stringify(bad));
  }
  assert.deepEqual(await filesIn(library), []);
});

test('metadata from before container images reads as a VM image; a container image without settings is damaged', async () => {
  const library = await newLibrary();
  await library.import(fixture.qcow2, { name: 'old' });
  const metaPath = path.join(library.dir, 'old.json');
  const { type, ...old } = JSON.parse(await fs.readFile(metaPath, 'utf8')) as Record<string, unknown>;
  assert.equal(type, 'vm');
  await fs.writeFile(metaPath, JSON.stringify(old));
  assert.equal(library.get('old').type, 'vm');
  assert.deepEqual(library.list().map((i) => [i.name, i.type]), [['old', 'vm']]);

  await fs.writeFile(metaPath, JSON.stringify({ ...old, type: 'container' }));
  assert.throws(() => library.get('old'), withCode('STORAGE_ERROR'));
  await fs.writeFile(metaPath, JSON.stringify({ ...old, type: 'lxc', container: systemd }));
  assert.throws(() => library.get('old'), withCode('STORAGE_ERROR'));
  await fs.writeFile(metaPath, JSON.stringify({ ...old, type: 'vm', container: systemd }));
  assert.throws(() => library.get('old'), withCode('STORAGE_ERROR'), 'container settings on a VM image');
  assert.deepEqual(library.list(), []);
});

test('a full disk is NO_SPACE and leaves the library directory empty', async () => {
  const library = new ImageLibrary(full);
  const big = await source('big.raw', randomBytes(20 * MiB));
  await assert.rejects(library.import(big, { name: 'big' }), withCode('NO_SPACE'));
  assert.deepEqual(await fs.readdir(full), [], 'refused before writing');

  // The disk fits, the kernel does not: the copy fails part-way and the already written disk must go too.
  const kernel = await source('huge-kernel', randomBytes(20 * MiB));
  const initrd = await source('small-initrd', randomBytes(4096));
  const built = { disk: fixture.qcow2, kernel, initrd, cmdline: '', osNotes: '' };
  await assert.rejects(library.registerBuilt('tiny', built), withCode('NO_SPACE'));
  assert.deepEqual(await fs.readdir(full), [], 'rolled back after writing');
  assert.deepEqual(library.list(), []);
});
