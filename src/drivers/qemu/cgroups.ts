import fs from 'node:fs';
import path from 'node:path';

const PERIOD_US = 100_000;

/** The cgroup directory Drover uses to cap one VM's CPU; v2 unified or v1 `cpu` controller. */
function cgroupDir(id: string): { dir: string; version: 1 | 2 } | undefined {
  if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) return { dir: `/sys/fs/cgroup/drover/${id}`, version: 2 };
  if (fs.existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')) return { dir: `/sys/fs/cgroup/cpu/drover/${id}`, version: 1 };
  return undefined;
}

/**
 * Puts `pid` in a per-VM cgroup capped at `percent` of one host core (100 = one core).
 * Returns false when this host offers no writable CPU controller.
 */
export function applyCpuLimit(id: string, pid: number, percent: number): boolean {
  const cg = cgroupDir(id);
  if (!cg) return false;
  try {
    fs.mkdirSync(cg.dir, { recursive: true });
    const quota = Math.max(1000, Math.round((PERIOD_US * percent) / 100));
    if (cg.version === 2) {
      fs.writeFileSync(path.join(path.dirname(cg.dir), 'cgroup.subtree_control'), '+cpu');
      fs.writeFileSync(path.join(cg.dir, 'cpu.max'), `${quota} ${PERIOD_US}`);
    } else {
      fs.writeFileSync(path.join(cg.dir, 'cpu.cfs_period_us'), String(PERIOD_US));
      fs.writeFileSync(path.join(cg.dir, 'cpu.cfs_quota_us'), String(quota));
    }
    // cgroup.procs moves every thread of QEMU at once, in v1 and v2 alike; new threads inherit it.
    fs.writeFileSync(path.join(cg.dir, 'cgroup.procs'), String(pid));
    return true;
  } catch {
    return false;
  }
}

/** Removes the per-VM cgroup once its QEMU has exited. */
export function removeCpuLimit(id: string): void {
  const cg = cgroupDir(id);
  if (!cg) return;
  try {
    fs.rmdirSync(cg.dir);
  } catch {
    // Already gone, or still has tasks from a QEMU that is exiting; the next start reuses it.
  }
}
