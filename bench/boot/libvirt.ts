/** Boot variant "libvirt": an equivalent transient domain started with `virsh create`. */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { macFor } from '../../src/vms/mac.js';
import type { BenchmarkContext } from '../lib/types.js';
import { onInterrupt } from '../lib/cleanup.js';
import { createDomain, destroyDomain, destroyDomainSync } from '../lib/libvirt.js';
import { BOOT_TIMEOUT_MS, GUEST, type BootVariant, VariantUnavailable, createOverlay, guestCmdline, makeWorkDir, waitForGuestAgent } from './guest.js';
import { QBOOT_PATH, domainXml } from './domain-xml.js';

/** Starts the domain through libvirtd and times it from invoking `virsh create` to the first guest-agent answer. */
export function libvirtVariant(ctx: BenchmarkContext): BootVariant {
  let workDir: string | undefined;
  let lastXml = '';

  return {
    name: 'libvirt',
    label: 'libvirt (virsh create)',
    async prepare() {
      if (!ctx.libvirt.available) throw new VariantUnavailable(ctx.libvirt.reason);
      workDir = makeWorkDir('libvirt');
    },
    async boot(run) {
      if (!workDir) throw new Error('prepare() was not called');
      // Unique per benchmark process, so a leftover from an interrupted run can never be mistaken for ours.
      const name = `drover-bench-${process.pid}-${run}`;
      const dir = path.join(workDir, `run-${run}`);
      fs.mkdirSync(dir);
      const xmlFile = path.join(dir, 'domain.xml');
      lastXml = domainXml({
        name,
        accelerator: ctx.accelerator.accelerator,
        memoryMiB: GUEST.memoryMiB,
        cpus: GUEST.cpus,
        firmware: QBOOT_PATH,
        kernel: ctx.tiny.kernel,
        initrd: ctx.tiny.initrd,
        cmdline: guestCmdline(ctx.tiny, `boot-${run}`),
        disk: path.join(dir, 'root.qcow2'),
        mac: macFor(randomUUID(), 0),
        serialLog: path.join(dir, 'serial.log'),
        guestAgentSocket: path.join(dir, 'qga.sock'),
        vncSocket: path.join(dir, 'vnc.sock'),
      });
      fs.writeFileSync(xmlFile, lastXml);
      const release = onInterrupt(() => destroyDomainSync(name));
      try {
        await createOverlay(ctx.tiny.disk, path.join(dir, 'root.qcow2'));
        const started = performance.now();
        await createDomain(xmlFile);
        await waitForGuestAgent(path.join(dir, 'qga.sock'), BOOT_TIMEOUT_MS);
        return { ms: performance.now() - started };
      } finally {
        await destroyDomain(name);
        release();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    async close() {
      if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
    },
    notes() {
      return lastXml ? [`libvirt domain XML (last run): ${lastXml.replace(/\s*\n\s*/g, ' ').trim()}`] : [];
    },
  };
}
