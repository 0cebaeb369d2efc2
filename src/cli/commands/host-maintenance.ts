import type { Command } from 'commander';
import type { EvacuationPlanWire } from '../../controller/cluster/schema.js';
import type { HostWire } from '../../controller/hosts/schema.js';
import { apiPath, type OperationView } from '../client.js';
import { followOperation, printStarted } from '../operations.js';
import { apiClient, withNoWait, withOutput, type OutputOptions } from '../options.js';
import { formatBytes, printJson } from '../output.js';

interface EnterOptions extends OutputOptions {
  dryRun?: boolean;
  force?: boolean;
  wait: boolean;
}

interface MaintenanceEntry {
  plan: EvacuationPlanWire;
  operation: OperationView | null;
}

/** What a finished `evacuate` operation reports (see controller/cluster/maintenance.ts). */
interface EvacuationOutcome {
  moved: { vm: string; to: string }[];
  failed: { vm: string; to: string; error: string }[];
  unmovable: { vm: string; reason: string }[];
}

/** The pre-flight report: where each VM would go, and which cannot move and why. */
export function formatEvacuationPlan(plan: EvacuationPlanWire): string {
  const lines = [`plan to evacuate ${plan.host}: ${plan.moves.length} to move (${formatBytes(plan.totalCostBytes)} to copy, memory and mirrored disks), ${plan.unmovable.length} cannot move`];
  for (const move of plan.moves) {
    const copies = move.restart
      ? `restart: stopped, ${move.storage === 'local' ? `${formatBytes(move.diskBytes)} disk copied to ${move.to}'s own storage while it runs` : 'disk stays in the shared pool'}, started on ${move.to}; down for a few seconds`
      : move.storage === 'local'
        ? `${formatBytes(move.memoryBytes)} memory + ${formatBytes(move.diskBytes)} disks mirrored to ${move.to}'s own storage`
        : `${formatBytes(move.memoryBytes)} memory, disks stay in the shared pool`;
    lines.push(`  ${move.vm} -> ${move.to} (${copies}): ${move.reason}`);
  }
  for (const stay of plan.unmovable) lines.push(`  ${stay.vm} stays (keeps running): ${stay.reason}`);
  return `${lines.join('\n')}\n`;
}

/** `drover host maintenance enter HOST [--dry-run] [--force]` and `drover host maintenance exit HOST`. */
export function registerHostMaintenanceCommands(host: Command): void {
  const maintenance = host.command('maintenance').description('Maintenance mode: take a host out of placement and move its VMs away');

  const enter = maintenance
    .command('enter')
    .description('Show where each VM would go, then enter maintenance and live-migrate them away one at a time')
    .argument('<host>', 'host name')
    .option('--dry-run', 'only show the plan; change nothing')
    .option('--force', 'enter maintenance even if some VMs cannot move (they keep running on the host)');
  withOutput(withNoWait(enter)).action(async (name: string, opts: EnterOptions) => {
    const client = apiClient();
    const path = apiPath('hosts', name, 'maintenance', 'enter');
    const preflight = await client.request<MaintenanceEntry>('POST', path, { dryRun: true });
    if (opts.dryRun) return opts.output === 'json' ? printJson(preflight.plan) : void process.stdout.write(formatEvacuationPlan(preflight.plan));
    if (opts.output !== 'json') process.stdout.write(formatEvacuationPlan(preflight.plan));
    const response = await client.request<MaintenanceEntry>('POST', path, { force: opts.force === true });
    // A request that is not a dry run answers with its operation (202).
    const operation = response.operation as OperationView;
    if (!opts.wait) return printStarted(operation, response, opts.output);
    const done = await followOperation(client, operation);
    // A succeeded evacuate operation's result is an EvacuationOutcome.
    const outcome = done.result as unknown as EvacuationOutcome;
    if (opts.output === 'json') return printJson({ plan: response.plan, ...outcome });
    process.stdout.write(`host ${name} is in maintenance: ${outcome.moved.length} moved, ${outcome.failed.length} failed, ${outcome.unmovable.length} could not move\n`);
    for (const f of outcome.failed) process.stdout.write(`  ${f.vm} did not move to ${f.to} and keeps running on ${name}: ${f.error}\n`);
    for (const u of outcome.unmovable) process.stdout.write(`  ${u.vm} keeps running on ${name}: ${u.reason}\n`);
  });

  withOutput(maintenance.command('exit').description('Return a host in maintenance to ready').argument('<host>', 'host name')).action(async (name: string, opts: OutputOptions) => {
    const h = await apiClient().request<HostWire>('POST', apiPath('hosts', name, 'maintenance', 'exit'));
    if (opts.output === 'json') return printJson(h);
    process.stdout.write(`host ${h.name} is ${h.state}\n`);
  });
}
