/** What every migration variant shares: the busy workload, the shape of one measured migration, and the "never converged" outcome. */
import { GuestAgentClient } from '../../src/guest-agent/client.js';

/** Raw QEMU and libvirt with their default settings get this long to converge on the busy guest before they are cancelled. */
export const BUSY_BOUND_MS = 60_000;
/** The busy workload from tests/system/migration.test.ts: 48 MiB of random bytes rewritten into the same pages in a loop. */
export const BUSY_SETUP = 'dd if=/dev/urandom of=/dev/shm/random bs=1M count=48 2>/dev/null';
export const BUSY_LOOP = "sh -c 'while :; do dd if=/dev/shm/random of=/dev/shm/x bs=1M conv=notrunc 2>/dev/null; done' </dev/null >/dev/null 2>&1 &";

export type Load = 'idle' | 'busy';

/** One migration's figures. */
export interface Measured {
  /** The migration's total time as the tool itself reports it (QEMU's total-time, or libvirt's job "Time elapsed"). */
  totalMs: number;
  /** The downtime as the tool itself reports it (QEMU's downtime, or libvirt's job "Total downtime"). */
  downtimeMs: number;
  /** Wall clock from asking for the migration (destination not yet started) until the destination runs the guest. */
  wallMs: number;
  /** From the source pausing the guest until it runs on the destination, when the variant can tell. */
  pausedMs?: number;
  detail: string;
}

/** A run that ended without a figure on purpose: the migration did not converge within the bound and was cancelled. */
export class DidNotConverge extends Error {}

/** Starts the busy workload through the guest agent socket at `socket`; resolves once it runs (plus 2 s to settle). */
export async function startBusyWorkload(socket: string): Promise<void> {
  const agent = await GuestAgentClient.connect(socket, { timeoutMs: 30_000 });
  try {
    for (const script of [BUSY_SETUP, BUSY_LOOP]) {
      const res = await agent.exec('/bin/sh', ['-c', script], { timeoutMs: 120_000 });
      if (res.exitCode !== 0) throw new Error(`guest command failed (${res.exitCode}): ${script}: ${res.stderr}`);
    }
  } finally {
    agent.close();
  }
  await new Promise((resolve) => setTimeout(resolve, 2_000));
}

/** The message of any thrown value. */
export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
