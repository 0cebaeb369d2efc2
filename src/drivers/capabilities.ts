/**
 * What each guest type's driver can do, in one place: the drivers declare themselves with these, and the
 * controller (scheduler, migration, maintenance, HA) reads them for a guest of a given type without asking a host.
 */
import type { GuestType } from '../vms/spec.js';
import type { DriverCapabilities } from './types.js';

/** The QEMU driver: full virtualization and virtio, live migration, VNC, a CPU model of Drover's choosing. */
export const QEMU_CAPABILITIES: Readonly<DriverCapabilities> = Object.freeze<DriverCapabilities>({
  liveMigrate: true,
  coldMigrate: false,
  snapshots: true,
  guestExec: true,
  serialConsole: true,
  vnc: true,
  userNetworking: true,
  deviceModels: ['virtio', 'emulated'],
  cpuModels: true,
});

/** The container driver (runc): no live migration (CRIU does not work on these hosts), so it moves by a restart. */
export const CONTAINER_CAPABILITIES: Readonly<DriverCapabilities> = Object.freeze<DriverCapabilities>({
  liveMigrate: false,
  coldMigrate: true,
  snapshots: true,
  guestExec: true,
  serialConsole: true,
  vnc: false,
  userNetworking: false,
  deviceModels: [],
  cpuModels: false,
});

const BY_TYPE: Record<GuestType, DriverCapabilities> = { vm: QEMU_CAPABILITIES, container: CONTAINER_CAPABILITIES };

/** The capabilities of the driver that runs guests of `type` (absent: a VM). */
export function guestCapabilities(type: GuestType | undefined): DriverCapabilities {
  return BY_TYPE[type ?? 'vm'];
}
