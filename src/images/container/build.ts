/**
 * Builds system-container images from a recipe (tiny-ct, debian-12-ct): the recipe fills a root directory,
 * this module empties what must not travel in an image (machine-id, resolv.conf, /dev) and packs it as a bare
 * ext4 file system in a qcow2 file. The result is cached in `<cacheDir>/images/<name>/` and rebuilt only when
 * the recipe's inputs change.
 */
import { buildStepError, buildSteps, isPackageMap, readBuiltManifest, type Step } from '../build-support.js';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../shared/exec.js';
import { DroverError, isDroverError } from '../../shared/errors.js';
import { repoRoot } from '../../shared/paths.js';
import type { ContainerSettings } from '../library.js';
import { buildPathFor, removeAbandonedBuilds, replaceDirectory, withDirectoryLock } from '../tiny/directory.js';
import { makeContainerDisk, prepareImageRoot } from './root.js';

/** A step of a build: named in progress lines and in the error when it fails. */

/** What a recipe is made from, resolved without building anything. */
export interface RecipeInputs {
  /** Versions and settings that change the image (hashed as JSON). */
  hashed: Record<string, unknown>;
  /** Files of the recipe (absolute paths) whose content changes the image: its sources and guest files. */
  sourceFiles: string[];
}

/** One way of building a container image; recipes are listed in recipes.ts. */
export interface ContainerRecipe {
  /** The image's name: the library name and the cache directory's name. */
  name: string;
  /** The image's notes in the library. */
  osNotes: string;
  container: ContainerSettings;
  /** The name written to /etc/hostname (the driver replaces it at start). */
  hostname: string;
  resolveInputs(): Promise<RecipeInputs>;
  /** Fills the directory `rootDir`, which does not exist yet, with the root file system; returns the Debian package versions it holds. */
  buildRoot(rootDir: string, step: Step): Promise<Record<string, string>>;
}

export interface ContainerManifest {
  recipe: string;
  inputsHash: string;
  container: ContainerSettings;
  osNotes: string;
  /** Debian package name -> version, of the packages the image was built from. */
  packages: Record<string, string>;
  builtAt: string;
  buildSeconds: number;
  diskVirtualSizeBytes: number;
  /** Free space of the image's file system right after the build. */
  freeBytes: number;
}

export interface ContainerImageBuild {
  name: string;
  dir: string;
  /** The qcow2 holding the bare ext4 root file system; register or copy it, never run a container on it in place. */
  disk: string;
  manifest: ContainerManifest;
}

const FILES = { disk: 'root.qcow2', manifest: 'manifest.json' } as const;
/** Bump when the image layout changes in a way the hashed sources do not show. */
const FORMAT_VERSION = 1;
const SOURCE_DIR = path.join(repoRoot, 'src', 'images', 'container');
/** This builder's own sources, part of every recipe's inputs. */
const BUILDER_SOURCES = ['build.ts', 'root.ts'].map((file) => path.join(SOURCE_DIR, file));

/** The guest overlay directory of a recipe: `src/images/container/guest/<name>/`. */
export function guestDir(name: string): string {
  return path.join(SOURCE_DIR, 'guest', name);
}

/** A source file of the container recipes, by its path relative to src/images/ (the compiled code runs from dist/). */
export function imageSource(relative: string): string {
  return path.join(repoRoot, 'src', 'images', relative);
}

/** Every file under `dir` (absolute paths); none when it does not exist. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  const files: string[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(full)));
    else files.push(full);
  }
  return files;
}

/** Returns the image in `outDir`, or null when it is missing or incomplete (it may still be stale). */
export async function loadContainerImage(outDir: string): Promise<ContainerImageBuild | null> {
  const manifest = await readBuiltManifest(path.join(outDir, FILES.manifest), parseManifest);
  if (!manifest) return null;
  const image = imageAt(outDir, manifest);
  const info = await stat(image.disk).catch(() => null);
  return info?.isFile() && info.size > 0 ? image : null;
}

/**
 * Returns the image of `recipe` in `outDir`, building it first unless one built from the same inputs is there (or
 * `force`). Needs root: the image's files must be owned by uid 0. Builds beside `outDir` and renames into place, so
 * a failed build leaves the old image.
 */
