/**
 * The host side of a virtual network: one Linux bridge per network and a VXLAN device on it that
 * carries the network's frames to the other hosts over UDP 4789. Broadcast, unknown-unicast and
 * multicast frames go to every peer by head-end replication (one all-zeros FDB entry per peer);
 * unicast destinations are learned from the frames that arrive, so a VM that moves is found again as
 * soon as it sends anything (QEMU announces it after a migration).
 */
import { isIPv4 } from 'node:net';
import { DroverError } from '../shared/errors.js';
import { ensureBridge, deleteBridge } from './bridge.js';
import { bridgeTool, ip, linkInfo, type NetnsOptions } from './commands.js';

/** The IANA VXLAN port. */
export const VXLAN_PORT = 4789;
/** Bytes VXLAN adds to every frame over IPv4: outer IP 20, UDP 8, VXLAN 8, inner Ethernet 14. */
export const VXLAN_OVERHEAD = 50;
/** VNIs are 24 bits; 0 is left out. */
export const MAX_VNI = 16_777_215;
const ALL_ZEROS = '00:00:00:00:00:00';

/** What a host needs to carry one virtual network. */
export interface OverlaySpec {
  vni: number;
  /** MTU of the bridge, the VXLAN device and the VMs' taps (the guests are told the same). */
  mtu: number;
  /** This host's own underlay address: the VXLAN source, and how its interface is found. */
  localAddress: string;
  /** Underlay addresses of the other hosts that have the network. */
  peers: string[];
}

/** The bridge of the network with VXLAN id `vni` on every host. */
export function overlayBridgeName(vni: number): string {
  return `drvnb${vni}`;
}

/** The VXLAN device of the network with id `vni` on every host. */
export function overlayVxlanName(vni: number): string {
  return `drvnx${vni}`;
}

function validate(spec: OverlaySpec): void {
  if (!Number.isInteger(spec.vni) || spec.vni < 1 || spec.vni > MAX_VNI) throw new DroverError('INVALID_ARGUMENT', `VNI ${spec.vni}: use 1..${MAX_VNI}`);
  if (!Number.isInteger(spec.mtu) || spec.mtu < 576 || spec.mtu > 9000) throw new DroverError('INVALID_ARGUMENT', `MTU ${spec.mtu}: use 576..9000`);
  for (const address of [spec.localAddress, ...spec.peers]) {
    if (!isIPv4(address)) throw new DroverError('INVALID_ARGUMENT', `underlay address ${JSON.stringify(address)} is not IPv4`);
  }
}

/** The interface carrying `address` in the namespace, and its MTU; NETWORK_ERROR when no interface has it. */
async function underlayInterface(address: string, opts: NetnsOptions): Promise<{ name: string; mtu: number }> {
  const links = JSON.parse(await ip(['-j', '-4', 'address', 'show'], opts)) as { ifname: string; mtu: number; addr_info?: { local?: string }[] }[];
  const found = links.find((l) => l.addr_info?.some((a) => a.local === address));
  if (!found) throw new DroverError('NETWORK_ERROR', `no interface of this host has the address ${address} the controller knows it by`);
  return { name: found.ifname, mtu: found.mtu };
}

/** The peers the VXLAN device floods to now: the dst of its all-zeros FDB entries. */
async function floodPeers(vxlan: string, opts: NetnsOptions): Promise<string[]> {
  const entries = JSON.parse(await bridgeTool(['-j', 'fdb', 'show', 'dev', vxlan], opts)) as { mac?: string; dst?: string }[];
  return entries.filter((e) => e.mac === ALL_ZEROS && e.dst).map((e) => e.dst as string);
}

/**
 * Makes the network's bridge and VXLAN device exist, be up, carry `spec.mtu`, and flood to exactly
 * `spec.peers`; idempotent, so the controller can push the same spec again whenever peers change.
 * Precondition: the underlay MTU leaves room for VXLAN_OVERHEAD above `spec.mtu`.
 */
export async function ensureOverlay(spec: OverlaySpec, opts: NetnsOptions = {}): Promise<void> {
  validate(spec);
  const underlay = await underlayInterface(spec.localAddress, opts);
  if (underlay.mtu - VXLAN_OVERHEAD < spec.mtu) {
    throw new DroverError('INVALID_ARGUMENT', `MTU ${spec.mtu} does not fit in ${underlay.name}'s ${underlay.mtu} with ${VXLAN_OVERHEAD} bytes of VXLAN; lower the network's MTU`);
  }
  const bridge = overlayBridgeName(spec.vni);
  const vxlan = overlayVxlanName(spec.vni);
  await ensureBridge(bridge, opts);
  const existing = await linkInfo(vxlan, opts);
  if (existing && existing.kind !== 'vxlan') throw new DroverError('ALREADY_EXISTS', `interface ${vxlan} exists and is not a VXLAN device`);
  if (!existing) {
    const add = ['link', 'add', 'name', vxlan, 'type', 'vxlan', 'id', String(spec.vni), 'dstport', String(VXLAN_PORT), 'local', spec.localAddress, 'dev', underlay.name];
    await ip(add, opts).catch(async (err: unknown) => {
      // A concurrent push may have made it a moment ago.
      if ((await linkInfo(vxlan, opts))?.kind !== 'vxlan') throw err;
    });
  }
  await ip(['link', 'set', 'dev', vxlan, 'mtu', String(spec.mtu), 'master', bridge], opts);
  await ip(['link', 'set', 'dev', bridge, 'mtu', String(spec.mtu)], opts);
  await ip(['link', 'set', 'dev', vxlan, 'up'], opts);
  const wanted = new Set(spec.peers.filter((p) => p !== spec.localAddress));
  const current = new Set(await floodPeers(vxlan, opts));
  for (const peer of wanted) if (!current.has(peer)) await bridgeTool(['fdb', 'append', ALL_ZEROS, 'dev', vxlan, 'dst', peer], opts);
  for (const peer of current) if (!wanted.has(peer)) await bridgeTool(['fdb', 'del', ALL_ZEROS, 'dev', vxlan, 'dst', peer], opts);
}

/** Deletes the network's VXLAN device and bridge (VM taps on it are detached, not deleted); a no-op when they are gone. */
export async function removeOverlay(vni: number, opts: NetnsOptions = {}): Promise<void> {
  const vxlan = overlayVxlanName(vni);
  const existing = await linkInfo(vxlan, opts);
  if (existing?.kind === 'vxlan') await ip(['link', 'delete', 'dev', vxlan], opts);
  await deleteBridge(overlayBridgeName(vni), opts);
}

/** The flood list of the network's VXLAN device on this host (empty when it has none): for status and tests. */
export async function overlayPeers(vni: number, opts: NetnsOptions = {}): Promise<string[]> {
  const vxlan = overlayVxlanName(vni);
  return (await linkInfo(vxlan, opts)) ? (await floodPeers(vxlan, opts)).sort() : [];
}
