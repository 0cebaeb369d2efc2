import type { ReactNode } from 'react';

/** Where a console's connection stands. */
export type ConsoleStatus = 'connecting' | 'connected' | 'closed';

interface Props {
  /** DOM ids kept stable for the browser tests. */
  statusId: string;
  reconnectId: string;
  status: ConsoleStatus;
  /** Why the connection closed, if known. */
  reason: string;
  onReconnect: () => void;
  /** Controls of this console, between the status and the reconnect button. */
  children?: ReactNode;
}

/** The bar above the serial and graphical consoles: connection status, the console's own controls, and Reconnect once closed. */
export function ConsoleBar({ statusId, reconnectId, status, reason, onReconnect, children }: Props) {
  return (
    <div className="console-bar">
      <span id={statusId} data-status={status} className={`status-dot ${status}`}>
        {status === 'connected' ? 'Connected' : status === 'connecting' ? 'Connecting…' : `Disconnected${reason ? `: ${reason}` : ''}`}
      </span>
      {children}
      {status === 'closed' && (
        <button type="button" id={reconnectId} onClick={onReconnect}>
          Reconnect
        </button>
      )}
    </div>
  );
}
