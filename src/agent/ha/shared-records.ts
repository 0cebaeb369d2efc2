/**
 * What an agent keeps on shared storage for HA, readable by every host that reaches the pool:
 *
 * - `<shared>/.drover-ha/hosts/<host>.json`: the host's heartbeat slot, rewritten every second.
 *   Its `seq` changing tells the controller the host is alive even when its lease stops (isolated,
 *   not dead); `leaseLost` and `vms` tell what an isolated host still runs.
 * - `<storageDir>/ha-generation.json`: the newest generation of the VM whose disks are in
 *   `storageDir`, claimed by the host that starts it. A start or resume of an older generation is
 *   refused, and a running instance of an older one is killed: never two instances.
 * - `<storageDir>/vm.json`: the VM's host record, so another host can start it when its host is gone.
 *
 * Every write goes to a temporary file renamed over the old one, so readers never see half a file.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { VmRecord } from '../../vms/records.js';

/** The directory in a shared pool that holds the heartbeat slots. */
export const HA_DIR = '.drover-ha';
const GENERATION_FILE = 'ha-generation.json';
const PORTABLE_RECORD = 'vm.json';

/** One VM as a heartbeat slot lists it. */
export interface SlotVm {
  name: string;
  /** The host's id for the VM (its storage directory's name). */
  id: string;
  generation: number;
}

/** A host's heartbeat slot. */
export interface HeartbeatSlot {
  host: string;
  /** Grows by one with every write; the controller watches it change, never trusting the writer's clock. */
  seq: number;
  /** Written after the host's own lease had lapsed: it refuses every start and resume until it renews. */
  leaseLost: boolean;
  /** The HA VMs the host runs. */
  vms: SlotVm[];
  writtenAt: string;
}

/** The newest generation of one VM and who claimed it. */
export interface GenerationRecord {
  generation: number;
  host: string;
  at: string;
}

function writeAtomically(file: string, value: unknown): void {
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(value)}\n`);
  fs.renameSync(temporary, file);
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function slotsDir(shared: string): string {
  return path.join(shared, HA_DIR, 'hosts');
}

/** Writes `slot` as its host's heartbeat slot in `shared`; throws when the storage cannot be written. */
export function writeSlot(shared: string, slot: HeartbeatSlot): void {
  const dir = slotsDir(shared);
  fs.mkdirSync(dir, { recursive: true });
  writeAtomically(path.join(dir, `${slot.host}.json`), slot);
}

/** Every heartbeat slot in `shared`; unreadable ones are left out. Throws when the directory cannot be read at all. */
export function readSlots(shared: string): HeartbeatSlot[] {
  const dir = slotsDir(shared);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const slots: HeartbeatSlot[] = [];
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    const slot = readJson(path.join(dir, name)) as Partial<HeartbeatSlot> | undefined;
    if (slot && typeof slot.host === 'string' && typeof slot.seq === 'number' && Array.isArray(slot.vms)) slots.push(slot as HeartbeatSlot);
  }
  return slots;
}

/** The VM's newest generation on shared storage, or undefined when none was ever claimed. */
export function readGeneration(storageDir: string): GenerationRecord | undefined {
  const record = readJson(path.join(storageDir, GENERATION_FILE)) as Partial<GenerationRecord> | undefined;
  return record && typeof record.generation === 'number' && typeof record.host === 'string' ? (record as GenerationRecord) : undefined;
}

/** Records that `host` starts the VM at `generation`. */
export function claimGeneration(storageDir: string, generation: number, host: string): void {
  writeAtomically(path.join(storageDir, GENERATION_FILE), { generation, host, at: new Date().toISOString() } satisfies GenerationRecord);
}

/** Keeps a copy of the VM's host record beside its disks, for the host that restarts it. */
export function writePortableRecord(storageDir: string, record: VmRecord): void {
  writeAtomically(path.join(storageDir, PORTABLE_RECORD), record);
}

/** The VM's host record as its last host kept it, or undefined. */
export function readPortableRecord(storageDir: string): VmRecord | undefined {
  const record = readJson(path.join(storageDir, PORTABLE_RECORD)) as Partial<VmRecord> | undefined;
  return record && typeof record.id === 'string' && typeof record.name === 'string' && Array.isArray(record.disks) ? (record as VmRecord) : undefined;
}
