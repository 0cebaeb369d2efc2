import { Option, type Command } from 'commander';
import { GUEST_TYPES, VM_STATES, type CreateVmBody, type VmWire } from '../../controller/vms/schema.js';
import { DroverError } from '../../shared/errors.js';
import { apiPath, withQuery, type OperationView } from '../client.js';
import { followOperation, printStarted } from '../operations.js';
import { apiClient, withNoWait, withOutput, type OutputOptions } from '../options.js';
import { printJson } from '../output.js';
import { collectNetworkAttachment, collectPortForward, collectString, integerIn, secondsToMs, type NetworkAttachment, type PortForward } from '../parse.js';
import { registerVmConsoleCommands } from './vm-console.js';
import { registerVmMigrateCommands } from './vm-migrate.js';
import { haFields, registerVmSetCommand } from './vm-set.js';
import { registerVmPowerCommands } from './vm-power.js';
import { registerVmSnapshotCommands } from './vm-snapshot.js';
import { DEFAULT_READY_TIMEOUT_SECONDS, getVm, printVm, printVms, waitReady } from './vm-view.js';

/** The 202 answer of VM actions: the operation to follow and the VM as it is now. */
export interface VmOperationResponse {
  operation: OperationView;
  vm: VmWire;
}

interface CreateOptions extends OutputOptions {
  type?: 'vm' | 'container';
  image: string;
  privileged?: boolean;
  pids?: number;
  swap?: number;
  cpuLimit?: number;
  diskBps?: number;
  diskIops?: number;
  cpus?: number;
  memory?: number;
  disk?: number;
  devices?: 'virtio' | 'emulated';
  clone?: 'linked' | 'full';
  host?: string;
  start?: boolean;
  portForward?: PortForward[];
  pool?: 'local' | 'shared';
  requireTag?: string[];
  affinityGroup?: string[];
  antiAffinityGroup?: string[];
  network?: NetworkAttachment[];
  wait?: boolean;
  readyTimeout: number;
  ha?: boolean;
  haPriority?: number;
  haIsolation?: 'keep-running' | 'power-off';
}

/** How many VMs `vm list` asks for at a time. */
const LIST_PAGE = 500;

