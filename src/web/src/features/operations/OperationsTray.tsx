import { useSession } from '../auth/session';
import { OperationCard } from './OperationCard';
import { useTrackedOperations } from './tracker';

/** This session's operations in a corner: progress while they run, the error if one fails. */
export function OperationsTray() {
  const { operations } = useSession();
  const shown = useTrackedOperations(operations).filter((t) => t.inTray);
  if (shown.length === 0) return null;
  return (
    <aside className="tray" id="operations-tray" aria-label="Operations" aria-live="polite">
      {shown.slice(0, 5).map((t) => (
        <OperationCard key={t.operation.id} op={t.operation} cancelError={t.cancelError} onCancel={() => void operations.cancel(t.operation.id)} onDismiss={() => operations.dismiss(t.operation.id)} />
      ))}
    </aside>
  );
}
