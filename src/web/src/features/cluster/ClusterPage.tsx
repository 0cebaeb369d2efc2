import { ClusterHaPanel } from '../ha/ClusterHaPanel';
import { NetworksPanel } from '../networks/NetworksPanel';
import { BalancePanel } from './BalancePanel';
import { PolicyPanel } from './PolicyPanel';
import { SchedulePanel } from './SchedulePanel';

/** The cluster as a whole: high availability, the scheduler's policy, balancing (plan, run, schedule) and the virtual networks. */
export function ClusterPage() {
  return (
    <main className="page" id="cluster-page">
      <div className="page-header">
        <h1>Cluster</h1>
      </div>
      <div className="cluster-grid">
        <ClusterHaPanel />
        <PolicyPanel />
        <SchedulePanel />
        <BalancePanel />
        <NetworksPanel />
      </div>
    </main>
  );
}
