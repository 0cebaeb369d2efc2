/**
 * A container's NICs are veth pairs: the host end joins the same bridge a VM's tap would (a plain bridge or a
 * virtual network's VXLAN bridge) under the same name a tap would have, so rate limits and teardown read alike;
 * the other end moves into the container's network namespace as eth<N> with the NIC's MAC, before init runs.
 * Virtual-network addresses are set there too, from the host.
 */
import { DroverError } from '../../shared/errors.js';
import { run } from '../../shared/exec.js';
import { bridgeExists, ensureBridge } from '../../network/bridge.js';
import { ip, linkInfo } from '../../network/commands.js';
import { overlayBridgeName } from '../../network/overlay.js';
import { applyRateLimit, clearRateLimit } from '../../network/rate-limit.js';
import { tapName } from '../qemu/cmdline.js';
import type { VmSpec } from '../../vms/spec.js';

/** Runs `ip ARGS` inside the network namespace of process `pid`. */
function ipIn(pid: number, args: string[]): Promise<unknown> {
  return run('nsenter', [`--net=/proc/${pid}/ns/net`, '--', 'ip', ...args], { timeoutMs: 10_000, errorCode: 'NETWORK_ERROR' });
}

/** Creates every bridged or virtual-network NIC of `spec` for the container whose init is `pid`; loopback comes up too. */
export async function attachNics(spec: VmSpec, pid: number): Promise<void> {
  await ipIn(pid, ['link', 'set', 'lo', 'up']);
  for (const [index, nic] of spec.nics.entries()) {
    if (nic.mode === 'user') throw new DroverError('INVALID_ARGUMENT', `${spec.name}: containers have no user-mode NIC; give a bridge or a virtual network`);
    const host = tapName(spec.id, index);
    const peer = `dc${spec.id.replace(/-/g, '').slice(0, 10)}p${index}`.slice(0, 15);
    const bridge = nic.mode === 'bridge' ? nic.bridge : overlayBridgeName(nic.vni);
    if (nic.mode === 'bridge') await ensureBridge(nic.bridge);
    else if (!(await bridgeExists(bridge))) {
      throw new DroverError('NETWORK_ERROR', `virtual network ${nic.network} (bridge ${bridge}) is not set up on this host; the controller sets it up before it starts a guest here`);
    }
    await removeStaleVeth(host);
    await ip(['link', 'add', host, 'type', 'veth', 'peer', 'name', peer]);
    try {
      await ip(['link', 'set', peer, 'netns', String(pid)]);
      await ip(['link', 'set', host, 'master', bridge]);
      if (nic.mode === 'network') await ip(['link', 'set', host, 'mtu', String(nic.mtu)]);
      if (nic.rateLimitKbit) await applyRateLimit(host, nic.rateLimitKbit);
      await ip(['link', 'set', host, 'up']);
      await ipIn(pid, ['link', 'set', peer, 'name', `eth${index}`, 'address', nic.mac]);
      if (nic.mode === 'network') {
        await ipIn(pid, ['link', 'set', `eth${index}`, 'mtu', String(nic.mtu)]);
        await ipIn(pid, ['address', 'add', nic.address, 'dev', `eth${index}`]);
      }
      await ipIn(pid, ['link', 'set', `eth${index}`, 'up']);
    } catch (err) {
      await removeStaleVeth(host);
      throw err;
    }
  }
}

/** Removes the host ends (and their rate limits) left by a container whose namespace is gone or going. */
export async function detachNics(spec: VmSpec): Promise<void> {
  for (const [index, nic] of spec.nics.entries()) {
    if (nic.mode !== 'user') await removeStaleVeth(tapName(spec.id, index)).catch(() => undefined);
  }
}

async function removeStaleVeth(name: string): Promise<void> {
  const existing = await linkInfo(name);
  if (existing && existing.kind !== 'veth') throw new DroverError('INVALID_ARGUMENT', `interface ${name} is not a veth (kind ${existing.kind ?? 'physical'}); not deleting it`);
  if (existing) await ip(['link', 'delete', name]).catch(() => undefined);
  await clearRateLimit(name).catch(() => undefined);
}
