import { run } from '../shared/exec.js';
import { DroverError } from '../shared/errors.js';

/** Every host-networking call takes an optional network namespace (the testbed runs each host in its own). */
export interface NetnsOptions {
  /** Name under /run/netns; absent means the caller's own namespace. */
  netns?: string;
}

// IFNAMSIZ is 16 bytes including the trailing NUL; the kernel also refuses "." and "..".
const INTERFACE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;
// A leading "-" would read as an option to ip and tc.
const NETNS_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;
const COMMAND_TIMEOUT_MS = 10_000;

/** Throws INVALID_INTERFACE_NAME unless `name` is a name Linux accepts for a network interface. */
export function validateInterfaceName(name: unknown): asserts name is string {
  if (typeof name === 'string' && INTERFACE_NAME.test(name) && name !== '.' && name !== '..') return;
  const shown = typeof name === 'string' ? JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name) : typeof name;
  throw new DroverError('INVALID_INTERFACE_NAME', `interface name ${shown}`);
}

function validateNetns(netns: string | undefined): void {
  if (netns === undefined || NETNS_NAME.test(netns)) return;
  throw new DroverError('INVALID_ARGUMENT', `network namespace name ${JSON.stringify(netns)}`);
}

async function runIn(tool: 'ip' | 'tc' | 'bridge', args: string[], opts: NetnsOptions, allowFailure: boolean) {
  validateNetns(opts.netns);
  // All three tools take -n/-netns themselves, which avoids the mount-namespace work of `ip netns exec`.
  const full = [...(opts.netns ? ['-n', opts.netns] : []), ...args];
  const result = await run(tool, full, { timeoutMs: COMMAND_TIMEOUT_MS, allowFailure: true, errorCode: 'NETWORK_ERROR' });
  if (result.code !== 0 && !allowFailure) {
    throw new DroverError('NETWORK_ERROR', `${tool} ${full.join(' ')}: ${result.stderr.trim() || `exited ${result.code}`}`);
  }
  return result;
}

/** Runs `ip ARGS` in the namespace; throws NETWORK_ERROR naming the command and its complaint on failure. */
export async function ip(args: string[], opts: NetnsOptions = {}): Promise<string> {
  return (await runIn('ip', args, opts, false)).stdout;
}

/** Runs `tc ARGS` in the namespace; throws NETWORK_ERROR naming the command and its complaint on failure. */
export async function tc(args: string[], opts: NetnsOptions = {}): Promise<string> {
  return (await runIn('tc', args, opts, false)).stdout;
}

/** Runs `bridge ARGS` (iproute2's bridge tool, for FDB entries) in the namespace; throws NETWORK_ERROR on failure. */
export async function bridgeTool(args: string[], opts: NetnsOptions = {}): Promise<string> {
  return (await runIn('bridge', args, opts, false)).stdout;
}

/** What Drover needs to know about one interface, parsed from `ip -j -d link`. */
export interface LinkInfo {
  name: string;
  /** rtnetlink kind: "bridge", "tun", "veth", "ifb"…; absent for physical NICs. */
  kind?: string;
  /** For kind "tun": "tap" or "tun". */
  tunType?: string;
  persistent?: boolean;
  master?: string;
  up: boolean;
  mac: string;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function parseLink(json: string): LinkInfo {
  const parsed: unknown = JSON.parse(json);
  const raw = record(Array.isArray(parsed) ? parsed[0] : undefined);
  const linkinfo = record(raw.linkinfo);
  const data = record(linkinfo.info_data);
  const flags = Array.isArray(raw.flags) ? raw.flags : [];
  if (typeof raw.ifname !== 'string') throw new DroverError('NETWORK_ERROR', `unexpected ip -j link output: ${json.slice(0, 200)}`);
  return {
    name: raw.ifname,
    kind: optionalString(linkinfo.info_kind),
    tunType: optionalString(data.type),
    persistent: typeof data.persist === 'boolean' ? data.persist : undefined,
    master: optionalString(raw.master),
    up: flags.includes('UP'),
    mac: optionalString(raw.address) ?? '',
  };
}

/** The interface called `name` in the namespace, or undefined when there is none. */
export async function linkInfo(name: string, opts: NetnsOptions = {}): Promise<LinkInfo | undefined> {
  validateInterfaceName(name);
  const result = await runIn('ip', ['-j', '-d', 'link', 'show', 'dev', name], opts, true);
  if (result.code === 0) return parseLink(result.stdout);
  if (/does not exist/.test(result.stderr)) return undefined;
  throw new DroverError('NETWORK_ERROR', `ip link show dev ${name}: ${result.stderr.trim()}`);
}
