/**
 * Builds the "tiny" guest image from Debian packages: the generic Debian kernel (unpacked for PVH boot), a small
 * initramfs, and a qcow2 root disk with busybox and qemu-guest-agent. The result is cached
 * in one directory and rebuilt only when its inputs change.
 */
import { buildStepError, buildSteps, isPackageMap, readBuiltManifest, type Step } from '../build-support.js';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../shared/exec.js';
import { DroverError, isDroverError } from '../../shared/errors.js';
import { cacheDir, repoRoot } from '../../shared/paths.js';
import { buildPathFor, removeAbandonedBuilds, replaceDirectory, withDirectoryLock } from './directory.js';
import { INITRAMFS_MODULES, INITRAMFS_OPTIONAL_MODULES, buildInitramfs } from './initramfs.js';
import { type KernelFormat, prepareKernel } from './kernel.js';
import { type KernelModule, type ModuleIndex, parseModulesBuiltin, parseModulesDep, resolveModuleClosure } from './modules.js';
import { type TinyInputs, fetchDeb, resolveInputs } from './packages.js';
import { ROOTFS_MODULES, ROOTFS_OPTIONAL_MODULES, buildRootDirectory, makeRootDisk } from './rootfs.js';

export interface TinyImage {
  dir: string;
  kernel: string;
  initrd: string;
  /** The root disk (qcow2); use it as a backing file or copy it, never boot it in place. */
  disk: string;
  /** Base kernel command line; append e.g. drover.hostname=NAME. */
  cmdline: string;
  manifest: TinyManifest;
}

export interface TinyManifest {
  inputsHash: string;
  kernelVersion: string;
  /** `pvh`: the kernel file is the uncompressed ELF, entered through its PVH note; `bzimage`: Debian's file as shipped. */
  kernelFormat: KernelFormat;
  /** Debian package name -> version. */
  packages: Record<string, string>;
  builtAt: string;
  diskVirtualSizeBytes: number;
}

/**
 * Base kernel command line: serial console, little kernel chatter, reboot rather than hang on panic, and no
 * self-tests of the kernel's crypto algorithms at boot (about 0.2 s under TCG; the guest's crypto is Debian's
 * tested build either way).
 */
export const TINY_CMDLINE = 'console=ttyS0 quiet panic=-1 cryptomgr.notests';

const FILES = { kernel: 'vmlinux', initrd: 'initrd.img', disk: 'root.qcow2', manifest: 'manifest.json' } as const;
/** Bump when the image layout changes in a way the hashed sources do not show. */
const FORMAT_VERSION = 2;
const SOURCE_DIR = path.join(repoRoot, 'src', 'images', 'tiny');
const BUILDER_SOURCES = ['build.ts', 'initramfs.ts', 'kernel.ts', 'modules.ts', 'packages.ts', 'rootfs.ts', 'staging.ts'];

/** Returns the image in `outDir`, or null when it is missing or incomplete (it may still be stale). */
export async function loadTinyImage(outDir: string): Promise<TinyImage | null> {
  const manifest = await readBuiltManifest(path.join(outDir, FILES.manifest), parseManifest);
  if (!manifest) return null;
  const image = imageAt(outDir, manifest);
  for (const file of [image.kernel, image.initrd, image.disk]) {
    const info = await stat(file).catch(() => null);
    if (!info?.isFile() || info.size === 0) return null;
  }
  return image;
}

/**
 * Returns the tiny image in `outDir`, building it first unless one built from the same inputs is there
 * (or `force`). Builds beside `outDir` and renames into place, so a failed build leaves the old image.
 */
export async function buildTinyImage(opts: { outDir: string; force?: boolean; onProgress?: (step: string) => void }): Promise<TinyImage> {
  const outDir = path.resolve(opts.outDir);
  const step = buildSteps(opts.onProgress);

  const inputs = await step('resolve packages', resolveInputs);
  const inputsHash = await step('hash inputs', () => computeInputsHash(inputs));
  const current = async (): Promise<TinyImage | null> => {
    const existing = opts.force ? null : await loadTinyImage(outDir);
    return existing?.manifest.inputsHash === inputsHash ? existing : null;
  };
  const cached = await current();
  if (cached) return cached;

  await step('prepare image directory', () => mkdir(path.dirname(outDir), { recursive: true }));
  return withDirectoryLock(outDir, async () => {
    // Another process may have built the same image while this one waited for the lock.
    const builtMeanwhile = await current();
    if (builtMeanwhile) return builtMeanwhile;
    await step('remove abandoned builds', () => removeAbandonedBuilds(outDir));
    const buildDir = buildPathFor(outDir);
    try {
      const manifest = await buildInto(buildDir, inputs, inputsHash, step);
      await step('install image', () => replaceDirectory(buildDir, outDir));
      return imageAt(outDir, manifest);
    } catch (err) {
      await rm(buildDir, { recursive: true, force: true });
      throw err;
    }
  }).catch((err: unknown) => {
    throw isDroverError(err) ? err : buildStepError('lock image directory', err);
  });
}


