import { DroverError } from './errors.js';

/** The one rule for user-chosen names (VMs, images, snapshots, hosts…): DNS-label-like, lowercase. */
export const NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;

/** True when `name` follows NAME_PATTERN. */
export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && NAME_PATTERN.test(name);
}

/** Throws INVALID_NAME unless `name` follows NAME_PATTERN; `kind` ("image", "snapshot"…) goes into the detail. */
export function validateName(kind: string, name: unknown): asserts name is string {
  if (isValidName(name)) return;
  const shown = typeof name === 'string' ? JSON.stringify(name.length > 70 ? `${name.slice(0, 70)}…` : name) : typeof name;
  throw new DroverError('INVALID_NAME', `${kind} name ${shown}`);
}

/** One tag: `key=value` or a plain `key`. */
export const TAG_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}(=[A-Za-z0-9._/:@+-]{0,253})?$/;