export async function buildContainerImage(
  recipe: ContainerRecipe,
  opts: { outDir: string; force?: boolean; onProgress?: (step: string) => void },
): Promise<ContainerImageBuild> {
  const outDir = path.resolve(opts.outDir);
  const step = buildSteps(opts.onProgress);
  const inputs = await step('resolve inputs', () => recipe.resolveInputs());
  const inputsHash = await step('hash inputs', () => computeInputsHash(recipe, inputs));
  const current = async (): Promise<ContainerImageBuild | null> => {
    const existing = opts.force ? null : await loadContainerImage(outDir);
    return existing?.manifest.inputsHash === inputsHash && existing.manifest.recipe === recipe.name ? existing : null;
  };
  const cached = await current();
  if (cached) return cached;
  if (process.getuid?.() !== 0) {
    throw new DroverError('IMAGE_BUILD_FAILED', `building ${recipe.name} needs root: the image's files must be owned by uid 0`);
  }

  await step('prepare image directory', () => mkdir(path.dirname(outDir), { recursive: true }));
  return withDirectoryLock(outDir, async () => {
    // Another process may have built the same image while this one waited for the lock.
    const builtMeanwhile = await current();
    if (builtMeanwhile) return builtMeanwhile;
    // A builder killed mid-mmdebstrap leaves the host's /dev nodes, /proc and /sys mounted in its root directory.
    await step('remove abandoned builds', async () => {
      await unmountUnder(`${outDir}.build-`);
      await removeAbandonedBuilds(outDir);
    });
    const buildDir = buildPathFor(outDir);
    try {
      const manifest = await buildInto(buildDir, recipe, inputsHash, step);
      await step('install image', () => replaceDirectory(buildDir, outDir));
      return imageAt(outDir, manifest);
    } catch (err) {
      await unmountUnder(`${buildDir}/`);
      await rm(buildDir, { recursive: true, force: true });
      throw err;
    }
  }).catch((err: unknown) => {
    throw isDroverError(err) ? err : buildStepError('lock image directory', err);
  });
}

/** Builds the disk, then the manifest, into the new directory `buildDir`. */
async function buildInto(buildDir: string, recipe: ContainerRecipe, inputsHash: string, step: Step): Promise<ContainerManifest> {
  const started = Date.now();
  const work = path.join(buildDir, 'work');
  await mkdir(work, { recursive: true });
  const rootDir = path.join(work, 'rootfs');
  const packages = await recipe.buildRoot(rootDir, step);
  await step('clear host and machine identity', () => prepareImageRoot(rootDir, recipe.hostname));
  const disk = await step('make root disk', () => makeContainerDisk(rootDir, path.join(work, 'root.ext4'), path.join(buildDir, FILES.disk)));
  await step('remove build files', () => rm(work, { recursive: true, force: true }));

  const manifest: ContainerManifest = {
    recipe: recipe.name,
    inputsHash,
    container: recipe.container,
    osNotes: recipe.osNotes,
    packages,
    builtAt: new Date().toISOString(),
    buildSeconds: Math.round((Date.now() - started) / 100) / 10,
    diskVirtualSizeBytes: disk.virtualSizeBytes,
    freeBytes: disk.freeBytes,
  };
  await writeFile(path.join(buildDir, FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Hashes the recipe's settings and inputs, this builder's sources and the recipe's own files. */
export async function computeInputsHash(recipe: ContainerRecipe, inputs: RecipeInputs): Promise<string> {
  const hash = createHash('sha256');
  const settings = { format: FORMAT_VERSION, recipe: recipe.name, container: recipe.container, hostname: recipe.hostname, inputs: inputs.hashed };
  hash.update(JSON.stringify(settings));
  for (const source of [...new Set([...BUILDER_SOURCES, ...inputs.sourceFiles])].sort()) {
    hash.update(`\0${path.relative(repoRoot, source)}\0`);
    hash.update(await readFile(source));
  }
  return hash.digest('hex');
}

/** Unmounts (lazily, deepest first) every mount point whose path starts with `prefix`, so removing a build directory never reaches into the host's file systems. */
async function unmountUnder(prefix: string): Promise<void> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point): point is string => point !== undefined && point.startsWith(prefix));
  for (const point of [...new Set(points)].sort((a, b) => b.length - a.length)) {
    await run('umount', ['--lazy', point], { allowFailure: true });
  }
}

function imageAt(dir: string, manifest: ContainerManifest): ContainerImageBuild {
  return { name: manifest.recipe, dir, disk: path.join(dir, FILES.disk), manifest };
}

function parseManifest(value: unknown): ContainerManifest {
  // Read as partial so each field can be checked; the final cast is justified by those checks.
  const m = value as Partial<ContainerManifest> | null;
  const valid =
    typeof m?.recipe === 'string' &&
    typeof m.inputsHash === 'string' &&
    typeof m.osNotes === 'string' &&
    typeof m.builtAt === 'string' &&
    typeof m.buildSeconds === 'number' &&
    typeof m.diskVirtualSizeBytes === 'number' &&
    typeof m.freeBytes === 'number' &&
    Array.isArray(m.container?.init) &&
    typeof m.container.stopSignal === 'string' &&
    isPackageMap(m.packages);
  if (!valid) throw new DroverError('IMAGE_BUILD_FAILED', 'manifest.json is malformed');
  return m as ContainerManifest;
}

