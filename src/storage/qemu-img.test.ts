import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../shared/exec.js';
import { isDroverError, type ErrorCode } from '../shared/errors.js';
import * as qemuImg from './qemu-img.js';

const MiB = 1024 * 1024;
let dir: string;
let full: string;

const withCode = (code: ErrorCode) => (err: unknown) => {
  assert.ok(isDroverError(err), `expected a DroverError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return true;
};

/** Holds an image open read-write, like a running VM would, until the returned process is killed. */
async function holdOpen(image: string): Promise<ChildProcess> {
  const child = spawn('qemu-io', ['-f', 'qcow2', image], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('qemu-io>') && resolve());
    child.on('exit', () => reject(new Error('qemu-io exited before opening the image')));
  });
  return child;
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-qemu-img-'));
  full = path.join(dir, 'full');
  await fs.mkdir(full);
  await run('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', full]);
});

after(async () => {
  await run('umount', [full], { allowFailure: true });
  await fs.rm(dir, { recursive: true, force: true });
});

test('create and info describe a qcow2 image', async () => {
  const image = path.join(dir, 'plain.qcow2');
  await qemuImg.create(image, 16 * MiB);
  const info = await qemuImg.info(image);
  assert.equal(info.format, 'qcow2');
  assert.equal(info.virtualSizeBytes, 16 * MiB);
  assert.ok(info.actualSizeBytes > 0);
  assert.deepEqual(info.snapshots, []);
  assert.equal(info.corrupt, false);
  assert.equal(info.backingFile, undefined);
  assert.deepEqual(info.externalFiles, []);
});

test('info records a backing file and lists it among the external files', async () => {
  const base = path.join(dir, 'base.qcow2');
  const overlay = path.join(dir, 'overlay.qcow2');
  await qemuImg.create(base, 8 * MiB);
  await qemuImg.create(overlay, 8 * MiB, { backingFile: base, backingFormat: 'qcow2' });
  const info = await qemuImg.info(overlay);
  assert.equal(info.backingFile, base);
  assert.equal(info.backingFormat, 'qcow2');
  assert.deepEqual(info.externalFiles, [base]);
});

test('a VMDK descriptor pointing at a host file exposes it as an external file', async () => {
  const descriptor = path.join(dir, 'evil.vmdk');
  const text = '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 8 FLAT "/etc/hostname" 0\n';
  await fs.writeFile(descriptor, text);
  const info = await qemuImg.info(descriptor);
  assert.equal(info.format, 'vmdk');
  assert.deepEqual(info.externalFiles, ['/etc/hostname']);
  // A single-file sparse VMDK names only itself.
  const sparse = path.join(dir, 'sparse.vmdk');
  await run('qemu-img', ['create', '-q', '-f', 'vmdk', sparse, '4M']);
  assert.deepEqual((await qemuImg.info(sparse)).externalFiles, []);
});

test('qemu-img probes a text file as a 512-byte raw image (why the library refuses it itself)', async () => {
  const text = path.join(dir, 'notes.txt');
  await fs.writeFile(text, 'hello, not a disk\n');
  const info = await qemuImg.info(text);
  assert.equal(info.format, 'raw');
  assert.equal(info.virtualSizeBytes, 512);
});

test('info on a missing file is FILE_NOT_FOUND', async () => {
  await assert.rejects(qemuImg.info(path.join(dir, 'nope.qcow2')), withCode('FILE_NOT_FOUND'));
});

test('check passes a clean image, reports raw as unsupported, and refuses damaged qcow2', async () => {
  const image = path.join(dir, 'check.qcow2');
  await qemuImg.create(image, 16 * MiB);
  await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 0 2M', image]);
  assert.deepEqual(await qemuImg.check(image), { format: 'qcow2', supported: true, leakedClusters: 0 });

  const rawImage = path.join(dir, 'check.raw');
  await fs.writeFile(rawImage, Buffer.alloc(MiB));
  assert.equal((await qemuImg.check(rawImage, { format: 'raw' })).supported, false);

  const truncated = path.join(dir, 'truncated.qcow2');
  await fs.copyFile(image, truncated);
  await fs.truncate(truncated, 300_000);
  await assert.rejects(qemuImg.check(truncated), withCode('IMAGE_CORRUPT'));

  // Bytes 40..47 of the qcow2 header hold the L1 table offset; an absurd one makes the image unopenable.
  const badHeader = path.join(dir, 'bad-header.qcow2');
  await fs.copyFile(image, badHeader);
  const handle = await fs.open(badHeader, 'r+');
  await handle.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]), 0, 8, 40);
  await handle.close();
  await assert.rejects(qemuImg.check(badHeader), withCode('IMAGE_INVALID'));
  await assert.rejects(qemuImg.info(badHeader), withCode('IMAGE_INVALID'));
});

test('convert copies content, measure predicts the size, and compare sees the difference', async () => {
  const src = path.join(dir, 'convert-src.qcow2');
  const dst = path.join(dir, 'convert-dst.raw');
  await qemuImg.create(src, 4 * MiB);
  await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 1M', src]);
  const measured = await qemuImg.measure(src, { dstFormat: 'qcow2' });
  assert.ok(measured.requiredBytes >= MiB && measured.requiredBytes < 2 * MiB, String(measured.requiredBytes));
  await qemuImg.convert(src, dst, { srcFormat: 'qcow2', dstFormat: 'raw' });
  assert.equal((await qemuImg.info(dst)).format, 'raw');
  assert.equal(await qemuImg.compare(src, dst), true);
  await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x11 0 4k', dst]);
  assert.equal(await qemuImg.compare(src, dst), false);
});

test('a convert that fills the disk is NO_SPACE', async () => {
  const src = path.join(dir, 'big.raw');
  await fs.writeFile(src, Buffer.alloc(20 * MiB, 0xab));
  await assert.rejects(qemuImg.convert(src, path.join(full, 'big.qcow2'), { srcFormat: 'raw', dstFormat: 'qcow2' }), withCode('NO_SPACE'));
  await fs.rm(path.join(full, 'big.qcow2'), { force: true });
});

test('resize grows, and refuses to shrink unless asked', async () => {
  const image = path.join(dir, 'resize.qcow2');
  await qemuImg.create(image, 4 * MiB);
  await qemuImg.resize(image, 8 * MiB);
  assert.equal((await qemuImg.info(image)).virtualSizeBytes, 8 * MiB);
  await assert.rejects(qemuImg.resize(image, 4 * MiB), withCode('INVALID_SIZE'));
  await qemuImg.resize(image, 4 * MiB, { shrink: true });
  assert.equal((await qemuImg.info(image)).virtualSizeBytes, 4 * MiB);
});

test('offline snapshots: create, list, apply, delete; missing ones are SNAPSHOT_NOT_FOUND', async () => {
  const image = path.join(dir, 'snap.qcow2');
  await qemuImg.create(image, 4 * MiB);
  await qemuImg.snapshotCreate(image, 'first');
  const [snapshot] = await qemuImg.snapshotList(image);
  assert.equal(snapshot?.name, 'first');
  assert.equal(snapshot?.vmStateSize, 0);
  assert.ok(Math.abs(Date.parse(snapshot?.date ?? '') - Date.now()) < 60_000);
  await qemuImg.snapshotApply(image, 'first');
  await assert.rejects(qemuImg.snapshotApply(image, 'nope'), withCode('SNAPSHOT_NOT_FOUND'));
  await assert.rejects(qemuImg.snapshotDelete(image, 'nope'), withCode('SNAPSHOT_NOT_FOUND'));
  await qemuImg.snapshotDelete(image, 'first');
  assert.deepEqual(await qemuImg.snapshotList(image), []);
});

test('a disk held by a running QEMU still answers info, but refuses snapshots with DISK_IN_USE', async () => {
  const image = path.join(dir, 'held.qcow2');
  await qemuImg.create(image, 4 * MiB);
  const holder = await holdOpen(image);
  try {
    assert.equal((await qemuImg.info(image)).format, 'qcow2');
    await assert.rejects(qemuImg.snapshotCreate(image, 'busy'), withCode('DISK_IN_USE'));
  } finally {
    holder.kill();
  }
});
