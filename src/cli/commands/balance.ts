import { InvalidArgumentError, Option, type Command } from 'commander';
import type { BalancePlanWire } from '../../controller/cluster/schema.js';
import { apiPath, type OperationView } from '../client.js';
import { followOperation, printStarted } from '../operations.js';
import { apiClient, withNoWait, withOutput, type OutputOptions } from '../options.js';
import { formatBytes, printJson } from '../output.js';
import { integerIn } from '../parse.js';

interface BalanceRun {
  plan: BalancePlanWire;
  operation: OperationView | null;
}

interface BalanceSchedule {
  enabled: boolean;
  intervalMinutes: number;
  threshold: number;
}

/** A threshold in ratio points, 0..1. */
function threshold(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('a number from 0 to 1, e.g. 0.1 for 10 points');
  return n;
}

const percent = (ratio: number): string => `${(ratio * 100).toFixed(1)}%`;

/** The plan as people read it: imbalance before and after, then each move. */
export function formatBalancePlan(plan: BalancePlanWire): string {
  const fewest = plan.movesLowerBound === null ? '' : ` (any plan needs at least ${plan.movesLowerBound})`;
  const lines = [`imbalance ${percent(plan.imbalanceBefore)} -> ${percent(plan.imbalanceAfter)} (threshold ${percent(plan.threshold)}), ${plan.moves.length} move(s)${fewest}, ${formatBytes(plan.totalCostBytes)} to copy: ${plan.stopReason}`];
  for (const m of plan.moves) lines.push(`  ${m.vm}: ${m.from} -> ${m.to} (${m.restart ? 'restart: down from its stop to its start' : formatBytes(m.costBytes)}): ${m.reason}`);
  return `${lines.join('\n')}\n`;
}

/** `drover balance [--dry-run] [--threshold T]` and `drover balance schedule [--enable|--disable] [--interval MIN] [--threshold T]`. */
export function registerBalanceCommands(program: Command): void {
  const balance = program
    .command('balance')
    .description('Even out host load by live-migrating VMs; prints the plan, then follows the moves')
    .option('--dry-run', 'only show the plan; change nothing')
    .option('--threshold <T>', 'aim for every host within T of even load (0.1 = 10 points; default 0.1)', threshold);
  withOutput(withNoWait(balance)).action(async (opts: OutputOptions & { dryRun?: boolean; threshold?: number; wait: boolean }) => {
    const client = apiClient();
    const body = { dryRun: opts.dryRun === true, ...(opts.threshold !== undefined ? { threshold: opts.threshold } : {}) };
    const response = await client.request<BalanceRun>('POST', apiPath('balance'), body);
    if (opts.output !== 'json') process.stdout.write(formatBalancePlan(response.plan));
    if (!response.operation) return opts.output === 'json' ? printJson(response.plan) : undefined;
    if (!opts.wait) return printStarted(response.operation, response, opts.output);
    const done = await followOperation(client, response.operation);
    if (opts.output === 'json') return printJson({ plan: response.plan, result: done.result });
    const result = done.result as unknown as { moved: unknown[]; failed: { vm: string; error: string }[]; skipped: string[] };
    process.stdout.write(`${result.moved.length} moved, ${result.failed.length} failed, ${result.skipped.length} skipped\n`);
    for (const f of result.failed) process.stdout.write(`  ${f.vm} stayed where it was: ${f.error}\n`);
  });

  const schedule = balance
    .command('schedule')
    .description('Show or change when the balancer runs by itself (off by default; stored, so it survives a controller restart)')
    .addOption(new Option('--enable', 'run the balancer periodically').conflicts('disable'))
    .option('--disable', 'stop running it periodically')
    .option('--interval <minutes>', 'minutes between runs', integerIn(1, 10_080))
    .option('--threshold <T>', 'threshold for scheduled runs', threshold);
  withOutput(schedule).action(async (opts: OutputOptions & { enable?: boolean; disable?: boolean; interval?: number; threshold?: number }) => {
    const change = {
      ...(opts.enable ? { enabled: true } : opts.disable ? { enabled: false } : {}),
      ...(opts.interval !== undefined ? { intervalMinutes: opts.interval } : {}),
      ...(opts.threshold !== undefined ? { threshold: opts.threshold } : {}),
    };
    const client = apiClient();
    const current = Object.keys(change).length > 0 ? await client.request<BalanceSchedule>('PUT', apiPath('balance', 'schedule'), change) : await client.request<BalanceSchedule>('GET', apiPath('balance', 'schedule'));
    if (opts.output === 'json') return printJson(current);
    process.stdout.write(current.enabled ? `balancing every ${current.intervalMinutes} min at threshold ${percent(current.threshold)}\n` : 'scheduled balancing is off\n');
  });
}
