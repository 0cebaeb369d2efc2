import { memo } from 'react';
import type { DroverEvent } from '../../api';
import { toneOf } from '../../components/StateBadge';
import { formatTime } from '../../format';
import { hostPath, Link, vmPath } from '../../router';

/** Events, newest first; each row's detail opens on request. `hostName` maps host ids to names. */
export function EventTable({ events, hostName, showObject = true }: { events: readonly DroverEvent[]; hostName: (id: string | null) => string | undefined; showObject?: boolean }) {
  return (
    <div className="table-scroll">
      <table className="events compact">
        <thead>
          <tr>
            <th>Time</th>
            <th>Actor</th>
            {showObject && <th>Object</th>}
            <th>Action</th>
            <th>Result</th>
            <th>Host</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          {events.map((event) => (
            <EventRow key={event.id} event={event} host={hostName(event.hostId)} showObject={showObject} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

const EventRow = memo(function EventRow({ event, host, showObject }: { event: DroverEvent; host: string | undefined; showObject: boolean }) {
  const { object } = event;
  const name = object.name ?? object.id ?? '';
  const target = object.type === 'vm' && object.name ? <Link to={vmPath(object.name)}>{name}</Link> : object.type === 'host' && object.name ? <Link to={hostPath(object.name)}>{name}</Link> : name;
  const detail = event.detail && typeof event.detail === 'object' && Object.keys(event.detail).length > 0 ? JSON.stringify(event.detail, null, 2) : '';
  return (
    <tr id={`event-row-${event.id}`} data-action={event.action}>
      <td className="nowrap">
        <time dateTime={event.time}>{formatTime(event.time)}</time>
      </td>
      <td>{event.actor}</td>
      {showObject && (
        <td>
          <span className="muted small">{object.type}</span> {target}
        </td>
      )}
      <td>
        <code>{event.action}</code>
      </td>
      <td>
        <span className={`result ${toneOf(event.result)}`}>{event.result}</span>
      </td>
      <td>{host ? <Link to={hostPath(host)}>{host}</Link> : <span className="muted">-</span>}</td>
      <td>
        {detail ? (
          <details>
            <summary>detail</summary>
            <pre>{detail}</pre>
          </details>
        ) : (
          <span className="muted">-</span>
        )}
      </td>
    </tr>
  );
});
