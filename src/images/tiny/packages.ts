/**
 * The Debian inputs of the tiny image: which kernel package `linux-image-amd64` points at,
 * the host's busybox-static and qemu-guest-agent, and the shared libraries qemu-ga needs.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { run } from '../../shared/exec.js';
import { DroverError } from '../../shared/errors.js';

const KERNEL_METAPACKAGE = 'linux-image-amd64';
export const BUSYBOX_BINARY = '/bin/busybox';
export const QEMU_GA_BINARY = '/usr/sbin/qemu-ga';
const HOST_PACKAGES = ['busybox-static', 'qemu-guest-agent'];

/** Everything the image is made from; its versions feed the inputs hash. */
export interface TinyInputs {
  kernelPackage: string;
  kernelPackageVersion: string;
  /** The kernel release, e.g. 6.1.0-56-amd64, as in /lib/modules. */
  kernelVersion: string;
  /** Debian package name -> version, for the kernel and every host package copied into the guest. */
  packages: Record<string, string>;
  /** Absolute host paths of qemu-ga's shared libraries, the dynamic loader included. */
  qemuGaLibraries: string[];
}

/** Resolves the kernel package and the host package versions without downloading anything. */
export async function resolveInputs(): Promise<TinyInputs> {
  const { kernelPackage, kernelPackageVersion } = await resolveKernelPackage();
  // Checking the packages first turns a missing qemu-ga into an "apt-get install" hint rather than an ldd error.
  const hostVersions = await installedVersions(HOST_PACKAGES);
  const qemuGaLibraries = await sharedLibraries(QEMU_GA_BINARY);
  const libraryVersions = await installedVersions(await owningPackages(qemuGaLibraries));
  return {
    kernelPackage,
    kernelPackageVersion,
    kernelVersion: kernelPackage.replace(/^linux-image-/, ''),
    packages: sortKeys({ ...hostVersions, ...libraryVersions, [kernelPackage]: kernelPackageVersion }),
    qemuGaLibraries,
  };
}

async function resolveKernelPackage(): Promise<{ kernelPackage: string; kernelPackageVersion: string }> {
  const depends = await run('apt-cache', ['depends', KERNEL_METAPACKAGE], { errorCode: 'IMAGE_BUILD_FAILED' });
  const kernelPackage = /Depends:\s*(linux-image-\d[^\s]*)/.exec(depends.stdout)?.[1];
  if (!kernelPackage) {
    throw new DroverError('IMAGE_BUILD_FAILED', `apt-cache depends ${KERNEL_METAPACKAGE} names no linux-image-N package; run apt-get update`);
  }
  const show = await run('apt-cache', ['show', '--no-all-versions', kernelPackage], { errorCode: 'IMAGE_BUILD_FAILED' });
  const kernelPackageVersion = /^Version:\s*(\S+)/m.exec(show.stdout)?.[1];
  if (!kernelPackageVersion) throw new DroverError('IMAGE_BUILD_FAILED', `apt-cache show ${kernelPackage} gave no version`);
  return { kernelPackage, kernelPackageVersion };
}

/** Lists the shared libraries `binary` loads (from ldd), the dynamic loader included. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary], { errorCode: 'DEPENDENCY_MISSING' });
  const libraries: string[] = [];
  for (const line of stdout.split('\n')) {
    if (line.includes('not found')) throw new DroverError('DEPENDENCY_MISSING', `ldd ${binary}: ${line.trim()}`);
    const resolved = /=>\s*(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(/.exec(line)?.[1];
    if (resolved) libraries.push(resolved);
  }
  if (!libraries.some((lib) => lib.includes('ld-linux'))) {
    throw new DroverError('IMAGE_BUILD_FAILED', `ldd ${binary} named no dynamic loader`);
  }
  return libraries;
}

/** Finds the Debian packages owning `files`; merged-/usr hosts register some files under the other prefix. */
async function owningPackages(files: string[]): Promise<string[]> {
  const queries = new Set<string>();
  for (const file of files) {
    for (const variant of [file, realpathSync(file)]) {
      queries.add(variant);
      queries.add(variant.startsWith('/usr/') ? variant.slice(4) : `/usr${variant}`);
    }
  }
  const { stdout } = await run('dpkg-query', ['-S', ...queries], { allowFailure: true });
  const owners = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const match = /^([^:,\s]+)(?::[a-z0-9]+)?: (\/.+)$/.exec(line);
    if (match?.[1] && match[2]) owners.set(match[2], match[1]);
  }
  const packages = new Set<string>();
  for (const file of files) {
    const real = realpathSync(file);
    const owner = [file, real, `/usr${file}`, file.replace(/^\/usr/, ''), real.replace(/^\/usr/, '')]
      .map((candidate) => owners.get(candidate))
      .find((name) => name !== undefined);
    if (!owner) throw new DroverError('IMAGE_BUILD_FAILED', `no Debian package owns ${file}`);
    packages.add(owner);
  }
  return [...packages];
}

async function installedVersions(packages: string[]): Promise<Record<string, string>> {
  const { stdout } = await run('dpkg-query', ['-W', '-f', '${Package}\t${Version}\t${db:Status-Abbrev}\n', ...packages], {
    allowFailure: true,
  });
  const versions: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const [name, version, status] = line.split('\t');
    if (name && version && status?.startsWith('ii')) versions[name] = version;
  }
  const missing = packages.filter((name) => versions[name] === undefined);
  if (missing.length > 0) {
    throw new DroverError('DEPENDENCY_MISSING', `host packages not installed: ${missing.join(', ')} (apt-get install ${missing.join(' ')})`);
  }
  return versions;
}

/** Returns the cached .deb of `pkg` at `version`, downloading it with apt-get into `debDir` if absent. */
export async function fetchDeb(pkg: string, version: string, debDir: string): Promise<string> {
  const fileName = `${pkg}_${version.replaceAll(':', '%3a')}_amd64.deb`;
  const cached = path.join(debDir, fileName);
  const present = await readdir(debDir).catch(() => [] as string[]);
  if (present.includes(fileName)) return cached;

  // apt-get download writes into the working directory; a private one keeps a half-download out of the cache.
  await mkdir(debDir, { recursive: true });
  const partial = path.join(debDir, `.partial-${process.pid}`);
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial);
  try {
    const download = await run('apt-get', ['download', `${pkg}=${version}`], { cwd: partial, timeoutMs: 600_000, allowFailure: true });
    if (download.code !== 0) {
      const reason = download.stderr.split('\n').filter((line) => line.startsWith('E:')).join(' ') || download.stderr.trim();
      throw new DroverError('IMAGE_BUILD_FAILED', `apt-get download ${pkg}=${version} failed (stale package lists? run apt-get update): ${reason}`);
    }
    const [downloaded] = (await readdir(partial)).filter((name) => name.endsWith('.deb'));
    if (!downloaded) throw new DroverError('IMAGE_BUILD_FAILED', `apt-get download ${pkg}=${version} produced no .deb`);
    await rename(path.join(partial, downloaded), cached);
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  // Older kernels' packages are dead weight once a newer one is cached.
  for (const stale of present.filter((name) => name.startsWith(`${pkg}_`) && name !== fileName)) {
    await rm(path.join(debDir, stale), { force: true });
  }
  return cached;
}

function sortKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}
