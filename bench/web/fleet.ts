/**
 * The web benchmark's fleet: 30 simulated hosts (simulated-host-NN, no agent behind them) and 1,000 simulated
 * VMs (simulated-vm-NNNN) in the shared state mix, with one root disk and one NIC each. It is leaner than the
 * API benchmark's fleet (bench/lib/fleet.ts: data disks, second NICs, snapshots), and the console's results
 * were measured on it, so it stays as it is; the controller that holds it is the shared one.
 */
import { randomUUID } from 'node:crypto';
import { sampleHost, sampleVm } from '../../src/controller/store/fixtures.js';
import { stateFor, type SimulatedFleet } from '../lib/fleet.js';
import { SIMULATED_HOSTS, SIMULATED_VMS } from '../lib/seeded-controller.js';

const GiB = 2 ** 30;
const DAY_MS = 86_400_000;

/** SIMULATED_HOSTS hosts (the last offline, the one before it in maintenance) and SIMULATED_VMS VMs, placed round-robin. */
export function consoleFleet(): SimulatedFleet {
  const now = Date.now();
  const iso = (offset: number) => new Date(now + offset).toISOString();
  const hosts = Array.from({ length: SIMULATED_HOSTS }, (_, i) =>
    sampleHost({
      id: randomUUID(),
      name: `simulated-host-${String(i + 1).padStart(2, '0')}`,
      address: `simulated-host-${i + 1}.invalid:7701`,
      capacity: { cpus: 64, memoryBytes: 256 * GiB, diskBytes: 4096 * GiB },
      lastHeartbeat: iso(i === SIMULATED_HOSTS - 1 ? -15 * 60_000 : -((i * 997) % 2000)),
      health: i === SIMULATED_HOSTS - 1 ? 'unreachable' : 'healthy',
      state: i === SIMULATED_HOSTS - 1 ? 'offline' : i === SIMULATED_HOSTS - 2 ? 'maintenance' : 'ready',
    }),
  );
  const vms = Array.from({ length: SIMULATED_VMS }, (_, i) => {
    const state = stateFor(i);
    const live = state === 'running' || state === 'paused' || state === 'stopping';
    const host = hosts[i % hosts.length];
    return sampleVm({
      id: randomUUID(),
      name: `simulated-vm-${String(i + 1).padStart(4, '0')}`,
      hostId: host?.id ?? null,
      state,
      desiredState: live ? 'running' : 'stopped',
      spec: { cpus: [1, 2, 4, 8][i % 4] ?? 1, memoryBytes: ([512, 1024, 2048, 4096][(i * 3) % 4] ?? 1024) * 2 ** 20, imageId: 'tiny' },
      nics: [{ name: 'eth0', network: 'user', macAddress: `52:54:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}` }],
      runtime: live ? { pid: 10_000 + i, guestReady: state === 'running', startedAt: iso(-((i * 104_729_000) % (30 * DAY_MS))) } : {},
      createdAt: iso(-DAY_MS - ((i * 7919 * 60_000) % (90 * DAY_MS))),
    });
  });
  for (const host of hosts) {
    const mine = vms.filter((vm) => vm.hostId === host.id && (vm.state === 'running' || vm.state === 'paused'));
    host.usage = { cpus: mine.reduce((s, vm) => s + vm.spec.cpus, 0), memoryBytes: mine.reduce((s, vm) => s + vm.spec.memoryBytes, 0), diskBytes: 0 };
  }
  return { hosts, vms };
}
