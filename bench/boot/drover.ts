/** Boot variant "Drover": the real host agent, timed from the start request to wait-ready returning. */
import fs from 'node:fs';
import path from 'node:path';
import { runtimePaths } from '../../src/drivers/qemu/cmdline.js';
import { isOurQemu, readPidFile, signalProcess } from '../../src/drivers/qemu/process.js';
import type { BenchmarkContext } from '../lib/types.js';
import { onInterrupt } from '../lib/cleanup.js';
import { AgentProcess } from './agent-process.js';
import type { DeviceModel } from '../../src/vms/spec.js';
import { BOOT_TIMEOUT_MS, DEVICE_LABELS, GUEST, type BootVariant, makeWorkDir } from './guest.js';

/** The fields of the agent's VM view this benchmark reads. */
interface VmView {
  id: string;
  name: string;
  pid?: number;
}

/** Drives `drover agent` over HTTP: create (untimed), start + wait-ready (timed), kill and delete (untimed). */
export function droverVariant(ctx: BenchmarkContext, devices: DeviceModel): BootVariant {
  let dataDir: string | undefined;
  let agent: AgentProcess | undefined;
  let releaseAgent = (): void => {};
  let qemuCommandLine: string[] = [];

  /** SIGKILLs the VM's QEMU if it still runs: found by its pidfile and checked to be ours (its runtime dir is in its command line). */
  const killLeftoverQemu = (id: string, knownPid?: number): void => {
    if (!dataDir) return;
    const paths = runtimePaths(path.join(dataDir, 'run'), id);
    const pid = knownPid ?? readPidFile(paths.pidFile);
    if (pid && isOurQemu(pid, paths.dir)) signalProcess(pid, 'SIGKILL');
  };

  return {
    name: devices === 'virtio' ? 'drover' : `drover-${devices}`,
    label: `Drover (host agent API), ${DEVICE_LABELS[devices]}`,
    async prepare() {
      dataDir = makeWorkDir(`drover-${devices}`);
      const dir = dataDir;
      agent = await AgentProcess.start(ctx.repoRoot, dir);
      const pid = agent.pid;
      releaseAgent = onInterrupt(() => {
        if (pid) signalProcess(pid, 'SIGKILL');
      });
      const images = await agent.request<Array<{ name: string }>>('GET', '/api/v1/images');
      if (!images.some((image) => image.name === 'tiny')) {
        throw new Error(`the agent did not register the tiny image; it has: ${images.map((i) => i.name).join(', ') || 'none'}`);
      }
    },
    async boot(run) {
      if (!agent) throw new Error('prepare() was not called');
      const api = agent;
      const name = `boot-${run}`;
      const vm = await api.request<VmView>('POST', '/api/v1/vms', { name, image: 'tiny', memoryMiB: GUEST.memoryMiB, cpus: GUEST.cpus, devices });
      let pid: number | undefined;
      const release = onInterrupt(() => killLeftoverQemu(vm.id, pid));
      try {
        const started = performance.now();
        const running = await api.request<VmView>('POST', `/api/v1/vms/${name}/start`, undefined, BOOT_TIMEOUT_MS);
        pid = running.pid;
        await api.request<VmView>('POST', `/api/v1/vms/${name}/wait-ready`, { timeoutMs: BOOT_TIMEOUT_MS }, BOOT_TIMEOUT_MS + 30_000);
        const elapsed = performance.now() - started;
        if (pid) qemuCommandLine = readCommandLine(pid);
        return { ms: elapsed };
      } catch (err) {
        const crash = await api.request<{ state?: string; crashReason?: string }>('GET', `/api/v1/vms/${name}`).catch(() => undefined);
        const state = crash?.state ? ` [VM state: ${crash.state}${crash.crashReason ? `, ${crash.crashReason}` : ''}]` : '';
        throw new Error(`${(err as Error).message}${state}`, { cause: err });
      } finally {
        await api.request('POST', `/api/v1/vms/${name}/kill`).catch(() => undefined);
        // A VM the agent cannot delete stays in the data dir, which close() removes.
        await api.request('DELETE', `/api/v1/vms/${name}?force=true`).catch((err: Error) => ctx.log(`drover: could not delete VM ${name}: ${err.message}`));
        killLeftoverQemu(vm.id, pid);
        release();
      }
    },
    async close() {
      await agent?.stop();
      releaseAgent();
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
    notes() {
      return [];
    },
    qemuArgs() {
      return qemuCommandLine.slice(1);
    },
  };
}

/** The argv of a live process, from /proc; empty if it is gone. */
function readCommandLine(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}
