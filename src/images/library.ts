/**
 * The image library of one host: a directory holding `<name>.qcow2` plus `<name>.json` metadata per image
 * (and `<name>.kernel` / `<name>.initrd` for built images that boot a kernel directly). The metadata file is
 * written last, so it is the commit point: an image exists exactly when its `.json` does. An image is either a
 * VM disk or a container image (a qcow2 whose content is a bare ext4 file system holding a root file system).
 */
import { constants as fsConstants, existsSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DroverError, isDroverError } from '../shared/errors.js';
import { KeyedQueue } from '../shared/keyed-queue.js';
import { isValidName, validateName } from '../shared/names.js';
import {
  ensureFreeSpace,
  fsError,
  publishReplace,
  removeQuietly,
  sha256File,
  syncDir,
  tempPathFor,
} from '../storage/files.js';
import * as qemuImg from '../storage/qemu-img.js';
import { describeLayout, detectLayout, type DetectedLayout } from './detect.js';

/** The source formats `import` accepts, by qemu-img's names. */
export const IMPORT_FORMATS = ['qcow2', 'raw', 'vmdk', 'vhdx'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

export interface BootInfo {
  kernel: string;
  initrd: string;
  cmdline: string;
}

/** What an image boots as: a QEMU VM, or a system container whose root file system the image holds. */
export const IMAGE_TYPES = ['vm', 'container'] as const;
export type ImageType = (typeof IMAGE_TYPES)[number];

/** How the container driver runs a container image. */
export interface ContainerSettings {
  /** The command run as PID 1, e.g. ['/sbin/init']. */
  init: string[];
  /** The signal that asks that init to power off cleanly (systemd: SIGRTMIN+3, busybox init: SIGUSR2). */
  stopSignal: string;
}

/** What `<name>.json` holds; boot file names are relative to the library directory. */
export interface ImageMetadata {
  name: string;
  format: 'qcow2';
  sourceFormat: string;
  virtualSizeBytes: number;
  actualSizeBytes: number;
  /** SHA-256 of the source file exactly as it was imported (before conversion). */
  sha256: string;
  createdAt: string;
  osNotes: string;
  detected: DetectedLayout;
  /** Metadata written before container images existed has no type: those images are all 'vm'. */
  type: ImageType;
  boot?: BootInfo;
  /** Set on (and only on) container images. */
  container?: ContainerSettings;
}

/** An image as the library hands it out: its metadata, with `path` and any boot files as absolute paths. */
export interface Image extends ImageMetadata {
  path: string;
}

export interface ImportOptions {
  name: string;
  osNotes?: string;
  /** Skip probing and read the file as this format; 'raw' also lifts the raw sanity checks (see inspectSource). */
  format?: string;
}

export interface BuiltImage {
  disk: string;
  kernel: string;
  initrd: string;
  cmdline: string;
  osNotes: string;
}

export interface BuiltContainerImage {
  /** A disk (qcow2 or raw) whose content is a bare ext4 file system holding the root file system. */
  disk: string;
  osNotes: string;
  container: ContainerSettings;
}

function isImportFormat(format: string): format is ImportFormat {
  return (IMPORT_FORMATS as readonly string[]).includes(format);
}

async function readableFileSize(file: string): Promise<number> {
  try {
    await fs.access(file, fsConstants.R_OK);
    const stats = await fs.stat(file);
    if (!stats.isFile()) throw new DroverError('IMAGE_INVALID', `${file} is not a regular file`);
    return stats.size;
  } catch (err) {
    throw fsError(err, file);
  }
}

/** True when the first 4 KiB are all printable ASCII: a disk's first sectors always hold binary (or zero) bytes. */
async function looksLikeText(file: string): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4096), 0, 4096, 0);
    return buffer.subarray(0, bytesRead).every((b) => (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d);
  } finally {
    await handle.close();
  }
}

/**
 * Probes a file to import and refuses what must not be imported. A file qemu-img probes as raw (its fallback for
 * anything it does not recognise) must be a non-zero multiple of 512 bytes and not look like text; an explicit
 * format 'raw' skips those two checks (qemu pads the last sector with zeroes) but never accepts an empty file.
 * Images that read other files (backing file, qcow2 data file, VMDK extents) are refused: importing one would
 * copy arbitrary host files into the library.
 */
