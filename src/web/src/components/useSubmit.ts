import { useCallback, useState } from 'react';
import { asApiError, type ApiError } from '../api';

/**
 * A form's submission: busy while an action runs (with the name it was given, for a bar of several
 * buttons), and the API's error (message and detail) kept for the form to show. `submit` resolves
 * to whether the action succeeded; it never rejects.
 */
export function useSubmit() {
  const [running, setRunning] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const submit = useCallback(async (action: () => Promise<void>, name = 'submit'): Promise<boolean> => {
    setRunning(name);
    setError(null);
    try {
      await action();
      return true;
    } catch (err) {
      setError(asApiError(err));
      return false;
    } finally {
      setRunning(null);
    }
  }, []);
  const clearError = useCallback(() => setError(null), []);
  return { busy: running !== null, running, error, setError, clearError, submit };
}
