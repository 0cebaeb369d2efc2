/**
 * The tiny image's kernel as QEMU boots it fastest: the uncompressed ELF inside Debian's bzImage, entered through
 * its PVH note. Debian compresses the generic kernel with xz, and under TCG unpacking it takes the kernel's own
 * decompressor about 3 s of every boot; QEMU loads the ELF straight into guest memory instead.
 */
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { run } from '../../shared/exec.js';
import { DroverError } from '../../shared/errors.js';

/** How the image's kernel file boots: `pvh` for the extracted ELF, `bzimage` for the kernel as Debian ships it. */
export type KernelFormat = 'pvh' | 'bzimage';

/** The magic bytes that start each compressed payload a bzImage can carry, and the program that unpacks it. */
const COMPRESSIONS: { name: string; magic: number[]; program: string; args: string[] }[] = [
  { name: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], program: 'xz', args: ['-dc'] },
  { name: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], program: 'zstd', args: ['-dcq'] },
  { name: 'lz4', magic: [0x02, 0x21, 0x4c, 0x18], program: 'lz4', args: ['-dcq'] },
  { name: 'gzip', magic: [0x1f, 0x8b], program: 'gzip', args: ['-dc'] },
  { name: 'bzip2', magic: [0x42, 0x5a, 0x68], program: 'bzip2', args: ['-dc'] },
  { name: 'lzma', magic: [0x5d, 0x00, 0x00], program: 'xz', args: ['--format=lzma', '-dc'] },
];

/** ELF note type XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit entry point a PVH loader jumps to. */
const PVH_ENTRY_NOTE = 18;
const PT_NOTE = 4;

/** Where the compressed kernel sits in a bzImage (Linux boot protocol 2.08 or later). */
export function bzImagePayload(image: Buffer): { offset: number; length: number } {
  if (image.length < 0x250 || image.toString('latin1', 0x202, 0x206) !== 'HdrS') {
    throw new DroverError('IMAGE_BUILD_FAILED', 'the kernel file is not a bzImage (no HdrS boot header)');
  }
  const protocol = image.readUInt16LE(0x206);
  if (protocol < 0x208) throw new DroverError('IMAGE_BUILD_FAILED', `the bzImage speaks boot protocol ${protocol.toString(16)}, older than 2.08`);
  const setupSectors = image[0x1f1] || 4;
  const offset = (setupSectors + 1) * 512 + image.readUInt32LE(0x248);
  const length = image.readUInt32LE(0x24c);
  if (offset + length > image.length || length < 8) throw new DroverError('IMAGE_BUILD_FAILED', 'the bzImage payload lies outside the file');
  return { offset, length };
}

/** True when `elf` is a 64-bit little-endian ELF whose notes carry a PVH entry point. */
export function hasPvhEntry(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) return false;
  const programHeaders = Number(elf.readBigUInt64LE(0x20));
  const entrySize = elf.readUInt16LE(0x36);
  const count = elf.readUInt16LE(0x38);
  for (let i = 0; i < count; i++) {
    const header = programHeaders + i * entrySize;
    if (header + 0x28 > elf.length || elf.readUInt32LE(header) !== PT_NOTE) continue;
    const start = Number(elf.readBigUInt64LE(header + 0x08));
    const end = Math.min(start + Number(elf.readBigUInt64LE(header + 0x20)), elf.length);
    // Each note: name size, descriptor size, type, then the name and descriptor, each padded to 4 bytes.
    for (let note = start; note + 12 <= end; ) {
      const nameSize = elf.readUInt32LE(note);
      const descriptorSize = elf.readUInt32LE(note + 4);
      const type = elf.readUInt32LE(note + 8);
      const name = elf.toString('latin1', note + 12, note + 12 + nameSize).replace(/\0+$/, '');
      if (name === 'Xen' && type === PVH_ENTRY_NOTE) return true;
      note += 12 + align4(nameSize) + align4(descriptorSize);
    }
  }
  return false;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * Writes the kernel to `output` in the fastest form QEMU boots: the ELF unpacked from `bzImage` when it has a PVH
 * entry point, otherwise a copy of the bzImage. `scratch` is a file path for the compressed payload.
 */
export async function prepareKernel(bzImage: string, output: string, scratch: string): Promise<KernelFormat> {
  const image = await readFile(bzImage);
  const { offset, length } = bzImagePayload(image);
  // The kernel build appends the unpacked size (32-bit little-endian) after the compressed stream.
  const payload = image.subarray(offset, offset + length - 4);
  const expectedSize = image.readUInt32LE(offset + length - 4);
  const compression = COMPRESSIONS.find((c) => c.magic.every((byte, i) => payload[i] === byte));
  if (!compression) throw new DroverError('IMAGE_BUILD_FAILED', 'the bzImage payload uses no compression this builder knows');
  await writeFile(scratch, payload);
  try {
    await run('sh', ['-c', 'exec "$0" "$@" < "$SCRATCH" > "$OUTPUT"', compression.program, ...compression.args], {
      env: { ...process.env, SCRATCH: scratch, OUTPUT: output },
      errorCode: 'IMAGE_BUILD_FAILED',
    });
  } finally {
    await rm(scratch, { force: true });
  }
  const elf = await readFile(output);
  if (elf.length !== expectedSize) {
    throw new DroverError('IMAGE_BUILD_FAILED', `unpacking the ${compression.name} kernel gave ${elf.length} bytes, the bzImage says ${expectedSize}`);
  }
  if (hasPvhEntry(elf)) return 'pvh';
  // Without a PVH note QEMU could not enter the ELF; the bzImage boots everywhere, only slower.
  const file = await open(output, 'w');
  await file.writeFile(image).finally(() => file.close());
  return 'bzimage';
}
