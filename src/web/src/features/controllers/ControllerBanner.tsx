/**
 * "Controller X unreachable — switch to Y": shown while this controller does not answer, with a
 * link to the console of each other controller serving the cluster (read at start, from
 * GET /cluster/controllers). The token stays in this origin's session storage, so the user signs
 * in again there.
 */
import { useEffect, useState, useSyncExternalStore } from 'react';
import type { ControllerEndpoint } from '../../api';
import { useSession } from '../auth/session';

export function ControllerBanner() {
  const { api } = useSession();
  const reachable = useSyncExternalStore(api.subscribeReachability, () => api.reachable);
  const [controllers, setControllers] = useState<ControllerEndpoint[]>([]);
  useEffect(() => {
    // A controller without the route (older) or one already down leaves the list empty: the banner then offers no switch.
    api.listControllers().then(setControllers, () => undefined);
  }, [api]);
  if (reachable) return null;
  const here = window.location.origin;
  const others = controllers.filter((c) => !c.self && c.url !== here);
  return (
    <div className="notice warning controller-banner" role="alert" id="controller-unreachable">
      <strong>Controller {here} unreachable</strong>
      {others.length === 0 ? (
        <span>. Check that Drover is running; this page reconnects when it answers again.</span>
      ) : (
        <span>
          {' — switch to '}
          {others.map((c, i) => (
            <span key={c.url}>
              {i > 0 && ' or '}
              <a href={`${c.url}/`} id={`controller-switch-${i}`}>
                {c.url}
              </a>
            </span>
          ))}
          {' (sign in again there).'}
        </span>
      )}
    </div>
  );
}
