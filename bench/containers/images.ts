/**
 * The container images the benchmark starts, read from the image cache (`drover image build tiny-ct|debian-12-ct`
 * writes them there): a qcow2 whose content is a bare ext4 filesystem, and a manifest naming init and its stop signal.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir } from '../../src/shared/paths.js';

export const CONTAINER_IMAGE_NAMES = ['tiny-ct', 'debian-12-ct'] as const;
export type ContainerImageName = (typeof CONTAINER_IMAGE_NAMES)[number];

export interface ContainerImage {
  name: ContainerImageName;
  /** The cached qcow2; every guest gets a linked-clone overlay of it. */
  disk: string;
  init: string[];
  stopSignal: string;
  /** True for an image whose init is systemd: it needs its own writable cgroup and takes a while to settle. */
  systemd: boolean;
}

/** The cached image, or the reason it cannot be used (then the parts that need it are skipped, saying so). */
export function loadContainerImage(name: ContainerImageName): ContainerImage | { missing: string } {
  const dir = path.join(cacheDir(), 'images', name);
  const disk = path.join(dir, 'root.qcow2');
  const manifestFile = path.join(dir, 'manifest.json');
  if (!fs.existsSync(disk) || !fs.existsSync(manifestFile)) {
    return { missing: `no cached ${name} image in ${dir}; build it with \`./bin/drover image build ${name}\`` };
  }
  try {
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as { container?: { init?: string[]; stopSignal?: string } };
    const init = manifest.container?.init;
    const stopSignal = manifest.container?.stopSignal;
    if (!init?.length || !stopSignal) return { missing: `${manifestFile} names no container init and stop signal` };
    return { name, disk, init, stopSignal, systemd: name === 'debian-12-ct' };
  } catch (err) {
    return { missing: `${manifestFile}: ${(err as Error).message}` };
  }
}
