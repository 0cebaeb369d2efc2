import fs from 'node:fs';

const CLOCK_TICKS = 100;

/** CPU time and resident memory of process `pid` from /proc (zero when it is gone). */
export function processUsage(pid: number): { cpuSeconds: number; rssBytes: number } {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the state letter: utime and stime are fields 11 and 12, rss (pages) is field 21.
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    const rssBytes = Number(fields[21]) * 4096;
    return { cpuSeconds, rssBytes };
  } catch {
    return { cpuSeconds: 0, rssBytes: 0 };
  }
}
