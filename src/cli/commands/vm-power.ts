import type { Command } from 'commander';
import { apiPath, withQuery } from '../client.js';
import { followOperation, printStarted } from '../operations.js';
import { apiClient, withNoWait, withOutput, type OutputOptions } from '../options.js';
import { secondsToMs } from '../parse.js';
import type { VmOperationResponse } from './vm.js';
import { DEFAULT_READY_TIMEOUT_SECONDS, getVm, printVmState, waitReady } from './vm-view.js';

interface PowerOptions extends OutputOptions {
  wait?: boolean;
  readyTimeout?: number;
  timeout?: number;
}

/** The power actions: each is one POST answering 202 with an operation. */
const ACTIONS: readonly { name: string; description: string; readiness?: boolean }[] = [
  { name: 'start', description: 'Start a stopped VM (--wait: until the guest agent answers)', readiness: true },
  { name: 'stop', description: 'Shut a VM down cleanly (ACPI), killing it if it does not stop within --timeout' },
  { name: 'kill', description: 'Stop a VM at once, like pulling the power cord' },
  { name: 'reboot', description: 'Reboot a running VM (--wait: until the guest agent answers again)', readiness: true },
  { name: 'pause', description: 'Freeze a running VM in memory' },
  { name: 'resume', description: 'Continue a paused VM' },
];

/** `drover vm start|stop|kill|reboot|pause|resume VM`. */
export function registerVmPowerCommands(vm: Command): void {
  for (const action of ACTIONS) {
    const command = vm.command(action.name).description(action.description).argument('<vm>', 'VM name');
    if (action.readiness) {
      command
        .option('--wait', 'after the operation, also wait until the guest agent answers')
        .option('--ready-timeout <seconds>', 'how long --wait waits for the guest', secondsToMs, DEFAULT_READY_TIMEOUT_SECONDS * 1000);
    }
    if (action.name === 'stop') command.option('--timeout <seconds>', 'grace for a clean shutdown before the VM is killed (default 60)', secondsToMs);
    withOutput(withNoWait(command)).action(async (name: string, opts: PowerOptions) => {
      const client = apiClient();
      const route = withQuery(apiPath('vms', name, action.name), { timeoutMs: opts.timeout });
      const response = await client.request<VmOperationResponse>('POST', route);
      if (opts.wait === false) return printStarted(response.operation, response, opts.output);
      await followOperation(client, response.operation);
      const after = opts.wait && opts.readyTimeout !== undefined ? await waitReady(client, name, opts.readyTimeout) : await getVm(client, name);
      printVmState(after, opts.output);
    });
  }
}
