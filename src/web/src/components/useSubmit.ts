import { useCallback, useState } from 'react';
import { asApiError, type ApiError } from '../api';

/** A form's submission: busy while `action` runs, and the API's error (message and detail) kept for the form to show. */
export function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const submit = useCallback(async (action: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, setError, submit };
}