/** `drover vm ...`: create, list, show, delete, clone, plus power, snapshot, console and exec. */
export function registerVmCommands(program: Command): void {
  const vm = program.command('vm').description('Virtual machines: create, run, snapshot, clone and reach them');

  withOutput(
    vm
      .command('list')
      .description('List VMs, by name (read a page at a time)')
      .option('--host <host>', 'only the VMs placed on this host')
      .addOption(new Option('--state <state>', 'only the VMs in this state').choices([...VM_STATES]))
      .addOption(new Option('--type <type>', 'only virtual machines or only system containers').choices([...GUEST_TYPES])),
  ).action(async (opts: OutputOptions & { host?: string; state?: string; type?: string }) => {
    const client = apiClient();
    const vms: VmWire[] = [];
    // Pages of LIST_PAGE: a fleet of 30,000 VMs is not one answer of tens of megabytes.
    let after: string | null = null;
    do {
      const page: { vms: VmWire[]; next: string | null } = await client.request('GET', withQuery(apiPath('vms'), { limit: LIST_PAGE, after: after ?? undefined, host: opts.host, state: opts.state, type: opts.type }));
      vms.push(...page.vms);
      after = page.next;
    } while (after);
    printVms(vms, opts.output);
  });

  withOutput(vm.command('show').description('Show one VM in full').argument('<vm>', 'VM name')).action(async (name: string, opts: OutputOptions) => {
    printVm(await getVm(apiClient(), name), opts.output);
  });

  const create = vm
    .command('create')
    .description('Create a VM or a system container from a library image (and start it with --start)')
    .argument('<name>', 'VM name: lowercase letters, digits and "-", starting with a letter')
    .addOption(new Option('--type <type>', 'vm (QEMU, default) or container (a system container run by runc, from a container image)').choices(['vm', 'container']))
    .requiredOption('--image <image>', 'library image for the root disk (see `drover image list`; its TYPE must match --type)')
    .option('--privileged', 'containers: no user namespace, root inside is root on the host (admins only; flagged in `vm show`)')
    .option('--pids <n>', 'containers: most processes and threads at once', integerIn(8, 4_194_304))
    .option('--swap <MiB>', 'containers: swap on top of --memory (default 0)', integerIn(0))
    .option('--cpu-limit <percent>', 'host CPU cap, 100 = one core (default: --cpus cores for a container, none for a VM)', integerIn(1, 6400))
    .option('--disk-bps <bytes>', 'root disk bandwidth cap, bytes per second, read and write', integerIn(1024))
    .option('--disk-iops <n>', 'root disk operations per second cap', integerIn(10))
    .option('--cpus <n>', 'virtual CPUs (default 1)', integerIn(1, 64))
    .option('--memory <MiB>', 'memory in MiB (default 256)', integerIn(64))
    .option('--disk <GiB>', 'root disk size in GiB (default: the image size)', integerIn(1))
    .addOption(new Option('--devices <model>', 'virtio (fast, needs guest drivers) or emulated (IDE + e1000)').choices(['virtio', 'emulated']))
    .addOption(new Option('--clone <mode>', 'root disk from the image: linked (copy-on-write, default) or full copy').choices(['linked', 'full']))
    .option('--host <host>', 'host to place the VM on (default: the scheduler picks)')
    .addOption(new Option('--pool <pool>', 'where the disks live: local (the host\'s own storage, default) or shared').choices(['local', 'shared']))
    .option('--require-tag <tag>', 'place only on hosts carrying this tag (key=value or key); repeatable', collectString)
    .option('--affinity-group <name>', 'keep on one host with the other VMs of this group; repeatable', collectString)
    .option('--anti-affinity-group <name>', 'keep on a different host from every other VM of this group; repeatable', collectString)
    .option('--start', 'start the VM once it is created')
    .option('--port-forward <spec>', 'forward a host port to the guest: tcp:HOST_PORT:GUEST_PORT (repeatable)', collectPortForward)
    .option('--network <spec>', 'a NIC on a virtual network, after the default user-mode NIC: NAME[,ip=A.B.C.D][,rate=10mbit|2MB/s] (repeatable)', collectNetworkAttachment)
    .option('--wait', 'with --start: also wait until the guest agent answers')
    .option('--ready-timeout <seconds>', 'how long --wait waits for the guest', secondsToMs, DEFAULT_READY_TIMEOUT_SECONDS * 1000)
    .option('--ha', 'protect the VM with HA: restart it on another host when its host fails (needs --pool shared)')
    .option('--ha-priority <n>', 'with --ha: 1 (restarts last) to 5 (first), default 3', integerIn(1, 5))
    .addOption(new Option('--ha-isolation <response>', 'with --ha: what a host cut off from the controller does with the VM (default keep-running)').choices(['keep-running', 'power-off']));
  withOutput(withNoWait(create)).action(async (name: string, opts: CreateOptions) => {
    const client = apiClient();
    if (!opts.ha && (opts.haPriority !== undefined || opts.haIsolation)) throw new DroverError('INVALID_ARGUMENT', '--ha-priority and --ha-isolation go with --ha');
    const body: CreateVmBody = {
      name,
      ...(opts.type ? { type: opts.type } : {}),
      image: opts.image,
      ...(opts.privileged ? { privileged: true } : {}),
      ...(opts.pids !== undefined ? { pidsLimit: opts.pids } : {}),
      ...(opts.swap !== undefined ? { swapMiB: opts.swap } : {}),
      ...(opts.cpuLimit !== undefined ? { cpuLimitPercent: opts.cpuLimit } : {}),
      ...(opts.diskBps !== undefined ? { diskBytesPerSecond: opts.diskBps } : {}),
      ...(opts.diskIops !== undefined ? { diskIops: opts.diskIops } : {}),
      ...(opts.cpus !== undefined ? { cpus: opts.cpus } : {}),
      ...(opts.memory !== undefined ? { memoryMiB: opts.memory } : {}),
      ...(opts.disk !== undefined ? { diskGiB: opts.disk } : {}),
      ...(opts.devices ? { devices: opts.devices } : {}),
      ...(opts.clone ? { clone: opts.clone } : {}),
      ...(opts.host ? { host: opts.host } : {}),
      ...(opts.start ? { start: true } : {}),
      ...(opts.portForward ? { portForwards: opts.portForward } : {}),
      ...(opts.pool ? { pool: opts.pool } : {}),
      ...(opts.requireTag || opts.affinityGroup || opts.antiAffinityGroup
        ? {
            placement: {
              ...(opts.requireTag ? { requiredTags: opts.requireTag } : {}),
              ...(opts.affinityGroup ? { affinityGroups: opts.affinityGroup } : {}),
              ...(opts.antiAffinityGroup ? { antiAffinityGroups: opts.antiAffinityGroup } : {}),
            },
          }
        : {}),
      ...(opts.network ? { networks: opts.network } : {}),
      ...(opts.ha ? { ha: haFields(opts) } : {}),
    };
    const response = await client.request<VmOperationResponse>('POST', apiPath('vms'), body);
    if (opts.wait === false) return printStarted(response.operation, response, opts.output);
    await followOperation(client, response.operation);
    const created = opts.start && opts.wait ? await waitReady(client, name, opts.readyTimeout) : await getVm(client, name);
    printVm(created, opts.output);
  });

  const remove = vm
    .command('delete')
    .description('Delete a VM and its disks (stop it first, or pass --force)')
    .argument('<vm>', 'VM name')
    .option('--force', 'kill the VM first if it is running');
  withOutput(withNoWait(remove)).action(async (name: string, opts: OutputOptions & { force?: boolean; wait: boolean }) => {
    const client = apiClient();
    const route = withQuery(apiPath('vms', name), { force: opts.force ? true : undefined });
    const response = await client.request<VmOperationResponse>('DELETE', route);
    if (!opts.wait) return printStarted(response.operation, response, opts.output);
    const done = await followOperation(client, response.operation);
    if (opts.output === 'json') printJson(done);
    else process.stdout.write(`deleted vm ${name}\n`);
  });

  const clone = vm
    .command('clone')
    .description('Clone a stopped VM: --full copies its disks (default), --linked shares them copy-on-write')
    .argument('<source>', 'VM to clone')
    .argument('<name>', 'name of the new VM')
    .addOption(new Option('--linked', 'copy-on-write disks backed by the source (fast, small)').conflicts('full'))
    .addOption(new Option('--full', 'independent copies of the disks (default)').conflicts('linked'));
  withOutput(withNoWait(clone)).action(async (source: string, name: string, opts: OutputOptions & { linked?: boolean; full?: boolean; wait: boolean }) => {
    const client = apiClient();
    const mode = opts.linked ? 'linked' : 'full';
    const response = await client.request<VmOperationResponse>('POST', apiPath('vms', source, 'clone'), { name, mode });
    if (!opts.wait) return printStarted(response.operation, response, opts.output);
    await followOperation(client, response.operation);
    printVm(await getVm(client, name), opts.output);
  });

  registerVmPowerCommands(vm);
  registerVmSnapshotCommands(vm);
  registerVmConsoleCommands(vm);
  registerVmMigrateCommands(vm);
  registerVmSetCommand(vm);
}
