import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../shared/exec.js';
import { isDroverError, type ErrorCode } from '../shared/errors.js';
import * as disks from './disks.js';
import * as qemuImg from './qemu-img.js';

const MiB = 1024 * 1024;
let dir: string;
let small: string;

const withCode = (code: ErrorCode) => (err: unknown) => {
  assert.ok(isDroverError(err), `expected a DroverError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return true;
};

/** A fresh, empty directory standing in for one VM's directory. */
async function vmDir(): Promise<string> {
  return fs.mkdtemp(path.join(dir, 'vm-'));
}

/** Runs one qemu-io command; resolves true when it succeeds (a `read -P` succeeds only if the pattern matches). */
async function qemuIo(image: string, command: string): Promise<boolean> {
  const result = await run('qemu-io', ['-f', 'qcow2', '-c', command, image], { allowFailure: true });
  return result.code === 0 && !/Pattern verification failed|failed/i.test(result.stdout + result.stderr);
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'drover-disks-'));
  small = path.join(dir, 'small');
  await fs.mkdir(small);
  await run('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', small]);
});

after(async () => {
  await run('umount', [small], { allowFailure: true });
  await fs.rm(dir, { recursive: true, force: true });
});

test('createBlankDisk makes a qcow2 of the size asked, atomically and without clobbering', async () => {
  const vm = await vmDir();
  const disk = path.join(vm, 'root.qcow2');
  await disks.createBlankDisk(disk, 64 * MiB);
  const info = await qemuImg.info(disk);
  assert.equal(info.format, 'qcow2');
  assert.equal(info.virtualSizeBytes, 64 * MiB);
  await assert.rejects(disks.createBlankDisk(disk, 32 * MiB), withCode('DISK_EXISTS'));
  assert.equal((await qemuImg.info(disk)).virtualSizeBytes, 64 * MiB);
  assert.deepEqual(await fs.readdir(vm), ['root.qcow2']);
});

test('bad sizes are INVALID_SIZE and create nothing', async () => {
  const vm = await vmDir();
  for (const size of [0, -1, 1.5, 2 ** 60 * 1000, 1000, MiB - 512, MiB + 1, 65 * 1024 ** 4, Number.NaN]) {
    await assert.rejects(disks.createBlankDisk(path.join(vm, 'd.qcow2'), size), withCode('INVALID_SIZE'), `size ${size}`);
  }
  await disks.createBlankDisk(path.join(vm, 'min.qcow2'), MiB);
  assert.deepEqual(await fs.readdir(vm), ['min.qcow2']);
});

test('a create that fills the disk part-way is NO_SPACE and removes its temp file', async () => {
  const filler = path.join(small, 'filler');
  const { bavail, bsize } = await fs.statfs(small);
  await fs.writeFile(filler, Buffer.alloc(bavail * bsize - 64 * 1024, 1));
  try {
    await assert.rejects(disks.createBlankDisk(path.join(small, 'd.qcow2'), 1024 * MiB), withCode('NO_SPACE'));
    assert.deepEqual(await fs.readdir(small), ['filler']);
  } finally {
    await fs.rm(filler);
  }
  const vm = await vmDir();
  await assert.rejects(disks.createBlankDisk(path.join(vm, 'no-such-dir', 'd.qcow2'), MiB), withCode('FILE_NOT_FOUND'));
  assert.deepEqual(await fs.readdir(vm), []);
});

test('a linked clone records its base by absolute path and sees its data', async () => {
  const vm = await vmDir();
  const base = path.join(vm, 'base.qcow2');
  await disks.createBlankDisk(base, 16 * MiB);
  assert.ok(await qemuIo(base, 'write -P 0xab 0 64k'));
  const clone = path.join(vm, 'clone.qcow2');
  await disks.createLinkedClone(clone, path.relative(process.cwd(), base));
  const info = await qemuImg.info(clone);
  assert.equal(info.backingFile, base);
  assert.equal(info.backingFormat, 'qcow2');
  assert.equal(info.virtualSizeBytes, 16 * MiB);
  assert.ok(await qemuIo(clone, 'read -P 0xab 0 64k'));

  const bigger = path.join(vm, 'bigger.qcow2');
  await disks.createLinkedClone(bigger, base, 32 * MiB);
  assert.equal((await qemuImg.info(bigger)).virtualSizeBytes, 32 * MiB);
  await assert.rejects(disks.createLinkedClone(path.join(vm, 'smaller.qcow2'), base, 8 * MiB), withCode('INVALID_SIZE'));
  await assert.rejects(disks.createLinkedClone(path.join(vm, 'orphan.qcow2'), path.join(vm, 'gone.qcow2')), withCode('FILE_NOT_FOUND'));
  assert.deepEqual((await fs.readdir(vm)).sort(), ['base.qcow2', 'bigger.qcow2', 'clone.qcow2']);
});

test('a full clone flattens the backing chain and keeps the content', async () => {
  const vm = await vmDir();
  const base = path.join(vm, 'base.qcow2');
  const overlay = path.join(vm, 'overlay.qcow2');
  await disks.createBlankDisk(base, 16 * MiB);
  assert.ok(await qemuIo(base, 'write -P 0xab 0 64k'));
  await disks.createLinkedClone(overlay, base);
  assert.ok(await qemuIo(overlay, 'write -P 0xcd 1M 64k'));
  const copy = path.join(vm, 'copy.qcow2');
  await disks.createFullClone(copy, overlay);
  const info = await qemuImg.info(copy);
  assert.equal(info.backingFile, undefined);
  assert.equal(info.format, 'qcow2');
  assert.equal(await qemuImg.compare(copy, overlay), true);
  await fs.rm(base);
  assert.ok(await qemuIo(copy, 'read -P 0xab 0 64k'), 'the copy still reads the base data with the base gone');
  assert.ok(await qemuIo(copy, 'read -P 0xcd 1M 64k'));
});

test('a full clone that cannot fit is NO_SPACE before writing anything', async () => {
  const vm = await vmDir();
  const src = path.join(vm, 'src.qcow2');
  await disks.createBlankDisk(src, 32 * MiB);
  assert.ok(await qemuIo(src, 'write -P 0xab 0 20M'));
  await assert.rejects(disks.createFullClone(path.join(small, 'copy.qcow2'), src), withCode('NO_SPACE'));
  assert.deepEqual(await fs.readdir(small), []);
});

test('resizeDisk grows and refuses to shrink', async () => {
  const vm = await vmDir();
  const disk = path.join(vm, 'd.qcow2');
  await disks.createBlankDisk(disk, 8 * MiB);
  await disks.resizeDisk(disk, 16 * MiB);
  assert.equal((await qemuImg.info(disk)).virtualSizeBytes, 16 * MiB);
  await assert.rejects(disks.resizeDisk(disk, 8 * MiB), withCode('INVALID_SIZE'));
  await assert.rejects(disks.resizeDisk(path.join(vm, 'gone.qcow2'), 8 * MiB), withCode('DISK_NOT_FOUND'));
});

test('snapshots revert the disk content for real', async () => {
  const vm = await vmDir();
  const disk = path.join(vm, 'root.qcow2');
  await disks.createBlankDisk(disk, 16 * MiB);
  assert.ok(await qemuIo(disk, 'write -P 0xab 0 64k'));
  const created = await disks.snapshotCreate(disk, 'before-upgrade');
  assert.equal(created.name, 'before-upgrade');
  assert.ok(await qemuIo(disk, 'write -P 0xcd 0 64k'));
  assert.ok(await qemuIo(disk, 'read -P 0xcd 0 64k'));
  assert.equal(await qemuIo(disk, 'read -P 0xab 0 64k'), false, 'the new data replaced the old');

  await disks.snapshotRevert(disk, 'before-upgrade');
  assert.ok(await qemuIo(disk, 'read -P 0xab 0 64k'), 'revert brought the old data back');
  assert.deepEqual((await disks.snapshotList(disk)).map((s) => s.name), ['before-upgrade']);

  await disks.snapshotCreate(disk, 'second');
  await assert.rejects(disks.snapshotCreate(disk, 'second'), withCode('SNAPSHOT_EXISTS'));
  await disks.snapshotDelete(disk, 'before-upgrade');
  assert.deepEqual((await disks.snapshotList(disk)).map((s) => s.name), ['second']);
  await assert.rejects(disks.snapshotDelete(disk, 'before-upgrade'), withCode('SNAPSHOT_NOT_FOUND'));
  await assert.rejects(disks.snapshotRevert(disk, 'before-upgrade'), withCode('SNAPSHOT_NOT_FOUND'));
  assert.deepEqual(await fs.readdir(vm), ['root.qcow2']);
});

test('snapshot names follow the name rule; a missing disk is DISK_NOT_FOUND', async () => {
  const vm = await vmDir();
  const disk = path.join(vm, 'root.qcow2');
  await disks.createBlankDisk(disk, 4 * MiB);
  for (const name of ['', 'UPPER', 'a/b', 'x'.repeat(70), '../x', '1abc', 'a b']) {
    await assert.rejects(disks.snapshotCreate(disk, name), withCode('INVALID_NAME'), JSON.stringify(name));
  }
  await disks.snapshotCreate(disk, `a${'b'.repeat(62)}`);
  assert.equal((await disks.snapshotList(disk)).length, 1);
  await assert.rejects(disks.snapshotCreate(path.join(vm, 'gone.qcow2'), 'snap'), withCode('DISK_NOT_FOUND'));
  await assert.rejects(disks.snapshotList(path.join(vm, 'gone.qcow2')), withCode('DISK_NOT_FOUND'));
});

test('snapshots of a disk a running QEMU holds are DISK_IN_USE; listing still works', async () => {
  const vm = await vmDir();
  const disk = path.join(vm, 'root.qcow2');
  await disks.createBlankDisk(disk, 4 * MiB);
  await disks.snapshotCreate(disk, 'kept');
  const holder = spawn('qemu-io', ['-f', 'qcow2', disk], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve) => holder.stdout.on('data', (d: Buffer) => d.toString().includes('qemu-io>') && resolve()));
    assert.deepEqual((await disks.snapshotList(disk)).map((s) => s.name), ['kept']);
    await assert.rejects(disks.snapshotCreate(disk, 'live'), withCode('DISK_IN_USE'));
    await assert.rejects(disks.snapshotRevert(disk, 'kept'), withCode('DISK_IN_USE'));
  } finally {
    holder.kill();
  }
});
