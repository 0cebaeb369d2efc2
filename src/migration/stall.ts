/**
 * Notices a transfer that has stopped moving. A network that drops mid-migration does not fail
 * QEMU's socket: the send just blocks while TCP retries for many minutes, so without this the
 * migration would hang instead of rolling back.
 */
import { DroverError } from '../shared/errors.js';

/** How long a pre-copy migration or disk copy may move no data before it is rolled back. */
export const DEFAULT_STALL_MS = 20_000;

/** Watches a count of bytes sent; `observe` throws MIGRATION_STALLED once it has not changed for `limitMs`. */
export class StallWatch {
  private last: number | undefined;
  private since: number;

  constructor(
    private readonly limitMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.since = now();
  }

  /** Takes the bytes sent so far; throws MIGRATION_STALLED when they have not changed for the limit. */
  observe(bytes: number, what: string): void {
    const at = this.now();
    if (bytes !== this.last) {
      this.last = bytes;
      this.since = at;
      return;
    }
    if (at - this.since >= this.limitMs) {
      throw new DroverError('MIGRATION_STALLED', `no ${what} reached the destination for ${Math.round((at - this.since) / 1000)} s; the network to it may be down`);
    }
  }
}
