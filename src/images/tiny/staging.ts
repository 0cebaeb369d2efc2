/**
 * Helpers that fill a staging directory (the future initramfs or root file system):
 * guest overlay files, busybox with its applet links, and kernel modules.
 */
import { chmod, copyFile, mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../shared/exec.js';
import type { KernelModule } from './modules.js';
import { BUSYBOX_BINARY } from './packages.js';

/** Copies the overlay tree `from` into `to`; files starting with "#!" become executable (0755), others 0644. */
export async function copyOverlay(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true, mode: 0o755 });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isDirectory()) {
      await copyOverlay(source, target);
    } else {
      await copyFile(source, target);
      const isScript = (await readFile(source)).subarray(0, 2).toString() === '#!';
      await chmod(target, isScript ? 0o755 : 0o644);
    }
  }
}

/** Creates each directory (relative to `root`) with mode 0755 unless the path says otherwise. */
export async function makeDirectories(root: string, directories: string[], modes: Record<string, number> = {}): Promise<void> {
  await mkdir(root, { recursive: true });
  await chmod(root, 0o755);
  for (const directory of directories) {
    const full = path.join(root, directory);
    await mkdir(full, { recursive: true });
    await chmod(full, modes[directory] ?? 0o755);
  }
}

/** Installs the host's static busybox as /bin/busybox in `root` with an absolute symlink for every applet. */
export async function installBusybox(root: string): Promise<void> {
  await mkdir(path.join(root, 'bin'), { recursive: true });
  await copyFile(BUSYBOX_BINARY, path.join(root, 'bin', 'busybox'));
  await chmod(path.join(root, 'bin', 'busybox'), 0o755);
  const { stdout } = await run(BUSYBOX_BINARY, ['--list-full'], { errorCode: 'DEPENDENCY_MISSING' });
  for (const applet of stdout.split('\n').map((line) => line.trim())) {
    if (applet === '' || applet === 'bin/busybox') continue;
    await mkdir(path.dirname(path.join(root, applet)), { recursive: true });
    await symlink('/bin/busybox', path.join(root, applet)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}

const DECOMPRESSORS: Record<string, string> = { '.xz': 'xz', '.zst': 'zstd', '.gz': 'gzip' };

/** Where installModules puts `module`, relative to /lib/modules/<kernelVersion>: its path without a compression suffix. */
function installedModulePath(module: KernelModule): string {
  const extension = path.extname(module.path);
  return DECOMPRESSORS[extension] ? module.path.slice(0, -extension.length) : module.path;
}

/**
 * Copies `modules` from the extracted kernel's module directory into `root`/lib/modules/<kernelVersion>,
 * decompressing .ko.xz/.ko.zst/.ko.gz; returns their paths (relative to that directory) in the same order.
 */
export async function installModules(moduleTree: string, kernelVersion: string, modules: KernelModule[], root: string): Promise<string[]> {
  const targetTree = path.join(root, 'lib', 'modules', kernelVersion);
  const installed: string[] = [];
  for (const module of modules) {
    const decompressor = DECOMPRESSORS[path.extname(module.path)];
    const relative = installedModulePath(module);
    const source = path.join(moduleTree, module.path);
    const target = path.join(targetTree, relative);
    await mkdir(path.dirname(target), { recursive: true });
    if (decompressor) {
      await run('sh', ['-c', 'exec "$0" -dc "$1" > "$2"', decompressor, source, target], { errorCode: 'IMAGE_BUILD_FAILED' });
    } else {
      await copyFile(source, target);
    }
    await chmod(target, 0o644);
    installed.push(relative);
  }
  return installed;
}

/** depmod's index files copied from the kernel package, so depmod can regenerate the rest for a subset of modules. */
const KERNEL_INDEX_FILES = ['modules.builtin', 'modules.builtin.modinfo', 'modules.order'];

/** Writes modules.dep and modules.alias for the modules installed in `root`, so the guest's modprobe resolves names and device aliases. */
export async function indexModules(moduleTree: string, kernelVersion: string, root: string): Promise<void> {
  const targetTree = path.join(root, 'lib', 'modules', kernelVersion);
  for (const file of KERNEL_INDEX_FILES) await copyFile(path.join(moduleTree, file), path.join(targetTree, file));
  await run('depmod', ['-b', root, kernelVersion], { errorCode: 'IMAGE_BUILD_FAILED' });
}
