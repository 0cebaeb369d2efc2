import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The repository root (where package.json lives), found from this file's location in src/ or dist/. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Machine-wide cache for built artefacts such as the tiny guest image; DROVER_CACHE_DIR overrides. */
export function cacheDir(): string {
  return process.env.DROVER_CACHE_DIR ?? '/var/cache/drover';
}

/** Default data directory for a controller or agent; DROVER_DATA_DIR overrides. */
export function defaultDataDir(): string {
  return process.env.DROVER_DATA_DIR ?? '/var/lib/drover';
}

/** Where the built tiny guest image lives (kernel, initrd, root disk, manifest). */
export function tinyImageDir(): string {
  return path.join(cacheDir(), 'images', 'tiny');
}

/** Where the recipe `name` (e.g. tiny-ct) keeps its built image: `<cacheDir>/images/<name>/`. */
export function builtImageDir(name: string): string {
  return path.join(cacheDir(), 'images', name);
}