async function inspectSource(file: string, size: number, format?: string): Promise<qemuImg.ImageInfo> {
  if (size === 0) throw new DroverError('IMAGE_INVALID', `${file} is empty`);
  const info = await qemuImg.info(file, format ? { format } : {}).catch((err: unknown) => {
    throw isDroverError(err, 'STORAGE_ERROR') ? new DroverError('IMAGE_INVALID', err.detail, { cause: err }) : err;
  });
  if (!isImportFormat(info.format)) throw new DroverError('IMAGE_FORMAT_UNSUPPORTED', `${file} is ${info.format}`);
  if (info.externalFiles.length > 0) {
    const detail = `${file} reads ${info.externalFiles.join(', ')}; flatten it with \`qemu-img convert -O qcow2\` first`;
    throw new DroverError('IMAGE_FORMAT_UNSUPPORTED', detail);
  }
  if (info.format === 'raw' && format !== 'raw') {
    if (size % 512 !== 0) {
      const detail = `${file} is not a known image format, and as raw its size (${size} bytes) is not a multiple of 512; pass format 'raw' to import it anyway`;
      throw new DroverError('IMAGE_INVALID', detail);
    }
    if (await looksLikeText(file)) throw new DroverError('IMAGE_INVALID', `${file} looks like a text file`);
  }
  if (info.corrupt) throw new DroverError('IMAGE_CORRUPT', `${file} is marked corrupt`);
  if (info.format !== 'raw') await qemuImg.check(file, { format: info.format });
  return info;
}

function isContainerSettings(value: unknown): value is ContainerSettings {
  // Read as partial so each field can be checked; the type guard is what those checks establish.
  const c = value as Partial<ContainerSettings> | null;
  return (
    typeof c === 'object' &&
    c !== null &&
    Array.isArray(c.init) &&
    c.init.length > 0 &&
    c.init.every((arg) => typeof arg === 'string' && arg !== '') &&
    typeof c.stopSignal === 'string' &&
    /^SIG[A-Z0-9]+(?:[+-]\d+)?$/.test(c.stopSignal)
  );
}

function parseMetadata(value: unknown, name: string): ImageMetadata {
  const m = { type: 'vm', ...(value && typeof value === 'object' ? value : {}) } as Partial<ImageMetadata>;
  const valid =
    m.name === name &&
    m.format === 'qcow2' &&
    typeof m.sourceFormat === 'string' &&
    typeof m.virtualSizeBytes === 'number' &&
    typeof m.actualSizeBytes === 'number' &&
    typeof m.sha256 === 'string' &&
    typeof m.createdAt === 'string' &&
    typeof m.osNotes === 'string' &&
    typeof m.detected === 'object' &&
    (IMAGE_TYPES as readonly unknown[]).includes(m.type) &&
    (m.type === 'container' ? isContainerSettings(m.container) : m.container === undefined) &&
    (m.boot === undefined || (typeof m.boot.kernel === 'string' && typeof m.boot.initrd === 'string'));
  if (!valid) throw new DroverError('STORAGE_ERROR', `the metadata of image ${name} is malformed`);
  return m as ImageMetadata;
}

/** Temp files of one library change; rollback removes them and anything already renamed into place. */
class Staging {
  private readonly pending = new Set<string>();
  private readonly published: string[] = [];

  temp(finalPath: string): string {
    const temp = tempPathFor(finalPath);
    this.pending.add(temp);
    return temp;
  }

  async publish(temp: string, finalPath: string): Promise<void> {
    await publishReplace(temp, finalPath);
    this.pending.delete(temp);
    this.published.push(finalPath);
  }

  async rollback(): Promise<void> {
    for (const file of [...this.pending, ...this.published.reverse()]) await removeQuietly(file);
  }
}

/** The image library in one directory; operations on the same name are serialized within this process. */
export class ImageLibrary {
  readonly dir: string;
  private readonly locks = new KeyedQueue<string>();

