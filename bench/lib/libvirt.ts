/** Bringing up libvirt for the benchmarks (scripts/setup-libvirt) and talking to it through virsh. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { runChecked, runCommand } from './process.js';
import type { LibvirtStatus } from './types.js';

/** Every virsh call names the system QEMU driver, so a stray LIBVIRT_DEFAULT_URI cannot redirect it. */
export const LIBVIRT_URI = 'qemu:///system';
const SETUP_TIMEOUT_MS = 15 * 60_000;

/** Runs scripts/setup-libvirt and reports libvirt's version, or why it is unavailable; never throws. */
export async function setupLibvirt(repoRoot: string): Promise<LibvirtStatus> {
  try {
    const setup = await runCommand('bash', [path.join(repoRoot, 'scripts', 'setup-libvirt')], { timeoutMs: SETUP_TIMEOUT_MS });
    if (setup.code !== 0) {
      const why = setup.stderr.trim().split('\n').slice(-2).join(' | ') || `exit code ${setup.code}`;
      return { available: false, reason: `scripts/setup-libvirt failed: ${why}` };
    }
    return { available: true, version: await libvirtVersion() };
  } catch (err) {
    return { available: false, reason: (err as Error).message };
  }
}

/** The libvirt library version virsh reports ("9.0.0"). */
export async function libvirtVersion(): Promise<string> {
  const out = await runChecked('virsh', ['-c', LIBVIRT_URI, 'version']);
  const match = /Using library: libvirt (\S+)/.exec(out);
  if (!match?.[1]) throw new Error(`unexpected virsh version output: ${out.trim()}`);
  return match[1];
}

/** Starts a transient domain from `xmlFile` (`virsh create`); resolves once virsh returns, i.e. QEMU is running. */
export async function createDomain(xmlFile: string): Promise<void> {
  await runChecked('virsh', ['-c', LIBVIRT_URI, 'create', xmlFile], { timeoutMs: 120_000 });
}

/** Destroys domain `name` (a transient domain then disappears); a domain that is already gone is fine. */
export async function destroyDomain(name: string): Promise<void> {
  const result = await runCommand('virsh', ['-c', LIBVIRT_URI, 'destroy', name], { timeoutMs: 60_000 });
  if (result.code !== 0 && !/failed to get domain|Domain not found|domain is not running/i.test(result.stderr)) {
    throw new Error(`virsh destroy ${name}: ${result.stderr.trim()}`);
  }
}

/** Synchronous destroy for interrupt cleanup, where nothing asynchronous runs any more. */
export function destroyDomainSync(name: string): void {
  spawnSync('virsh', ['-c', LIBVIRT_URI, 'destroy', name], { stdio: 'ignore', timeout: 30_000 });
}
