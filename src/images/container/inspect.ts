/**
 * Reads a container image's root file system without mounting it: the qcow2 is converted to a raw file in a
 * scratch directory and read with debugfs (e2fsprogs), which never runs anything from the image.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../shared/exec.js';
import { DroverError, isDroverError } from '../../shared/errors.js';

export interface ImageFileInfo {
  type: 'regular' | 'directory' | 'symlink' | 'other';
  /** Permission bits and set-id/sticky bits, e.g. 0o644. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** The target of a symlink short enough to live in its inode (under 60 bytes), as most are. */
  linkTarget?: string;
}

export interface ImageDirectoryEntry {
  name: string;
  /** The whole st_mode: file type and permission bits, e.g. 0o100644. */
  mode: number;
  uid: number;
  gid: number;
}

export interface ImageFileSystem {
  /** The file's metadata, or null when the path does not exist. */
  stat(file: string): Promise<ImageFileInfo | null>;
  /** The file's content as text; FILE_NOT_FOUND when it does not exist. */
  readText(file: string): Promise<string>;
  /** The entries of a directory, without "." and "..". */
  list(dir: string): Promise<ImageDirectoryEntry[]>;
  /** Removes the scratch copy. */
  dispose(): Promise<void>;
}

const TYPES: Record<string, ImageFileInfo['type']> = { regular: 'regular', directory: 'directory', symlink: 'symlink' };

/** Opens the ext4 file system held by the disk `image` (qcow2 or raw) for reading; call dispose() when done. */
export async function openImageFileSystem(image: string, format = 'qcow2'): Promise<ImageFileSystem> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'drover-inspect-'));
  const raw = path.join(scratch, 'root.raw');
  try {
    await run('qemu-img', ['convert', '-f', format, '-O', 'raw', image, raw], { errorCode: 'STORAGE_ERROR' });
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw err;
  }
  const debugfs = async (request: string): Promise<string> => {
    // debugfs exits 0 even when the request fails; failures show on stderr.
    const { stdout, stderr } = await run('debugfs', ['-R', request, raw], { errorCode: 'STORAGE_ERROR' });
    if (/File not found by ext2_lookup|Ext2 inode is not a directory/.test(stderr)) throw new DroverError('FILE_NOT_FOUND', `${request}: ${stderr.trim()}`);
    return stdout;
  };
  const fileSystem: ImageFileSystem = {
    async stat(file) {
      let out: string;
      try {
        out = await debugfs(`stat ${quote(file)}`);
      } catch (err) {
        if (isDroverError(err, 'FILE_NOT_FOUND')) return null;
        throw err;
      }
      const field = (pattern: RegExp): string => {
        const value = pattern.exec(out)?.[1];
        if (value === undefined) throw new DroverError('STORAGE_ERROR', `debugfs stat ${file} gave no ${String(pattern)}`);
        return value;
      };
      const linkTarget = /Fast link dest: "(.*)"/.exec(out)?.[1];
      return {
        type: TYPES[field(/Type: (\w+)/)] ?? 'other',
        mode: parseInt(field(/Mode:\s+(\d+)/), 8),
        uid: Number(field(/User:\s+(\d+)/)),
        gid: Number(field(/Group:\s+(\d+)/)),
        size: Number(field(/Size: (\d+)/)),
        ...(linkTarget !== undefined ? { linkTarget } : {}),
      };
    },
    async readText(file) {
      if (!(await fileSystem.stat(file))) throw new DroverError('FILE_NOT_FOUND', file);
      return debugfs(`cat ${quote(file)}`);
    },
    async list(dir) {
      // `ls -p` prints /inode/mode/uid/gid/name/size/ per entry.
      const entries: ImageDirectoryEntry[] = [];
      for (const line of (await debugfs(`ls -p ${quote(dir)}`)).split('\n')) {
        const fields = line.split('/');
        const name = fields[5];
        if (fields.length < 7 || name === undefined || name === '.' || name === '..') continue;
        entries.push({ name, mode: parseInt(fields[2] ?? '', 8), uid: Number(fields[3]), gid: Number(fields[4]) });
      }
      return entries;
    },
    async dispose() {
      await rm(scratch, { recursive: true, force: true });
    },
  };
  return fileSystem;
}

/** Quotes a path for debugfs's request parser. */
function quote(file: string): string {
  if (/["\n]/.test(file)) throw new DroverError('INVALID_ARGUMENT', `path ${JSON.stringify(file)} cannot be passed to debugfs`);
  return `"${file}"`;
}