  /** A library rooted at `dir` (created on first write). */
  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  /** The library of a controller's or agent's data directory: `<dataDir>/images/`. */
  static forDataDir(dataDir: string): ImageLibrary {
    return new ImageLibrary(path.join(dataDir, 'images'));
  }

  private file(name: string, extension: string): string {
    return path.join(this.dir, `${name}.${extension}`);
  }

  private toImage(meta: ImageMetadata): Image {
    const boot = meta.boot && {
      ...meta.boot,
      kernel: path.join(this.dir, meta.boot.kernel),
      initrd: path.join(this.dir, meta.boot.initrd),
    };
    return { ...meta, ...(boot ? { boot } : {}), path: this.file(meta.name, 'qcow2') };
  }

  /** Writes the metadata of a staged disk and publishes everything, metadata last. */
  private async finish(
    stage: Staging,
    tempDisk: string,
    meta: Omit<ImageMetadata, 'format' | 'virtualSizeBytes' | 'actualSizeBytes' | 'createdAt' | 'detected' | 'osNotes'>,
    osNotes: string | undefined,
    extraFiles: [temp: string, finalPath: string][] = [],
  ): Promise<Image> {
    const info = await qemuImg.info(tempDisk, { format: 'qcow2' });
    const detected = await detectLayout(tempDisk, 'qcow2');
    const full: ImageMetadata = {
      ...meta,
      format: 'qcow2',
      virtualSizeBytes: info.virtualSizeBytes,
      actualSizeBytes: info.actualSizeBytes,
      createdAt: new Date().toISOString(),
      osNotes: osNotes ?? describeLayout(detected),
      detected,
    };
    const metaPath = this.file(meta.name, 'json');
    const tempMeta = stage.temp(metaPath);
    await fs.writeFile(tempMeta, `${JSON.stringify(full, null, 2)}\n`);
    await stage.publish(tempDisk, this.file(meta.name, 'qcow2'));
    for (const [temp, finalPath] of extraFiles) await stage.publish(temp, finalPath);
    await stage.publish(tempMeta, metaPath);
    return this.toImage(full);
  }

  /**
   * Imports a qcow2, raw, vmdk or vhdx file as a new qcow2 image `name`. Refuses bad names (INVALID_NAME), taken
   * names (IMAGE_EXISTS), missing files (FILE_NOT_FOUND), other formats, corrupt or non-image files, and images
   * that do not fit (NO_SPACE, checked before writing). On any failure nothing is left in the library.
   */
  async import(file: string, opts: ImportOptions): Promise<Image> {
    const { name } = opts;
    validateName('image', name);
    if (opts.format !== undefined && !isImportFormat(opts.format)) {
      throw new DroverError('IMAGE_FORMAT_UNSUPPORTED', `format ${opts.format}`);
    }
    const source = path.resolve(file);
    const size = await readableFileSize(source);
    return this.locks.run(name, async () => {
      if (this.has(name)) throw new DroverError('IMAGE_EXISTS', name);
      const info = await inspectSource(source, size, opts.format);
      await fs.mkdir(this.dir, { recursive: true }).catch((err: unknown) => Promise.reject(fsError(err, this.dir)));
      const needed = await qemuImg.measure(source, { srcFormat: info.format, dstFormat: 'qcow2' });
      await ensureFreeSpace(this.dir, needed.requiredBytes);
      const stage = new Staging();
      try {
        const tempDisk = stage.temp(this.file(name, 'qcow2'));
        // Hash and convert in parallel; wait for both so no writer is still running when we clean up.
        const [hashed, converted] = await Promise.allSettled([
          sha256File(source),
          qemuImg.convert(source, tempDisk, { srcFormat: info.format, dstFormat: 'qcow2' }),
        ]);
        if (converted.status === 'rejected') throw converted.reason;
        if (hashed.status === 'rejected') throw hashed.reason;
        return await this.finish(stage, tempDisk, { name, type: 'vm', sourceFormat: info.format, sha256: hashed.value }, opts.osNotes);
      } catch (err) {
        await stage.rollback();
        throw fsError(err, `importing ${source} as ${name}`);
      }
    });
  }

