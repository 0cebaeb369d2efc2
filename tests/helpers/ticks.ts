/**
 * Watching a guest across a live migration: a console ticker, a recorder that follows the serial
 * logs on both hosts, and the QEMU processes that run a VM anywhere on this machine.
 */
import fs from 'node:fs';

/** A guest command: the serial console prints a numbered tick every 100 ms (busybox usleep). */
export const TICKER = "sh -c 'i=0; while :; do echo tick-$i; i=$((i+1)); usleep 100000; done' </dev/null >/dev/console 2>&1 &";

/** Pids of every QEMU on this machine whose command line names VM `id`'s runtime directory. */
export function qemuPidsFor(id: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('qemu-system') && cmdline.includes(`/run/${id}/`)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** Follows serial logs and stamps each new tick line with the host time it appeared (files may vanish: fds are kept). */
export class TickRecorder {
  readonly ticks: Array<{ n: number; at: number; host: string }> = [];
  private readonly sources: Array<{ host: string; file: string; fd?: number; offset: number; partial: string }> = [];
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.timer = setInterval(() => this.poll(), 25);
  }

  follow(host: string, file: string): void {
    this.sources.push({ host, file, offset: fs.existsSync(file) ? fs.statSync(file).size : 0, partial: '' });
  }

  stop(): void {
    this.poll();
    clearInterval(this.timer);
    for (const s of this.sources) if (s.fd !== undefined) fs.closeSync(s.fd);
  }

  /** The longest time between two consecutive ticks, and tick numbers missing from the sequence. */
  summary(): { maxGapMs: number; missing: number[]; first: number; last: number } {
    const sorted = [...this.ticks].sort((x, y) => x.n - y.n);
    let maxGapMs = 0;
    const missing: number[] = [];
    for (let i = 1; i < sorted.length; i++) {
      const [prev, cur] = [sorted[i - 1]!, sorted[i]!];
      maxGapMs = Math.max(maxGapMs, cur.at - prev.at);
      for (let n = prev.n + 1; n < cur.n; n++) missing.push(n);
    }
    return { maxGapMs, missing, first: sorted[0]?.n ?? -1, last: sorted.at(-1)?.n ?? -1 };
  }

  private poll(): void {
    const now = Date.now();
    for (const s of this.sources) {
      if (s.fd === undefined) {
        if (!fs.existsSync(s.file)) continue;
        s.fd = fs.openSync(s.file, 'r');
      }
      const buf = Buffer.alloc(65536);
      let n: number;
      while ((n = fs.readSync(s.fd, buf, 0, buf.length, s.offset)) > 0) {
        s.offset += n;
        const lines = (s.partial + buf.subarray(0, n).toString()).split('\n');
        s.partial = lines.pop() ?? '';
        for (const line of lines) {
          const m = /tick-(\d+)/.exec(line);
          if (m) this.ticks.push({ n: Number(m[1]), at: now, host: s.host });
        }
      }
    }
  }
}
