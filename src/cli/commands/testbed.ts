import path from 'node:path';
import { Argument, Option, type Command } from 'commander';
import type { HostWire } from '../../controller/hosts/schema.js';
import { defaultTestbedDir } from '../../testbed/state.js';
import { FAULTS, type Fault } from '../../testbed/faults.js';
import type { TestbedController } from '../../testbed/up.js';
import { ApiError, apiPath } from '../client.js';
import { apiClient, withOutput, type OutputOptions } from '../options.js';
import { integerIn, ratioIn } from '../parse.js';
import { printJson, printTable } from '../output.js';
import { createJoinToken } from './host-join.js';

const FAULT_NAMES = [...FAULTS];

/** The configured controller (DROVER_URL / DROVER_TOKEN or the CLI config), as the testbed uses it. */
function controller(): TestbedController {
  const client = apiClient();
  return {
    url: client.url,
    mintJoinToken: async () => (await createJoinToken()).token,
    getHost: async (name) => {
      try {
        return await client.request<HostWire>('GET', apiPath('hosts', name));
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return undefined;
        throw err;
      }
    },
    removeHost: async (name) => {
      await client.request('DELETE', apiPath('hosts', name));
    },
  };
}

const dirOption = (): Option => new Option('--dir <dir>', 'the testbed\'s directory (state file, host data, shared storage)').default(defaultTestbedDir());

/**
 * `drover testbed up|down|status`: several hosts on this machine, each in its own network namespace
 * with its own agent, joined to the running controller. The hosts reach the controller through the
 * testbed bridge, so run the controller with `drover up --listen 0.0.0.0` (or pass --controller-url).
 */
export function registerTestbedCommands(program: Command): void {
  const testbed = program.command('testbed').description('A multi-host testbed on this machine: hosts in network namespaces, for tests and demos');

  const up = testbed
    .command('up')
    .description('Start N hosts (namespaces, agents) and join them to the controller; needs root and `drover up --listen 0.0.0.0`')
    .requiredOption('--hosts <n>', 'how many hosts', integerIn(1, 200))
    .addOption(new Option('--storage <kind>', 'shared: every host also gets <dir>/shared, standing in for NAS/NFS').choices(['shared', 'local']).default('shared'))
    .addOption(dirOption())
    .option('--controller-url <url>', 'the controller\'s URL as the hosts reach it (default: the testbed bridge address, on the controller\'s port)')
    .option('--name-prefix <prefix>', 'host names are this plus 1..N', 'host')
    .option('--cpu-overcommit <ratio>', 'vCPUs each host may place per physical CPU (default: the agent\'s, 1.0)', ratioIn(0.1, 64));
  withOutput(up).action(async (opts: OutputOptions & { hosts: number; storage: 'shared' | 'local'; dir: string; controllerUrl?: string; namePrefix: string; cpuOvercommit?: number }) => {
    const { testbedUp } = await import('../../testbed/up.js');
    const state = await testbedUp({
      dir: opts.dir,
      hosts: opts.hosts,
      storage: opts.storage,
      controller: controller(),
      namePrefix: opts.namePrefix,
      ...(opts.cpuOvercommit !== undefined ? { cpuOvercommit: opts.cpuOvercommit } : {}),
      ...(opts.controllerUrl ? { controllerUrl: opts.controllerUrl.replace(/\/+$/, '') } : {}),
      onProgress: (message) => void process.stderr.write(`${message}\n`),
    });
    if (opts.output === 'json') return printJson(state);
    printTable(state.hosts, { name: (h) => h.name, namespace: (h) => h.namespace, address: (h) => h.agentUrl, pid: (h) => h.pid }, 'table');
    process.stderr.write(`testbed ${state.id} is up in ${state.dir}; remove it with \`drover testbed down --dir ${state.dir}\`\n`);
  });

  withOutput(
    testbed
      .command('down')
      .description('Stop the testbed\'s agents and VMs, remove its namespaces, links and files, and have the controller forget its hosts (safe to repeat)')
      .addOption(dirOption()),
  ).action(async (opts: OutputOptions & { dir: string }) => {
    const { forgetHosts, testbedDown } = await import('../../testbed/down.js');
    const { readState } = await import('../../testbed/state.js');
    const state = readState(path.resolve(opts.dir));
    const result = await testbedDown(opts.dir);
    let api: TestbedController | undefined;
    try {
      api = controller();
    } catch {
      // No controller configured: its host records stay.
    }
    const controllerHosts = state && api ? await forgetHosts(state, api) : { forgotten: [], kept: state ? state.hosts.map((h) => ({ host: h.name, reason: 'no controller is configured (DROVER_URL)' })) : [] };
    if (opts.output === 'json') return printJson({ ...result, controller: controllerHosts });
    process.stdout.write(result.found ? `testbed ${result.id} removed (${result.namespaces.length} namespaces, ${result.pids.length} processes stopped)\n` : `no testbed in ${opts.dir}; nothing to remove\n`);
    if (controllerHosts.forgotten.length > 0) process.stdout.write(`the controller forgot ${controllerHosts.forgotten.join(', ')}\n`);
    for (const kept of controllerHosts.kept) process.stderr.write(`the controller keeps ${kept.host}: ${kept.reason}\n`);
  });

  withOutput(
    testbed
      .command('fault')
      .description('Do to a testbed host what goes wrong with real ones: power-off (SIGKILL its agent and QEMUs), power-on, network-down/up (its link), freeze/thaw (SIGSTOP/SIGCONT)')
      .argument('<host>', 'the testbed host, e.g. host2')
      .addArgument(new Argument('<fault>', 'what to do').choices(FAULT_NAMES))
      .addOption(dirOption()),
  ).action(async (hostName: string, fault: Fault, opts: OutputOptions & { dir: string }) => {
    const { applyFault } = await import('../../testbed/faults.js');
    const result = await applyFault(opts.dir, hostName, fault, controller());
    if (opts.output === 'json') return printJson(result);
    const active = Object.entries(result.faults).filter(([, on]) => on).map(([name]) => name);
    process.stdout.write(`${fault} ${hostName}: ${result.pids.length} process(es); faults now: ${active.join(', ') || 'none'}\n`);
  });

  withOutput(testbed.command('status').description('Show the testbed\'s hosts: namespace, agent, VMs and health at the controller').addOption(dirOption())).action(
    async (opts: OutputOptions & { dir: string }) => {
      let api: TestbedController | undefined;
      try {
        api = controller();
      } catch {
        // No controller configured: show what this machine knows.
      }
      const { testbedStatus } = await import('../../testbed/status.js');
      const { state, hosts } = await testbedStatus(opts.dir, async (name) => (api ? ((await api.getHost(name))?.health ?? 'not joined') : null));
      if (opts.output === 'json') return printJson({ id: state.id, dir: state.dir, storage: state.storage, sharedDir: state.sharedDir, controllerUrl: state.controllerUrl, bridge: state.bridge, hosts });
      printTable(
        hosts,
        {
          name: (h) => h.name,
          namespace: (h) => (h.namespaceExists ? h.namespace : `${h.namespace} (missing)`),
          address: (h) => h.agentUrl,
          agent: (h) => (h.agentRunning ? `running (pid ${h.pid})` : 'stopped'),
          vms: (h) => h.qemuPids.length,
          health: (h) => h.health,
          faults: (h) => Object.entries(h.faults).filter(([, on]) => on).map(([name]) => name).join(',') || '-',
        },
        'table',
      );
    },
  );
}
