import { useCallback } from 'react';
import type { Accepted } from '../../api';
import { useSubmit } from '../../components/useSubmit';
import { useSession } from '../auth/session';

/**
 * Runs an action that answers with an operation: tracks the operation in the tray, re-reads the
 * VM, and keeps the API's error (message and detail) for the page to show. `busy` names the
 * action running; `run` resolves to whether the controller accepted it.
 */
export function useVmAction(vmName: string) {
  const { operations, fleet } = useSession();
  const { running, error, clearError, submit } = useSubmit();
  const run = useCallback(
    (label: string, action: () => Promise<Accepted>): Promise<boolean> =>
      submit(async () => {
        const accepted = await action();
        operations.track(accepted.operation);
        fleet.refreshVm(vmName);
      }, label),
    [submit, operations, fleet, vmName],
  );
  return { run, error, busy: running, clearError };
}