  /**
   * Adds a built image (disk plus the kernel, initrd and command line it boots with) as `name`, copying the files
   * in (a reflink where the filesystem can). Idempotent: the same build again returns the existing image; a
   * different build under a taken name is IMAGE_EXISTS.
   */
  async registerBuilt(name: string, built: BuiltImage): Promise<Image> {
    validateName('image', name);
    const [disk, kernel, initrd] = [built.disk, built.kernel, built.initrd].map((f) => path.resolve(f)) as [string, string, string];
    for (const file of [disk, kernel, initrd]) await readableFileSize(file);
    return this.locks.run(name, async () => {
      const [diskSha, kernelSha, initrdSha] = await Promise.all([sha256File(disk), sha256File(kernel), sha256File(initrd)]);
      if (this.has(name)) {
        const current = await this.get(name);
        const same =
          current.sha256 === diskSha &&
          current.boot?.cmdline === built.cmdline &&
          (await sha256File(current.boot.kernel)) === kernelSha &&
          (await sha256File(current.boot.initrd)) === initrdSha;
        if (same) return current;
        throw new DroverError('IMAGE_EXISTS', `${name} holds a different build; delete it first`);
      }
      const info = await inspectSource(disk, (await fs.stat(disk)).size);
      await fs.mkdir(this.dir, { recursive: true }).catch((err: unknown) => Promise.reject(fsError(err, this.dir)));
      const stage = new Staging();
      try {
        const tempDisk = await this.stageBuiltDisk(stage, name, disk, info.format);
        const extras: [string, string][] = [];
        for (const [source, extension] of [[kernel, 'kernel'], [initrd, 'initrd']] as const) {
          const temp = stage.temp(this.file(name, extension));
          await fs.copyFile(source, temp, fsConstants.COPYFILE_FICLONE);
          extras.push([temp, this.file(name, extension)]);
        }
        const boot = { kernel: `${name}.kernel`, initrd: `${name}.initrd`, cmdline: built.cmdline };
        return await this.finish(stage, tempDisk, { name, type: 'vm', sourceFormat: info.format, sha256: diskSha, boot }, built.osNotes, extras);
      } catch (err) {
        await stage.rollback();
        throw fsError(err, `registering ${disk} as ${name}`);
      }
    });
  }

  /**
   * Adds a built container image (a disk whose content is a bare ext4 root file system) as `name`, with the init
   * and stop signal the container driver runs it with; a disk with a partition table or another file system is
   * IMAGE_INVALID. Idempotent like registerBuilt: the same build again returns the existing image; a different
   * build (or a VM image) under a taken name is IMAGE_EXISTS.
   */
  async registerBuiltContainer(name: string, built: BuiltContainerImage): Promise<Image> {
    validateName('image', name);
    if (!isContainerSettings(built.container)) {
      throw new DroverError('INVALID_ARGUMENT', `container settings of ${name}: init must be a non-empty command and stopSignal a name like SIGRTMIN+3`);
    }
    const container: ContainerSettings = { init: [...built.container.init], stopSignal: built.container.stopSignal };
    const disk = path.resolve(built.disk);
    const size = await readableFileSize(disk);
    return this.locks.run(name, async () => {
      const diskSha = await sha256File(disk);
      if (this.has(name)) {
        const current = this.get(name);
        const same =
          current.type === 'container' && current.sha256 === diskSha && JSON.stringify(current.container) === JSON.stringify(container);
        if (same) return current;
        throw new DroverError('IMAGE_EXISTS', `${name} holds a different build; delete it first`);
      }
      const info = await inspectSource(disk, size);
      const layout = await detectLayout(disk, info.format);
      if (layout.partitionTable || layout.filesystem !== 'ext4') {
        const found = describeLayout(layout) || 'no file system';
        throw new DroverError('IMAGE_INVALID', `${disk} must hold a bare ext4 file system for a container image; found ${found}`);
      }
      await fs.mkdir(this.dir, { recursive: true }).catch((err: unknown) => Promise.reject(fsError(err, this.dir)));
      const stage = new Staging();
      try {
        const tempDisk = await this.linkOrStageBuiltDisk(stage, name, disk, info.format);
        return await this.finish(stage, tempDisk, { name, type: 'container', sourceFormat: info.format, sha256: diskSha, container }, built.osNotes);
      } catch (err) {
        await stage.rollback();
        throw fsError(err, `registering ${disk} as ${name}`);
      }
    });
  }

