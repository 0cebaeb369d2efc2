import { InvalidArgumentError, Option, type Command } from 'commander';
import type { FenceTestWire, HostFenceWire } from '../../controller/hosts/fence-schema.js';
import { apiPath } from '../client.js';
import { apiClient, withOutput, type OutputOptions } from '../options.js';
import { printJson, printObject, type OutputFormat } from '../output.js';

interface SetOptions extends OutputOptions {
  agent: string;
  option: Record<string, string>;
}

/** Commander accumulator for a repeatable `--option key=value`; the value may hold "=", a key may come once. */
export function collectFenceOption(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError(`"${value}" is not key=value, e.g. ip=10.0.0.9 or password=...`);
  const key = value.slice(0, at);
  if (Object.hasOwn(previous, key)) throw new InvalidArgumentError(`option ${key} is given twice`);
  // A computed key defines an own property even for "__proto__", so the controller sees and refuses it.
  return { ...previous, [key]: value.slice(at + 1) };
}

/** A fence device as `key: value` lines (its options as they are stored, secrets shown as ***), or JSON. */
function printFence(fence: HostFenceWire, format: OutputFormat): void {
  if (format === 'json') return printJson(fence);
  printObject(
    {
      host: fence.host,
      agent: fence.agent,
      options: Object.entries(fence.options).map(([key, value]) => `${key}=${value}`).join(' ') || 'none',
      set: `${fence.setAt} by ${fence.setBy}`,
    },
    'table',
  );
}

/** `drover host fence set|show|test|remove HOST`: the device HA powers the host off with. */
export function registerHostFenceCommands(host: Command): void {
  const fence = host.command('fence').description('Fence devices: how HA powers a failed host off before restarting its VMs elsewhere');

  const set = fence
    .command('set')
    .description('Set the host\'s fence device, a ClusterLabs fence agent (fence_ipmilan, fence_redfish...) and its options; the agent\'s metadata must accept them')
    .argument('<host>', 'host name')
    .requiredOption('--agent <name>', 'the fence agent program, e.g. fence_ipmilan (`<agent> -o metadata` lists its options)')
    .addOption(new Option('--option <key=value>', 'an agent option such as ip=..., username=..., password=..., plug=...; repeatable').argParser(collectFenceOption).default({}, 'none'));
  withOutput(set).action(async (name: string, opts: SetOptions) => {
    printFence(await apiClient().request<HostFenceWire>('PUT', apiPath('hosts', name, 'fence'), { agent: opts.agent, options: opts.option }), opts.output);
  });

  withOutput(fence.command('show').description('Show the host\'s fence device, secret options as ***').argument('<host>', 'host name')).action(async (name: string, opts: OutputOptions) => {
    printFence(await apiClient().request<HostFenceWire>('GET', apiPath('hosts', name, 'fence')), opts.output);
  });

  withOutput(fence.command('test').description('Ask the fence device for the host\'s power state (status, else monitor), without changing it').argument('<host>', 'host name')).action(
    async (name: string, opts: OutputOptions) => {
      const answer = await apiClient().request<FenceTestWire>('POST', apiPath('hosts', name, 'fence', 'test'));
      if (opts.output === 'json') return printJson(answer);
      const power = answer.state ? `power ${answer.state}` : 'reachable';
      process.stdout.write(`${answer.agent} answered ${answer.action} for host ${answer.host}: ${power}\n`);
      if (answer.output) process.stdout.write(`${answer.output.replace(/^/gm, '  ')}\n`);
    },
  );

  withOutput(fence.command('remove').description('Remove the host\'s fence device; HA can then no longer fence it').argument('<host>', 'host name')).action(async (name: string, opts: OutputOptions) => {
    await apiClient().request('DELETE', apiPath('hosts', name, 'fence'));
    if (opts.output === 'json') return printJson({ host: name, fence: null });
    process.stdout.write(`removed the fence device of host ${name}\n`);
  });
}
