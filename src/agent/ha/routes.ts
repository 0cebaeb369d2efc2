/**
 * The agent's HA routes, called by the controller: start a VM at an HA generation (defining it
 * here first from its record on shared storage when its host is gone), read the heartbeat slots
 * of the shared pool, and this host's own view of its lease.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { DroverError } from '../../shared/errors.js';
import type { ImageLibrary } from '../../images/library.js';
import type { HostVmService } from '../../vms/host-vms.js';
import type { VmRecord, VmRecords } from '../../vms/records.js';
import { VmView } from '../../vms/schemas.js';
import type { GuestDrivers } from '../../drivers/registry.js';
import type { HostHaGuard } from './guard.js';
import { readPortableRecord } from './shared-records.js';

export const HaStartBody = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' }),
    /** The host's id for the VM: the name of its directory in the shared pool. */
    id: Type.String({ pattern: '^[a-z0-9-]{1,64}$' }),
    generation: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);

export interface HaRouteDeps {
  /** The guard, once the agent joined a controller; throws before. */
  guard: () => HostHaGuard;
  vms: HostVmService;
  records: VmRecords;
  images: ImageLibrary;
  drivers: GuestDrivers;
  sharedStorageDir?: string;
}

const LIVE = new Set(['running', 'paused', 'starting', 'stopping']);

export function haRoutes(deps: HaRouteDeps) {
  return async function plugin(fastify: FastifyInstance): Promise<void> {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    app.post('/api/v1/ha/start', { schema: { body: HaStartBody, response: { 200: VmView } } }, async (req) => startAt(deps, req.body.name, req.body.id, req.body.generation));
    app.get('/api/v1/ha/slots', async () => deps.guard().slots());
    app.get('/api/v1/ha/status', async () => deps.guard().status());
  };
}

/**
 * Starts VM `name` (host id `id`) at `generation`. Idempotent: an instance already running here at
 * that generation is the answer. A VM not defined here is defined from its record in the shared pool.
 */
async function startAt(deps: HaRouteDeps, name: string, id: string, generation: number) {
  const existing = deps.records.read(name);
  if (existing && existing.id !== id) throw new DroverError('VM_EXISTS', `another VM named ${name} is defined on this host`);
  if (existing) {
    const state = deps.drivers.for(existing).status(existing.id).state;
    if (LIVE.has(state) && existing.haGeneration === generation) return deps.vms.get(name);
    if (LIVE.has(state)) throw new DroverError('VM_ALREADY_RUNNING', `${name} runs here at generation ${existing.haGeneration ?? 'none'}`);
    return deps.vms.start(name, generation);
  }
  const adopted = adopt(deps, name, id);
  try {
    return await deps.vms.start(name, generation);
  } catch (err) {
    // Nothing of the failed start stays defined here; the disks are the shared pool's.
    deps.drivers.for(adopted).forget(adopted.id);
    fs.rmSync(deps.records.vmDir(name), { recursive: true, force: true });
    throw err;
  }
}

/** Defines VM `name` on this host from the record its last host kept in the shared pool, with this host's own copy of its boot files. */
function adopt(deps: HaRouteDeps, name: string, id: string): VmRecord {
  const shared = deps.sharedStorageDir;
  if (!shared) throw new DroverError('MIGRATION_STORAGE_UNAVAILABLE', 'this host has no shared storage');
  const storageDir = path.join(shared, id);
  const portable = readPortableRecord(storageDir);
  if (!portable || portable.id !== id || portable.name !== name) throw new DroverError('MIGRATION_STORAGE_UNAVAILABLE', `${storageDir} holds no record of VM ${name}`);
  const missing = portable.disks.find((d) => !fs.existsSync(path.join(storageDir, d.file)));
  if (missing) throw new DroverError('MIGRATION_STORAGE_UNAVAILABLE', `this host cannot see ${path.join(storageDir, missing.file)}`);
  let record: VmRecord = { ...portable, storageDir };
  if (portable.boot) {
    const image = portable.image && deps.images.has(portable.image) ? deps.images.get(portable.image) : undefined;
    if (!image?.boot) throw new DroverError('IMAGE_NOT_FOUND', `${name} boots the kernel of image ${portable.image ?? '(unknown)'}, which this host's library lacks`);
    record = { ...record, boot: { ...portable.boot, kernel: image.boot.kernel, ...(image.boot.initrd ? { initrd: image.boot.initrd } : {}) } };
  }
  fs.mkdirSync(deps.records.vmDir(name));
  deps.records.write(record);
  return record;
}