  /**
   * A built container image's disk: hard-linked when it is qcow2 on the same filesystem, else staged as a copy.
   * Safe for container builds, which publish a whole new directory by renaming it and never write a published
   * file again; it spares every agent started on this machine a copy of a disk of hundreds of megabytes.
   */
  private async linkOrStageBuiltDisk(stage: Staging, name: string, disk: string, format: string): Promise<string> {
    if (format === 'qcow2') {
      const tempDisk = stage.temp(this.file(name, 'qcow2'));
      try {
        await fs.link(disk, tempDisk);
        return tempDisk;
      } catch {
        // Another filesystem, or links refused: copy as for any built disk.
      }
    }
    return this.stageBuiltDisk(stage, name, disk, format);
  }

  /** Copies a built disk into a temp file of the library as qcow2 (converting other formats); returns the temp path. */
  private async stageBuiltDisk(stage: Staging, name: string, disk: string, format: string): Promise<string> {
    const tempDisk = stage.temp(this.file(name, 'qcow2'));
    if (format === 'qcow2') {
      // A reflink or copy, never a hard link: a rebuild writing the cache file in place would change VMs' base.
      await fs.copyFile(disk, tempDisk, fsConstants.COPYFILE_FICLONE);
    } else {
      const needed = await qemuImg.measure(disk, { srcFormat: format, dstFormat: 'qcow2' });
      await ensureFreeSpace(this.dir, needed.requiredBytes);
      await qemuImg.convert(disk, tempDisk, { srcFormat: format, dstFormat: 'qcow2' });
    }
    return tempDisk;
  }

  /** True when the library holds image `name` (synchronous: one stat of its metadata file). */
  has(name: string): boolean {
    return isValidName(name) && existsSync(this.file(name, 'json'));
  }

  /** Every image in the library, sorted by name; an image whose metadata cannot be read is left out. */
  list(): Image[] {
    let entries: string[];
    try {
      entries = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fsError(err, this.dir);
    }
    const names = entries.map((entry) => /^([a-z][a-z0-9-]{0,62})\.json$/.exec(entry)?.[1]).filter((n) => n !== undefined);
    const images: Image[] = [];
    for (const name of names.sort()) {
      try {
        images.push(this.get(name));
      } catch (err) {
        // Skipping rather than failing keeps one damaged (or concurrently deleted) entry from hiding all others.
        if (!isDroverError(err, 'IMAGE_NOT_FOUND') && !isDroverError(err, 'STORAGE_ERROR')) throw err;
      }
    }
    return images;
  }

  /** The image `name` (synchronous: metadata is one small file); IMAGE_NOT_FOUND if absent, STORAGE_ERROR if damaged. */
  get(name: string): Image {
    validateName('image', name);
    let text: string;
    try {
      text = readFileSync(this.file(name, 'json'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new DroverError('IMAGE_NOT_FOUND', name);
      throw fsError(err, this.file(name, 'json'));
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new DroverError('STORAGE_ERROR', `the metadata of image ${name} is not JSON`, { cause: err });
    }
    return this.toImage(parseMetadata(value, name));
  }

  /** Deletes image `name` and its files; IMAGE_IN_USE when `isInUse(diskPath)` says a VM still relies on it. */
  async delete(name: string, opts: { isInUse?: (diskPath: string) => boolean | Promise<boolean> } = {}): Promise<void> {
    validateName('image', name);
    await this.locks.run(name, async () => {
      const image = await this.get(name);
      if (await opts.isInUse?.(image.path)) throw new DroverError('IMAGE_IN_USE', name);
      // Metadata first: once it is gone the image no longer exists, even if removing the rest is interrupted.
      await fs.rm(this.file(name, 'json')).catch((err: unknown) => Promise.reject(fsError(err, this.file(name, 'json'))));
      await syncDir(this.dir);
      for (const extension of ['qcow2', 'kernel', 'initrd']) await removeQuietly(this.file(name, extension));
    });
  }
}
