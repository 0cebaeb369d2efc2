/**
 * Each unprivileged container gets its own block of 65536 host ids for its user namespace, from the range
 * /etc/subuid and /etc/subgid give root (setup reserves it). The blocks in use are kept in a file beside the
 * containers' runtime directories, so a restarted agent hands out the same ones.
 */
import fs from 'node:fs';
import { DroverError } from '../../shared/errors.js';
import { ID_RANGE_SIZE } from './bundle.js';

/** The subordinate range root holds in `file` (`root:START:COUNT`), or undefined. */
export function subordinateRange(file: string, user = 'root'): { start: number; count: number } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [name, start, count] = line.trim().split(':');
    if (name === user && start && count && Number(count) >= ID_RANGE_SIZE) return { start: Number(start), count: Number(count) };
  }
  return undefined;
}

export class IdRanges {
  constructor(
    private readonly file: string,
    private readonly subuid = '/etc/subuid',
    private readonly subgid = '/etc/subgid',
  ) {}

  /** The first host id of `id`'s block, allocating the lowest free block the first time. */
  allocate(id: string): number {
    const range = this.range();
    const taken = this.read();
    if (taken[id] !== undefined) return range.start + taken[id] * ID_RANGE_SIZE;
    const used = new Set(Object.values(taken));
    const slots = Math.floor(range.count / ID_RANGE_SIZE);
    let slot = 0;
    while (used.has(slot)) slot++;
    if (slot >= slots) throw new DroverError('CONTAINER_ID_RANGES_EXHAUSTED', `all ${slots} id blocks of root's subordinate range are in use`);
    this.write({ ...taken, [id]: slot });
    return range.start + slot * ID_RANGE_SIZE;
  }

  /** Gives `id`'s block back. */
  release(id: string): void {
    const taken = this.read();
    if (taken[id] === undefined) return;
    delete taken[id];
    this.write(taken);
  }

  /** Root's subordinate uid range, which must equal its gid range; DEPENDENCY_MISSING when there is none. */
  range(): { start: number; count: number } {
    const uid = subordinateRange(this.subuid);
    const gid = subordinateRange(this.subgid);
    if (!uid || !gid || uid.start !== gid.start || uid.count !== gid.count) {
      throw new DroverError(
        'DEPENDENCY_MISSING',
        `unprivileged containers need the same range for root in ${this.subuid} and ${this.subgid}, e.g. root:1000000000:655360000 (scripts/setup adds it)`,
      );
    }
    return uid;
  }

  private read(): Record<string, number> {
    try {
      return JSON.parse(fs.readFileSync(this.file, 'utf8')) as Record<string, number>;
    } catch {
      return {};
    }
  }

  private write(content: Record<string, number>): void {
    fs.writeFileSync(`${this.file}.tmp`, JSON.stringify(content));
    fs.renameSync(`${this.file}.tmp`, this.file);
  }
}
