import { useCallback, useState } from 'react';
import { ApiError, type Accepted } from '../../api';
import { useSession } from '../auth/session';

/**
 * Runs an action that answers with an operation: tracks the operation in the tray, re-reads the
 * VM, and keeps the API's error (message and detail) for the page to show.
 */
export function useVmAction(vmName: string) {
  const { operations, fleet } = useSession();
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const run = useCallback(
    async (label: string, action: () => Promise<Accepted>): Promise<boolean> => {
      setBusy(label);
      setError(null);
      try {
        const accepted = await action();
        operations.track(accepted.operation);
        fleet.refreshVm(vmName);
        return true;
      } catch (err) {
        setError(err instanceof ApiError ? err : new ApiError(0, 'UNKNOWN', String(err)));
        return false;
      } finally {
        setBusy(null);
      }
    },
    [operations, fleet, vmName],
  );
  return { run, error, busy, clearError: () => setError(null) };
}
