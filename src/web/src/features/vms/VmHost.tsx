import type { Vm } from '../../api';
import { hostPath, Link } from '../../router';

/** Where the VM is: its host, and while a live migration is in flight `→` the host it is moving to. */
export function VmHost({ vm }: { vm: Vm }) {
  const here = vm.host ? <Link to={hostPath(vm.host)}>{vm.host}</Link> : <span className="muted">-</span>;
  if (!vm.movingTo) return here;
  return (
    <span className="vm-moving" title={`Live migration in flight to ${vm.movingTo}`}>
      {here}{' '}
      <span className="moving-arrow" role="img" aria-label="moving to">
        →
      </span>{' '}
      <Link to={hostPath(vm.movingTo)}>{vm.movingTo}</Link>
    </span>
  );
}
