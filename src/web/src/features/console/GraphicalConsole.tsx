import RFB from '@novnc/novnc';
import { useEffect, useRef, useState } from 'react';
import { ConsoleBar, type ConsoleStatus } from './ConsoleBar';
import type { Vm } from '../../api';
import { useSession } from '../auth/session';


/** The VM's display in noVNC, over the controller's VNC WebSocket proxy (/api/v1/vms/:name/vnc). */
export default function GraphicalConsole({ vm }: { vm: Vm }) {
  const { api } = useSession();
  const box = useRef<HTMLDivElement>(null);
  const rfb = useRef<RFB | null>(null);
  const [status, setStatus] = useState<ConsoleStatus>('connecting');
  const [reason, setReason] = useState('');
  const [attempt, setAttempt] = useState(0);
  const live = vm.state === 'running' || vm.state === 'paused';

  useEffect(() => {
    const el = box.current;
    if (!el || !live) return;
    setStatus('connecting');
    setReason('');
    const { url, protocols } = api.vncTarget(vm.name);
    const client = new RFB(el, url, { wsProtocols: protocols });
    client.scaleViewport = true;
    client.background = '#14171c';
    client.addEventListener('connect', () => setStatus('connected'));
    client.addEventListener('disconnect', (event) => {
      setStatus('closed');
      setReason((event as CustomEvent<{ clean: boolean }>).detail.clean ? '' : 'the connection was lost or refused');
    });
    client.addEventListener('securityfailure', (event) => setReason(`security negotiation failed: ${(event as CustomEvent<{ reason?: string }>).detail.reason ?? 'unknown reason'}`));
    rfb.current = client;
    return () => {
      rfb.current = null;
      client.disconnect();
    };
  }, [api, vm.name, live, attempt]);

  if (!live) return <p className="muted" id="vnc-off">The graphical console is there while the VM runs. Start it first.</p>;
  return (
    <section className="console" aria-label={`Graphical console of ${vm.name}`}>
      <ConsoleBar statusId="vnc-status" reconnectId="vnc-reconnect" status={status} reason={reason} onReconnect={() => setAttempt((n) => n + 1)}>
        <button type="button" id="vnc-ctrl-alt-del" disabled={status !== 'connected'} onClick={() => rfb.current?.sendCtrlAltDel()}>
          Send Ctrl+Alt+Del
        </button>
      </ConsoleBar>
      <div ref={box} id="vnc-screen" className="vnc-screen" />
    </section>
  );
}
