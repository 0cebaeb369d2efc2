/**
 * Where a boot's time goes, read from the guest after its agent answered: the kernel log holds the kernel's own
 * "Run /init" line and the marks the tiny image's /init and rcS write (`drover-initramfs: switching ...`,
 * `drover-guest: guest agent started`), all in guest time; /proc/uptime, read right after, ties guest time to the
 * wall clock of the run.
 */
import { GuestAgentClient } from '../../src/guest-agent/client.js';

/** The phases of one boot, in milliseconds; they add up to the whole boot. */
export interface BootPhases {
  /** QEMU's start, the firmware, and loading the kernel and initramfs: from spawn until the kernel's clock starts. */
  firmwareAndLoading: number;
  /** The kernel's own initialization, until it runs /init. */
  kernelToInit: number;
  /** The initramfs: storage drivers, finding and mounting the root disk. */
  initramfs: number;
  /** The root file system's rcS until qemu-ga runs. */
  userspaceToAgentStart: number;
  /** qemu-ga's own start until it answered the first guest-ping. */
  agentStartToAnswer: number;
}

export const PHASE_LABELS: Record<keyof BootPhases, string> = {
  firmwareAndLoading: 'QEMU, firmware and kernel loading',
  kernelToInit: 'kernel to init',
  initramfs: 'initramfs (drivers, root disk)',
  userspaceToAgentStart: 'userspace until qemu-ga starts',
  agentStartToAnswer: 'qemu-ga start until it answers',
};

/** Guest-time seconds of each mark in a kernel log, by the text that identifies it. */
const MARKS = {
  init: /Run \/init as init process/,
  switchRoot: /drover-initramfs: switching to the root file system/,
  agentStart: /drover-guest: guest agent started/,
} as const;

/** Reads the kernel log's marks from `dmesg` output; throws naming a mark that is missing. */
export function parseMarks(dmesg: string): Record<keyof typeof MARKS, number> {
  const found: Partial<Record<keyof typeof MARKS, number>> = {};
  for (const line of dmesg.split('\n')) {
    const time = /^\[\s*(\d+\.\d+)\]/.exec(line)?.[1];
    if (time === undefined) continue;
    for (const [name, pattern] of Object.entries(MARKS) as [keyof typeof MARKS, RegExp][]) {
      if (found[name] === undefined && pattern.test(line)) found[name] = Number(time);
    }
  }
  for (const name of Object.keys(MARKS) as (keyof typeof MARKS)[]) {
    if (found[name] === undefined) throw new Error(`the guest's kernel log has no ${name} mark (${MARKS[name].source})`);
  }
  return found as Record<keyof typeof MARKS, number>;
}

/**
 * The phases of a boot whose QEMU was spawned at `spawnedAt` and whose agent answered at `answeredAt` (both
 * performance.now() in ms), read through the agent at `socket`.
 */
export async function readBootPhases(socket: string, spawnedAt: number, answeredAt: number): Promise<BootPhases> {
  const agent = await GuestAgentClient.connect(socket, { timeoutMs: 30_000 });
  try {
    const before = performance.now();
    const uptime = (await agent.fileRead('/proc/uptime')).toString('utf8');
    // The file is read somewhere inside the call's round trips: take the middle.
    const readAt = (before + performance.now()) / 2;
    const uptimeSeconds = Number(uptime.split(/\s+/)[0]);
    if (!Number.isFinite(uptimeSeconds)) throw new Error(`unexpected /proc/uptime: ${uptime}`);
    const dmesg = await agent.exec('/bin/dmesg');
    const marks = parseMarks(dmesg.stdout);
    const kernelStartedAt = readAt - uptimeSeconds * 1000;
    const wall = (guestSeconds: number): number => kernelStartedAt + guestSeconds * 1000;
    return {
      firmwareAndLoading: kernelStartedAt - spawnedAt,
      kernelToInit: marks.init * 1000,
      initramfs: (marks.switchRoot - marks.init) * 1000,
      userspaceToAgentStart: (marks.agentStart - marks.switchRoot) * 1000,
      agentStartToAnswer: answeredAt - wall(marks.agentStart),
    };
  } finally {
    agent.close();
  }
}
