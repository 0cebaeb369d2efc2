import path from 'node:path';
import { Argument, Option, type Command } from 'commander';
import type { HostWire } from '../../controller/hosts/schema.js';
import { defaultTestbedDir } from '../../testbed/state.js';
import type { TestbedHostStatus } from '../../testbed/status.js';
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
    setFenceDevice: async (name, device) => {
      const route = apiPath('hosts', name, 'fence');
      try {
        await client.request('PUT', route, device);
      } catch (err) {
        // The host has just joined, so a 404 means the route: a controller from before fence devices.
        if (err instanceof ApiError && err.status === 404) throw new Error(`PUT ${route} answered 404: this controller does not take fence devices (${err.message})`, { cause: err });
        throw err;
      }
    },
  };
}

const dirOption = (): Option => new Option('--dir <dir>', 'the testbed\'s directory (state file, host data, shared storage)').default(defaultTestbedDir());

const simulatedOrNone = (flag: string, what: string): Option => new Option(`--${flag} <kind>`, what).choices(['simulated', 'none']).default('simulated');

/** `drover testbed status`'s fence column: none, or the switch's power record, or why the controller has no device. */
function fenceText(host: TestbedHostStatus): string {
  if (host.fence.kind === 'none') return 'none';
  return host.fence.registered === false ? `simulated, ${host.fence.power}, not registered` : `simulated, ${host.fence.power}`;
}

/** `drover testbed status`'s watchdog column: none, disarmed, or armed with its timeout; and its resets. */
function watchdogText(host: TestbedHostStatus): string {
  if (host.watchdog.kind === 'none') return 'none';
  const resets = host.watchdog.resets > 0 ? `, ${host.watchdog.resets} reset${host.watchdog.resets === 1 ? '' : 's'}` : '';
  return `${host.watchdog.armed ? `armed ${host.watchdog.timeoutSeconds} s` : 'disarmed'}${resets}`;
}

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
    .option('--cpu-overcommit <ratio>', 'vCPUs each host may place per physical CPU (default: the agent\'s, 1.0)', ratioIn(0.1, 64))
    .addOption(simulatedOrNone('fence', 'simulated: every host gets a simulated power switch (fence_drover_simulated), registered at the controller as its fence device'))
    .addOption(simulatedOrNone('watchdog', 'simulated: every agent gets a simulated watchdog, which powers its host off when the agent stops feeding it'));
  type UpOptions = OutputOptions & { hosts: number; storage: 'shared' | 'local'; dir: string; controllerUrl?: string; namePrefix: string; cpuOvercommit?: number; fence: 'simulated' | 'none'; watchdog: 'simulated' | 'none' };
  withOutput(up).action(async (opts: UpOptions) => {
    const { testbedUp } = await import('../../testbed/up.js');
    const state = await testbedUp({
      dir: opts.dir,
      hosts: opts.hosts,
      storage: opts.storage,
      controller: controller(),
      namePrefix: opts.namePrefix,
      fence: opts.fence,
      watchdog: opts.watchdog,
      ...(opts.cpuOvercommit !== undefined ? { cpuOvercommit: opts.cpuOvercommit } : {}),
      ...(opts.controllerUrl ? { controllerUrl: opts.controllerUrl.replace(/\/+$/, '') } : {}),
      onProgress: (message) => void process.stderr.write(`${message}\n`),
      onWarning: (message) => void process.stderr.write(`warning: ${message}\n`),
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
      .description('Do to a testbed host what goes wrong with real ones: power-off (SIGKILL its agent and QEMUs), power-on, network-down/up (its link), freeze/thaw (SIGSTOP/SIGCONT), agent-crash (SIGKILL the agent alone, started again 2 s later)')
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
      const { state, hosts, hardware } = await testbedStatus(opts.dir, async (name) => (api ? ((await api.getHost(name))?.health ?? 'not joined') : null));
      if (opts.output === 'json') {
        return printJson({ id: state.id, dir: state.dir, storage: state.storage, sharedDir: state.sharedDir, controllerUrl: state.controllerUrl, bridge: state.bridge, fence: state.fence ?? 'none', fenceDir: state.fenceDir ?? null, watchdog: state.watchdog ?? 'none', hardware, hosts });
      }
      printTable(
        hosts,
        {
          name: (h) => h.name,
          namespace: (h) => (h.namespaceExists ? h.namespace : `${h.namespace} (missing)`),
          address: (h) => h.agentUrl,
          agent: (h) => (h.agentRunning ? `running (pid ${h.pid})` : 'stopped'),
          vms: (h) => h.qemuPids.length,
          health: (h) => h.health,
          faults: (h) => Object.entries(h.faults).filter(([, on]) => on).map(([name]) => (name === 'poweredOff' && h.poweredOffBy !== 'fault' ? `poweredOff(${h.poweredOffBy})` : name)).join(',') || '-',
          fence: fenceText,
          watchdog: watchdogText,
        },
        'table',
      );
      if (hardware) process.stdout.write(`simulated hardware: ${hardware.running ? `running (pid ${hardware.pid})` : 'not running'}, log ${hardware.logFile}\n`);
    },
  );

  // Started by `testbed up`, never by people: hidden from help.
  testbed
    .command('hardware', { hidden: true })
    .description('The testbed\'s simulated hardware (fence switch records, watchdogs), run by `testbed up` until the testbed is gone')
    .requiredOption('--dir <dir>', 'the testbed\'s directory')
    .requiredOption('--id <id>', 'the testbed\'s id: the daemon exits when the directory holds another')
    .action(async (opts: { dir: string; id: string }) => {
      const { runHardware } = await import('../../testbed/hardware.js');
      await runHardware(path.resolve(opts.dir), opts.id);
    });
}
