import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { isDroverError } from '../../shared/errors.js';
import { tinyImageDir } from '../../shared/paths.js';
import { loadTinyImage } from './build.js';
import { bzImagePayload, hasPvhEntry, prepareKernel } from './kernel.js';

/** A minimal 64-bit ELF with one PT_NOTE program header holding one note (`name`, `type`). */
function elfWithNote(name: string, type: number): Buffer {
  const nameBytes = Buffer.from(`${name}\0`);
  const paddedName = Math.ceil(nameBytes.length / 4) * 4;
  const note = Buffer.alloc(12 + paddedName + 4);
  note.writeUInt32LE(nameBytes.length, 0);
  note.writeUInt32LE(4, 4);
  note.writeUInt32LE(type, 8);
  nameBytes.copy(note, 12);
  note.writeUInt32LE(0x1000000, 12 + paddedName);
  const header = Buffer.alloc(64 + 56);
  header.writeUInt32BE(0x7f454c46, 0);
  header[4] = 2; // 64-bit
  header[5] = 1; // little-endian
  header.writeBigUInt64LE(64n, 0x20); // program headers right after the ELF header
  header.writeUInt16LE(56, 0x36);
  header.writeUInt16LE(1, 0x38);
  header.writeUInt32LE(4, 64); // PT_NOTE
  header.writeBigUInt64LE(BigInt(header.length), 64 + 0x08);
  header.writeBigUInt64LE(BigInt(note.length), 64 + 0x20);
  return Buffer.concat([header, note]);
}

/** A bzImage-shaped file (boot protocol 2.15, one setup sector) whose payload is `kernel`, gzip-compressed. */
function bzImageOf(kernel: Buffer): Buffer {
  const compressed = gzipSync(kernel);
  const payloadOffset = 16;
  const image = Buffer.alloc(1024 + payloadOffset + compressed.length + 4);
  image[0x1f1] = 1;
  image.write('HdrS', 0x202, 'latin1');
  image.writeUInt16LE(0x20f, 0x206);
  image.writeUInt32LE(payloadOffset, 0x248);
  image.writeUInt32LE(compressed.length + 4, 0x24c);
  compressed.copy(image, 1024 + payloadOffset);
  image.writeUInt32LE(kernel.length, 1024 + payloadOffset + compressed.length);
  return image;
}

async function withTempDir(action: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'drover-kernel-test-'));
  try {
    await action(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('the payload is found from the setup sectors and the header offsets', () => {
  const image = bzImageOf(elfWithNote('Xen', 18));
  assert.deepEqual(bzImagePayload(image), { offset: 1040, length: image.length - 1040 });
});

test('a file that is not a bzImage, or one too old to say where its payload is, is refused', () => {
  assert.throws(() => bzImagePayload(Buffer.alloc(4096)), (err) => isDroverError(err, 'IMAGE_BUILD_FAILED') && /HdrS/.test(err.message + String(err.detail)));
  const old = bzImageOf(elfWithNote('Xen', 18));
  old.writeUInt16LE(0x204, 0x206);
  assert.throws(() => bzImagePayload(old), (err) => isDroverError(err, 'IMAGE_BUILD_FAILED'));
});

test('only a Xen note of type 18 (PHYS32_ENTRY) counts as a PVH entry point', () => {
  assert.equal(hasPvhEntry(elfWithNote('Xen', 18)), true);
  assert.equal(hasPvhEntry(elfWithNote('Xen', 17)), false);
  assert.equal(hasPvhEntry(elfWithNote('GNU', 18)), false);
  assert.equal(hasPvhEntry(Buffer.from('not an elf at all, just text padding it out to sixty-four bytes...')), false);
});

test('a kernel with a PVH note is unpacked to its ELF; one without is kept as the bzImage', async () => {
  await withTempDir(async (dir) => {
    const pvh = elfWithNote('Xen', 18);
    await writeFile(path.join(dir, 'pvh.bz'), bzImageOf(pvh));
    assert.equal(await prepareKernel(path.join(dir, 'pvh.bz'), path.join(dir, 'pvh.out'), path.join(dir, 'scratch')), 'pvh');
    assert.deepEqual(await readFile(path.join(dir, 'pvh.out')), pvh);

    const plain = bzImageOf(elfWithNote('GNU', 3));
    await writeFile(path.join(dir, 'plain.bz'), plain);
    assert.equal(await prepareKernel(path.join(dir, 'plain.bz'), path.join(dir, 'plain.out'), path.join(dir, 'scratch')), 'bzimage');
    assert.deepEqual(await readFile(path.join(dir, 'plain.out')), plain);
  });
});

test('a payload whose unpacked size differs from the size the bzImage records is refused', async () => {
  await withTempDir(async (dir) => {
    const image = bzImageOf(elfWithNote('Xen', 18));
    image.writeUInt32LE(12345, image.length - 4);
    await writeFile(path.join(dir, 'bad.bz'), image);
    await assert.rejects(prepareKernel(path.join(dir, 'bad.bz'), path.join(dir, 'out'), path.join(dir, 'scratch')), (err) =>
      isDroverError(err, 'IMAGE_BUILD_FAILED'),
    );
  });
});

const image = await loadTinyImage(tinyImageDir());

test("the built tiny image boots Debian's kernel as an unpacked PVH ELF", { skip: image ? false : `no tiny image in ${tinyImageDir()}` }, async () => {
  assert.ok(image);
  assert.equal(image.manifest.kernelFormat, 'pvh');
  assert.equal(hasPvhEntry(await readFile(image.kernel)), true);
});
