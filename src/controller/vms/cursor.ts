/**
 * The `after` cursor of GET /vms pages: opaque to clients (base64url of a versioned name), so the
 * order it encodes can change without breaking a client that only passes back what it was given.
 */
import { DroverError } from '../../shared/errors.js';

const PREFIX = 'vm1:';

/** The cursor of the page that follows the VM named `lastName`. */
export function encodeVmCursor(lastName: string): string {
  return Buffer.from(`${PREFIX}${lastName}`, 'utf8').toString('base64url');
}

/** The name a cursor from `encodeVmCursor` holds; INVALID_ARGUMENT for anything else. */
export function decodeVmCursor(cursor: string): string {
  const decoded = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const name = decoded.startsWith(PREFIX) ? decoded.slice(PREFIX.length) : '';
  // Re-encoding catches text that base64url decoding silently skipped or mangled.
  if (name === '' || encodeVmCursor(name) !== cursor) throw new DroverError('INVALID_ARGUMENT', 'after: not a cursor from a previous page (pass its `next` as it was)');
  return name;
}
