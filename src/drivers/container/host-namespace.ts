/**
 * Mounts that must outlive the agent. A testbed agent runs in a mount namespace of its own (`ip netns exec`
 * makes one), which dies with it; a container's disk export, loop mount and runtime are made in the host's
 * namespace (PID 1's) instead, so an agent started again finds them. On a host whose agent already runs in
 * PID 1's namespace the wrapper is a no-op.
 */
import fs from 'node:fs';
import { run, type RunOptions, type RunResult } from '../../shared/exec.js';

let cached: boolean | undefined;

/** True when this process's mount namespace is not PID 1's. */
export function inPrivateMountNamespace(): boolean {
  if (cached === undefined) {
    try {
      cached = fs.readlinkSync('/proc/self/ns/mnt') !== fs.readlinkSync('/proc/1/ns/mnt');
    } catch {
      cached = false;
    }
  }
  return cached;
}

/** The command and arguments that run `cmd args` in the host's mount namespace. */
export function inHostMounts(cmd: string, args: string[]): [string, string[]] {
  return inPrivateMountNamespace() ? ['nsenter', ['--mount=/proc/1/ns/mnt', '--', cmd, ...args]] : [cmd, args];
}

/** Runs `cmd args` in the host's mount namespace (see inHostMounts). */
export function runInHostMounts(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [c, a] = inHostMounts(cmd, args);
  return run(c, a, opts);
}

/** `file` as this process reaches it in the host's mount namespace (through PID 1's root when ours differs). */
export function hostPath(file: string): string {
  return inPrivateMountNamespace() ? `/proc/1/root${file}` : file;
}
