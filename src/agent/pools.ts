/**
 * The storage pools this host reaches, proven rather than assumed: its own data directory is the
 * `local` pool, and a `--shared-storage` directory is a `shared` pool named by the identity in a
 * marker file there. The first host to use a directory writes the marker; every host that reads the
 * same identity back, and can write and read a probe file beside it, reaches the same pool. Two
 * hosts given different directories therefore report different pools, whatever the paths are called.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** A pool as the agent reports it. */
export interface ReportedPool {
  name: string;
  kind: 'local' | 'shared';
}

/** The marker file naming a shared directory's pool. */
export const POOL_MARKER = '.drover-pool.json';

/** The local pool's name for host `hostName`; the controller names it the same way. */
export function localPoolName(hostName: string): string {
  return `local:${hostName}`;
}

/** Reads (or first writes) the marker in `dir` and proves the directory is writable; the pool, or undefined when the directory cannot be used. */
export function sharedPool(dir: string): ReportedPool | undefined {
  try {
    const marker = path.join(dir, POOL_MARKER);
    try {
      // 'wx' fails when the marker exists, so two hosts starting together agree on the first identity written.
      fs.writeFileSync(marker, `${JSON.stringify({ id: crypto.randomUUID() })}\n`, { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const { id } = JSON.parse(fs.readFileSync(marker, 'utf8')) as { id?: unknown };
    if (typeof id !== 'string' || !/^[0-9a-f-]{36}$/.test(id)) return undefined;
    const probe = path.join(dir, `.drover-probe-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
    const nonce = crypto.randomBytes(8).toString('hex');
    fs.writeFileSync(probe, nonce);
    const readBack = fs.readFileSync(probe, 'utf8');
    fs.rmSync(probe, { force: true });
    if (readBack !== nonce) return undefined;
    return { name: `shared:${id.slice(0, 8)}`, kind: 'shared' };
  } catch {
    return undefined;
  }
}
