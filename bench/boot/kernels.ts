/** Debian's compressed kernel, as the tiny image would boot it without unpacking, for the configurations compared. */
import fs from 'node:fs';
import path from 'node:path';
import { debCacheDir } from '../../src/images/tiny/build.js';
import { fetchDeb } from '../../src/images/tiny/packages.js';
import type { BenchmarkContext } from '../lib/types.js';
import { runChecked } from '../lib/process.js';

/** Writes the image's kernel as Debian ships it (the bzImage from the cached kernel package) into `dir`; returns its path. */
export async function debianBzImage(ctx: BenchmarkContext, dir: string): Promise<string> {
  const { kernelVersion, packages } = ctx.tiny.manifest;
  const pkg = `linux-image-${kernelVersion}`;
  const version = packages[pkg];
  if (!version) throw new Error(`the tiny image's manifest names no version of ${pkg}`);
  const deb = await fetchDeb(pkg, version, debCacheDir());
  const extracted = path.join(dir, 'kernel-package');
  fs.mkdirSync(extracted, { recursive: true });
  await runChecked('dpkg-deb', ['-x', deb, extracted]);
  const bzImage = path.join(dir, 'vmlinuz');
  fs.renameSync(path.join(extracted, 'boot', `vmlinuz-${kernelVersion}`), bzImage);
  fs.rmSync(extracted, { recursive: true, force: true });
  return bzImage;
}