/** Builds every file of the image, manifest last, into the new directory `buildDir`. */
async function buildInto(buildDir: string, inputs: TinyInputs, inputsHash: string, step: Step): Promise<TinyManifest> {
  const work = path.join(buildDir, 'work');
  await mkdir(work, { recursive: true });
  const deb = await step('download kernel', () => fetchDeb(inputs.kernelPackage, inputs.kernelPackageVersion, debCacheDir()));
  const kernelRoot = path.join(work, 'kernel');
  await step('extract kernel', () => run('dpkg-deb', ['-x', deb, kernelRoot], { errorCode: 'IMAGE_BUILD_FAILED' }));
  const moduleTree = path.join(kernelRoot, 'lib', 'modules', inputs.kernelVersion);
  const modules = await step('resolve modules', () => planModules(kernelRoot, inputs.kernelVersion));

  const vmlinuz = path.join(kernelRoot, 'boot', `vmlinuz-${inputs.kernelVersion}`);
  const kernelFormat = await step('unpack kernel', () => prepareKernel(vmlinuz, path.join(buildDir, FILES.kernel), path.join(work, 'kernel.payload')));
  await step('build initramfs', () =>
    buildInitramfs({
      overlayDir: path.join(SOURCE_DIR, 'guest', 'initramfs'),
      moduleTree,
      kernelVersion: inputs.kernelVersion,
      modules: modules.initramfs,
      stagingDir: path.join(work, 'initramfs'),
      output: path.join(buildDir, FILES.initrd),
    }),
  );
  const rootDir = path.join(work, 'rootfs');
  await step('build root file system', () =>
    buildRootDirectory({
      overlayDir: path.join(SOURCE_DIR, 'guest', 'rootfs'),
      moduleTree,
      kernelVersion: inputs.kernelVersion,
      shippedModules: modules.shipped,
      qemuGaLibraries: inputs.qemuGaLibraries,
      rootDir,
    }),
  );
  const diskVirtualSizeBytes = await step('make root disk', () => makeRootDisk(rootDir, path.join(work, 'root.ext4'), path.join(buildDir, FILES.disk)));
  await rm(work, { recursive: true, force: true });

  const manifest: TinyManifest = {
    inputsHash,
    kernelVersion: inputs.kernelVersion,
    kernelFormat,
    packages: inputs.packages,
    builtAt: new Date().toISOString(),
    diskVirtualSizeBytes,
  };
  await writeFile(path.join(buildDir, FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Where downloaded .deb files are kept between builds. */
export function debCacheDir(): string {
  return path.join(cacheDir(), 'debs');
}

/** Hashes the package versions and the builder's own sources and guest files. */
export async function computeInputsHash(inputs: TinyInputs): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ format: FORMAT_VERSION, cmdline: TINY_CMDLINE, packages: inputs.packages }));
  const sources = [...BUILDER_SOURCES, ...(await listFiles(path.join(SOURCE_DIR, 'guest'))).map((file) => path.relative(SOURCE_DIR, file))];
  for (const source of sources.sort()) {
    hash.update(`\0${source}\0`);
    hash.update(await readFile(path.join(SOURCE_DIR, source)));
  }
  return hash.digest('hex');
}

/** Runs depmod over the extracted kernel and resolves the module sets of the initramfs and the root file system. */
async function planModules(kernelRoot: string, kernelVersion: string): Promise<Record<'initramfs' | 'shipped', KernelModule[]>> {
  const moduleTree = path.join(kernelRoot, 'lib', 'modules', kernelVersion);
  if (!(await stat(moduleTree).catch(() => null))?.isDirectory()) {
    throw new DroverError('IMAGE_BUILD_FAILED', `the kernel package has no lib/modules/${kernelVersion}`);
  }
  await run('depmod', ['-b', kernelRoot, kernelVersion], { errorCode: 'IMAGE_BUILD_FAILED' });
  const index: ModuleIndex = {
    modules: parseModulesDep(await readFile(path.join(moduleTree, 'modules.dep'), 'utf8')),
    builtin: parseModulesBuiltin(await readFile(path.join(moduleTree, 'modules.builtin'), 'utf8')),
  };
  return {
    initramfs: resolveModuleClosure(index, INITRAMFS_MODULES, INITRAMFS_OPTIONAL_MODULES),
    shipped: resolveModuleClosure(index, ROOTFS_MODULES, ROOTFS_OPTIONAL_MODULES),
  };
}

async function listFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(full)));
    else files.push(full);
  }
  return files;
}

function imageAt(dir: string, manifest: TinyManifest): TinyImage {
  return {
    dir,
    kernel: path.join(dir, FILES.kernel),
    initrd: path.join(dir, FILES.initrd),
    disk: path.join(dir, FILES.disk),
    cmdline: TINY_CMDLINE,
    manifest,
  };
}

function parseManifest(value: unknown): TinyManifest {
  // Read as partial so each field can be checked; the final cast is justified by those checks.
  const m = value as Partial<TinyManifest> | null;
  const valid =
    typeof m?.inputsHash === 'string' &&
    typeof m.kernelVersion === 'string' &&
    (m.kernelFormat === 'pvh' || m.kernelFormat === 'bzimage') &&
    typeof m.builtAt === 'string' &&
    typeof m.diskVirtualSizeBytes === 'number' &&
    isPackageMap(m.packages);
  if (!valid) throw new DroverError('IMAGE_BUILD_FAILED', 'manifest.json is malformed');
  return m as TinyManifest;
}

