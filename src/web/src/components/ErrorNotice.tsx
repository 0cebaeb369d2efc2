import type { ReactNode } from 'react';
import type { ApiError } from '../api';

/** An API error for a person: its message, anything the caller shows with it (`children`), and the code and detail behind it on request. */
export function ErrorNotice({ error, id, onDismiss, children }: { error: ApiError; id?: string; onDismiss?: () => void; children?: ReactNode }) {
  const hasMore = Boolean(error.detail || error.field || error.requestId);
  return (
    <div className="notice error" role="alert" id={id} data-code={error.code}>
      <div className="notice-row">
        <strong className="error-message">{error.message}</strong>
        {onDismiss && (
          <button type="button" className="link-button" onClick={onDismiss} aria-label="Dismiss the error">
            Dismiss
          </button>
        )}
      </div>
      {children}
      {hasMore && (
        <details className="error-detail">
          <summary>Details ({error.code})</summary>
          <dl>
            {error.detail && (
              <>
                <dt>Detail</dt>
                <dd>{error.detail}</dd>
              </>
            )}
            {error.field && (
              <>
                <dt>Field</dt>
                <dd>{error.field}</dd>
              </>
            )}
            <dt>Code</dt>
            <dd>{error.code}{error.status ? ` (HTTP ${error.status})` : ''}</dd>
            {error.requestId && (
              <>
                <dt>Request</dt>
                <dd>{error.requestId}</dd>
              </>
            )}
          </dl>
        </details>
      )}
    </div>
  );
}
