/**
 * What the console offers for each guest type, in one table. It follows the drivers' capabilities
 * (src/drivers/capabilities.ts), which the API does not publish: pages ask this table, never the type's name.
 */
import type { GuestType } from '../../api';

export interface GuestTypeFeatures {
  /** How the type reads in tables and badges. */
  label: string;
  /** What it is, for the VM page. */
  description: string;
  /** A graphical console (VNC); a container has only its text console. */
  vnc: boolean;
  /** How it moves to another host: live (it keeps running), or by a restart (down from its stop to its start). */
  migration: 'live' | 'restart';
  /** Why it does not move live, for the Migrate button and dialog; undefined for a guest that does. */
  noLiveMigration?: string;
  /** A device model to choose (virtio or emulated). */
  deviceModels: boolean;
  /** The default user-mode NIC (NAT); without it the guest is reached only on a virtual network or a bridge. */
  userNetworking: boolean;
  /** Made only from an image of its type (a VM may start from a blank disk). */
  needsImage: boolean;
  /** Runs in a user namespace, which an admin may leave out: a privileged guest. */
  userNamespace: boolean;
  /** Memory changes while the guest runs (a VM takes new memory only while stopped). */
  liveMemory: boolean;
  /** A process limit. */
  processLimit: boolean;
  /** The process whose pid the VM page shows. */
  pidLabel: string;
  /** What the root disk and the NICs are to the guest. */
  diskBus: (devices: 'virtio' | 'emulated') => string;
  nicModel: (devices: 'virtio' | 'emulated') => string;
}

const FEATURES: Record<GuestType, GuestTypeFeatures> = {
  vm: {
    label: 'VM',
    description: 'virtual machine (QEMU)',
    vnc: true,
    migration: 'live',
    deviceModels: true,
    userNetworking: true,
    needsImage: false,
    userNamespace: false,
    liveMemory: false,
    processLimit: false,
    pidLabel: 'QEMU pid',
    diskBus: (devices) => (devices === 'virtio' ? 'virtio' : 'IDE'),
    nicModel: (devices) => (devices === 'virtio' ? 'virtio-net' : 'e1000'),
  },
  container: {
    label: 'container',
    description: 'system container (runc)',
    vnc: false,
    migration: 'restart',
    noLiveMigration: 'Containers move by restart; live migration needs CRIU, which does not work on these hosts',
    deviceModels: false,
    userNetworking: false,
    needsImage: true,
    userNamespace: true,
    liveMemory: true,
    processLimit: true,
    pidLabel: 'Init pid',
    diskBus: () => 'root filesystem',
    nicModel: () => 'veth',
  },
};

/** The features of guests of `type`. */
export function guestFeatures(type: GuestType): GuestTypeFeatures {
  return FEATURES[type];
}
