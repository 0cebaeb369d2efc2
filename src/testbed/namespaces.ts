/**
 * The testbed's network: one Linux bridge in the root namespace and, per host, a network namespace
 * joined to it by a veth pair. The namespaces get an address on the bridge's /24 and no default
 * route, so their traffic reaches the bridge's own address (the controller) and each other, and
 * nothing else.
 */
import fs from 'node:fs';
import { deleteBridge, ensureBridge } from '../network/bridge.js';
import { ip, linkInfo } from '../network/commands.js';
import { DroverError } from '../shared/errors.js';
import type { TestbedHost, TestbedState } from './state.js';

/** Testbeds take /24s from 10.231.0.0/16: the bridge is .1, host n is .(10 + n). */
const SUBNET_PREFIX = '10.231';
/** Host n's last address byte is 10 + n, so a /24 holds this many. */
export const MAX_HOSTS = 200;

/** The namespace, veth and address names for host `n` (1-based) of testbed `id` on subnet `subnet`. */
export function hostNetwork(id: string, subnet: number, n: number): Pick<TestbedHost, 'namespace' | 'veth' | 'address'> {
  return { namespace: `drvtb-${id}-h${n}`, veth: `drvtb${id}h${n}`, address: `${SUBNET_PREFIX}.${subnet}.${10 + n}` };
}

/** The testbed bridge for testbed `id` on subnet `subnet`. */
export function bridgeFor(id: string, subnet: number): TestbedState['bridge'] {
  return { name: `drvtb-${id}`, address: `${SUBNET_PREFIX}.${subnet}.1`, prefixLength: 24 };
}

/** The first 10.231.X.0/24 that no interface of the root namespace has an address in; NETWORK_ERROR when all are taken. */
export async function pickSubnet(): Promise<number> {
  const links = JSON.parse(await ip(['-j', '-4', 'address', 'show'])) as { addr_info?: { local?: string }[] }[];
  const taken = new Set<number>();
  for (const link of links) {
    for (const entry of link.addr_info ?? []) {
      const match = entry.local ? /^10\.231\.(\d+)\.\d+$/.exec(entry.local) : null;
      if (match) taken.add(Number(match[1]));
    }
  }
  for (let subnet = 0; subnet < 256; subnet++) if (!taken.has(subnet)) return subnet;
  throw new DroverError('NETWORK_ERROR', `every ${SUBNET_PREFIX}.X.0/24 is in use; run \`drover testbed down\` on old testbeds`);
}

/** Creates the bridge with its address, up. */
export async function createBridge(bridge: TestbedState['bridge']): Promise<void> {
  await ensureBridge(bridge.name, { address: `${bridge.address}/${bridge.prefixLength}` });
}

/** Deletes the bridge if it is there. */
export async function removeBridge(bridge: TestbedState['bridge']): Promise<void> {
  await deleteBridge(bridge.name);
}

/** True when the named network namespace exists. */
export function namespaceExists(name: string): boolean {
  return fs.existsSync(`/run/netns/${name}`);
}

/**
 * Creates the host's namespace (loopback up), a veth pair with `eth0` inside and `host.veth` on the
 * bridge, and gives eth0 the host's address. Precondition: none of these exist yet.
 */
export async function createHostNetwork(host: TestbedHost, bridge: TestbedState['bridge']): Promise<void> {
  const inside = { netns: host.namespace };
  await ip(['netns', 'add', host.namespace]);
  await ip(['link', 'set', 'dev', 'lo', 'up'], inside);
  await ip(['link', 'add', 'name', host.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.namespace]);
  await ip(['link', 'set', 'dev', host.veth, 'master', bridge.name]);
  await ip(['link', 'set', 'dev', host.veth, 'up']);
  await ip(['address', 'add', `${host.address}/${bridge.prefixLength}`, 'dev', 'eth0'], inside);
  await ip(['link', 'set', 'dev', 'eth0', 'up'], inside);
}

/** Deletes the host's veth pair and namespace, whichever of them exist; idempotent. */
export async function removeHostNetwork(host: TestbedHost): Promise<void> {
  if (await linkInfo(host.veth)) await ip(['link', 'delete', 'dev', host.veth]);
  if (namespaceExists(host.namespace)) await ip(['netns', 'delete', host.namespace]);
}
