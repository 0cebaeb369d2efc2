import os from 'node:os';
import { Type, type Static } from '@fastify/type-provider-typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { AcceleratorProbe } from '../drivers/qemu/accel.js';
import { hostCpuModels } from '../drivers/qemu/cpu-models.js';
import type { HostVmService } from '../vms/host-vms.js';
import { version } from '../shared/version.js';
import { sharedPool } from './pools.js';

export const HostView = Type.Object({
  hostname: Type.String(),
  version: Type.String(),
  accelerator: Type.Object({
    accelerator: Type.Union([Type.Literal('kvm'), Type.Literal('tcg')]),
    reason: Type.String(),
    probedAt: Type.String(),
    durationMs: Type.Number(),
  }),
  capacity: Type.Object({ cpus: Type.Integer(), memoryMiB: Type.Integer() }),
  usage: Type.Object({ vmsRunning: Type.Integer(), vmsDefined: Type.Integer(), cpusAllocated: Type.Integer(), memoryMiBAllocated: Type.Integer(), load1: Type.Number() }),
  pools: Type.Array(Type.Object({ name: Type.String(), kind: Type.Union([Type.Literal('local'), Type.Literal('shared')]) }), {
    description: 'Pools this host reaches: `local` (its own storage) always; a shared pool when its --shared-storage directory proved readable and writable, named by the identity in its marker file.',
  }),
  cpuModels: Type.Array(Type.String(), { description: 'CPU models this host can present to guests: under TCG every model its QEMU names but host, under KVM only qemu64 and kvm64.' }),
});

export interface HostViewContext {
  accelerator: AcceleratorProbe;
  hostname: string;
  vms: HostVmService;
  sharedStorageDir?: string;
}

/** What this host is, what it can run, and what it runs now: GET /api/v1/host, and the host part of a pushed report. */
export async function hostView(ctx: HostViewContext): Promise<Static<typeof HostView>> {
  const all = ctx.vms.list();
  const running = all.filter((v) => v.state === 'running' || v.state === 'paused');
  return {
    hostname: ctx.hostname,
    version,
    accelerator: ctx.accelerator,
    capacity: { cpus: os.cpus().length, memoryMiB: Math.floor(os.totalmem() / 1024 / 1024) },
    usage: {
      vmsRunning: running.length,
      vmsDefined: all.length,
      cpusAllocated: running.reduce((n, v) => n + v.cpus, 0),
      memoryMiBAllocated: running.reduce((n, v) => n + v.memoryMiB, 0),
      load1: os.loadavg()[0] ?? 0,
    },
    // Checked on every call (each report), so a shared directory that goes away stops being reported.
    pools: [{ name: 'local', kind: 'local' as const }, ...(ctx.sharedStorageDir ? [sharedPool(ctx.sharedStorageDir)].filter((p) => p !== undefined) : [])],
    // Without a QEMU that answers, this host can run no model at all.
    cpuModels: await hostCpuModels(ctx.accelerator.accelerator).catch(() => []),
  };
}

/** GET /api/v1/host: what this host is, what it can run, and what it runs now. */
export function hostRoutes(ctx: HostViewContext) {
  return async function plugin(fastify: FastifyInstance): Promise<void> {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    app.get('/api/v1/host', { schema: { response: { 200: HostView } } }, async () => hostView(ctx));
  };
}
