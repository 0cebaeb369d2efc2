import { memo } from 'react';
import type { Host } from '../../api';
import { Meter } from '../../components/Meter';
import { StateBadge } from '../../components/StateBadge';
import { formatAge, formatBytes } from '../../format';
import { hostPath, Link } from '../../router';
import { LIVENESS_TEXT, needsAttention } from '../ha/liveness';

/** A heartbeat older than this is shown as late (heartbeats come every 2 s). */
const LATE_MS = 10_000;

/**
 * One host at a glance: health, accelerator, allocated CPU and memory against capacity, VMs,
 * heartbeat, and HA's liveness with its reason when it is not ok (`liveness` and `livenessReason`
 * are strings, so a new HA answer re-renders only the cards whose verdict changed).
 */
export const HostCard = memo(function HostCard({ host, now, liveness, livenessReason }: { host: Host; now: number; liveness?: string | undefined; livenessReason?: string | undefined }) {
  const late = !host.lastHeartbeat || now - Date.parse(host.lastHeartbeat) > LATE_MS;
  const attention = liveness !== undefined && needsAttention(liveness);
  return (
    <article
      className={`host-card health-${host.health}`}
      id={`host-card-${host.name}`}
      data-health={host.health}
      data-state={host.state}
      data-liveness={liveness}
      aria-labelledby={`host-card-${host.name}-name`}
    >
      <header>
        <Link to={hostPath(host.name)} id={`host-card-${host.name}-name`} className="host-name" title={host.name}>
          {host.name}
        </Link>
        <span className="tag" title={host.acceleratorReason ?? undefined}>
          {host.accelerator.toUpperCase()}
        </span>
      </header>
      <div className="host-tags">
        <StateBadge state={host.health} />
        {host.state !== 'ready' && <StateBadge state={host.state} />}
        {attention && (
          <span title={LIVENESS_TEXT[liveness]}>
            <StateBadge state={liveness} id={`host-card-${host.name}-liveness`} />
          </span>
        )}
        <span className="muted small">
          {host.vmCount} VM{host.vmCount === 1 ? '' : 's'}
        </span>
      </div>
      {attention && livenessReason && (
        <p className="ha-reason" id={`host-card-${host.name}-ha-reason`} title={livenessReason}>
          {livenessReason}
        </p>
      )}
      <Meter label="CPU" used={host.usage.cpus} total={host.capacity.cpus} text={`${host.usage.cpus} / ${host.capacity.cpus} vCPU`} />
      <Meter label="Memory" used={host.usage.memoryBytes} total={host.capacity.memoryBytes} text={`${formatBytes(host.usage.memoryBytes)} / ${formatBytes(host.capacity.memoryBytes)}`} />
      <footer className={late ? 'late' : 'muted'} title={host.lastHeartbeat ?? 'no heartbeat yet'}>
        Heartbeat {formatAge(host.lastHeartbeat, now)}
      </footer>
    </article>
  );
});
