/** The one guest every boot variant starts, and the readiness check every variant ends on. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GuestAgentClient } from '../../src/guest-agent/client.js';
import type { TinyImage } from '../../src/images/tiny/build.js';
import type { DeviceModel } from '../../src/vms/spec.js';
import { onInterrupt } from '../lib/cleanup.js';
import { runChecked } from '../lib/process.js';
import type { BootPhases } from './breakdown.js';

/** Guest size for every variant; memoryMiB and cpus are also Drover's defaults for a new VM. */
export const GUEST = { memoryMiB: 256, cpus: 1 } as const;

/** Which device model each variant boots with, and how it is named in variant names and labels. */
export const DEVICE_LABELS: Record<DeviceModel, string> = { virtio: 'virtio', emulated: 'emulated IDE + e1000' };

/** One boot: milliseconds from the start request to the guest agent answering, and where they went when read. */
export interface BootSample {
  ms: number;
  phases?: BootPhases;
}

/** How long one boot may take before the run counts as failed (TCG on two cores is slow). */
export const BOOT_TIMEOUT_MS = 180_000;

/** One way of booting the tiny guest: prepared once, booted many times, closed at the end. */
export interface BootVariant {
  name: string;
  label: string;
  /** Sets up what every boot needs; throws VariantUnavailable when this machine cannot run the variant. */
  prepare: () => Promise<void>;
  /** Boots the guest once and times it from the start request to the guest agent answering; leaves nothing running. */
  boot: (run: number) => Promise<BootSample>;
  /** Releases what prepare() set up; safe after a failed prepare(). */
  close: () => Promise<void>;
  /** Facts worth recording with the result (e.g. the domain XML used). */
  notes: () => string[];
  /** The QEMU arguments of the last successful boot, when this variant knows them exactly. */
  qemuArgs?: () => string[];
}

/** The variant cannot run on this machine (as opposed to failing while it runs). */
export class VariantUnavailable extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'VariantUnavailable';
  }
}

/** The kernel command line Drover gives a VM created from `image` (see HostVmService.create). */
export function guestCmdline(image: TinyImage, vmName: string): string {
  return `${image.cmdline} drover.hostname=${vmName}`.trim();
}

/** A linked clone of `base`: a thin qcow2 overlay at `file`, as Drover makes for a VM's root disk. */
export async function createOverlay(base: string, file: string): Promise<void> {
  await runChecked('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', path.resolve(base), '-F', 'qcow2', file]);
}

/** A fresh directory for one variant's files (removed on interrupt too); short, because unix socket paths must fit in 108 bytes. */
export function makeWorkDir(variant: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `drover-bench-${variant}-`));
  // Registered first, so on interrupt it runs after the undos that stop processes using the directory.
  onInterrupt(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Resolves once the guest agent behind `socket` answers guest-ping; the same calls QemuDriver.waitReady makes,
 * so every variant ends on identical readiness detection.
 */
export async function waitForGuestAgent(socket: string, timeoutMs: number): Promise<void> {
  const agent = await GuestAgentClient.connect(socket, { timeoutMs });
  try {
    await agent.waitReady(timeoutMs);
  } finally {
    agent.close();
  }
}
