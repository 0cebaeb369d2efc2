import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { qemuBinary } from './process.js';

/** The outcome of the accelerator probe, as reported by the host. */
export interface AcceleratorProbe {
  accelerator: 'kvm' | 'tcg';
  reason: string;
  probedAt: string;
  durationMs: number;
  /** Identifies the conditions the probe ran under; a change invalidates the cached result. */
  key: string;
}

const PROBE_TIMEOUT_MS = 10_000;
/** Same CPU model as real VMs. A kernel with no root device panics at the end of its boot: reaching that line proves the guest ran. */
const BOOTED = /Kernel panic|VFS: Unable to mount root/;

function probeKey(kernel: string): string {
  const parts = [kernel, qemuBinary()];
  try {
    parts.push(String(fs.statSync(kernel).mtimeMs));
  } catch {
    parts.push('no-kernel');
  }
  try {
    parts.push(String(fs.statSync('/dev/kvm').rdev));
  } catch {
    parts.push('no-kvm');
  }
  try {
    parts.push(fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  } catch {
    parts.push(os.hostname());
  }
  return crypto.createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
}

/** Boots `kernel` under KVM until it panics for want of a root disk; true only if that really happens. */
async function bootsUnderKvm(kernel: string): Promise<{ ok: boolean; reason: string }> {
  if (!fs.existsSync('/dev/kvm')) return { ok: false, reason: '/dev/kvm does not exist' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-kvm-probe-'));
  const serial = path.join(dir, 'serial.log');
  const args = [
    '-machine', 'pc,accel=kvm', '-cpu', 'qemu64', '-m', '128', '-nodefaults', '-no-user-config', '-display', 'none',
    '-no-reboot', '-serial', `file:${serial}`, '-kernel', kernel, '-append', 'console=ttyS0 panic=-1 loglevel=4',
  ];
  const child = spawn(qemuBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + PROBE_TIMEOUT_MS;
  try {
    while (Date.now() < deadline) {
      const log = fs.existsSync(serial) ? fs.readFileSync(serial, 'utf8') : '';
      if (BOOTED.test(log)) return { ok: true, reason: 'a probe guest booted its kernel under KVM' };
      const done = await Promise.race([exited, new Promise<'wait'>((r) => setTimeout(() => r('wait'), 100))]);
      if (done !== 'wait') {
        const last = fs.existsSync(serial) ? fs.readFileSync(serial, 'utf8') : '';
        if (BOOTED.test(last)) return { ok: true, reason: 'a probe guest booted its kernel under KVM' };
        return { ok: false, reason: `QEMU with KVM failed: ${stderr.trim().split('\n').pop() ?? `exit ${String(done)}`}` };
      }
    }
    return { ok: false, reason: `a probe guest under KVM did not boot within ${PROBE_TIMEOUT_MS / 1000} s` };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Decides between KVM and TCG by really booting a guest kernel under KVM; the answer is cached in
 * `cacheFile` until the kernel, QEMU, /dev/kvm or the host boot changes. DROVER_ACCEL=tcg|kvm forces it.
 */
export async function probeAccelerator(kernel: string, cacheFile: string): Promise<AcceleratorProbe> {
  const forced = process.env.DROVER_ACCEL;
  if (forced === 'tcg' || forced === 'kvm') {
    return { accelerator: forced, reason: 'set by DROVER_ACCEL', probedAt: new Date().toISOString(), durationMs: 0, key: 'forced' };
  }
  const key = probeKey(kernel);
  try {
    const cached = JSON.parse(fs.readFileSync(cacheFile, 'utf8')) as AcceleratorProbe;
    if (cached.key === key) return cached;
  } catch {
    // No cached probe yet.
  }
  const started = Date.now();
  const result = await bootsUnderKvm(kernel);
  const probe: AcceleratorProbe = {
    accelerator: result.ok ? 'kvm' : 'tcg',
    reason: result.ok ? result.reason : `${result.reason}; using TCG`,
    probedAt: new Date().toISOString(),
    durationMs: Date.now() - started,
    key,
  };
  fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
  fs.writeFileSync(cacheFile, JSON.stringify(probe, null, 2));
  return probe;
}
