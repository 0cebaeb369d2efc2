import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState } from 'react';
import { ConsoleBar, type ConsoleStatus } from './ConsoleBar';
import type { Vm } from '../../api';
import { useSession } from '../auth/session';
import { guestFeatures } from '../vms/guestTypes';


/** The guest's text console in xterm.js over /api/v1/vms/:name/console (raw bytes both ways): a VM's serial port, a container's pty. */
export default function SerialConsole({ vm }: { vm: Vm }) {
  const { api } = useSession();
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState<ConsoleStatus>('connecting');
  const [reason, setReason] = useState('');
  const [attempt, setAttempt] = useState(0);
  const live = vm.state === 'running' || vm.state === 'paused';

  useEffect(() => {
    const el = box.current;
    if (!el || !live) return;
    const term = new Terminal({
      cursorBlink: true,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
      fontSize: 14,
      scrollback: 5000,
      theme: { background: '#14171c', foreground: '#e6e9ef', cursor: '#e6e9ef' },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(el);
    fit.fit();
    setStatus('connecting');
    setReason('');
    const socket = api.openSocket(`/vms/${encodeURIComponent(vm.name)}/console`);
    const encoder = new TextEncoder();
    socket.onopen = () => {
      setStatus('connected');
      term.focus();
    };
    socket.onmessage = (message) => term.write(typeof message.data === 'string' ? message.data : new Uint8Array(message.data as ArrayBuffer));
    socket.onclose = (event) => {
      setStatus('closed');
      setReason(event.reason || (event.code === 1006 ? 'the connection was lost or refused' : ''));
      term.write('\r\n\x1b[2m[disconnected]\x1b[0m\r\n');
    };
    const input = term.onData((data) => socket.readyState === WebSocket.OPEN && socket.send(encoder.encode(data)));
    const resize = new ResizeObserver(() => fit.fit());
    resize.observe(el);
    return () => {
      resize.disconnect();
      input.dispose();
      socket.close();
      term.dispose();
    };
  }, [api, vm.name, live, attempt]);

  if (!live) return <p className="muted" id="serial-console-off">The console is there while the {guestFeatures(vm.type).label} runs. Start it first.</p>;
  return (
    <section className="console" aria-label={`Console of ${vm.name}`}>
      <ConsoleBar statusId="serial-console-status" reconnectId="serial-console-reconnect" status={status} reason={reason} onReconnect={() => setAttempt((n) => n + 1)}>
        <span className="muted small">Keys go to the guest while the terminal has focus; click outside it to leave.</span>
      </ConsoleBar>
      <div className="terminal-frame">
        <div ref={box} id="serial-console" className="terminal" />
      </div>
    </section>
  );
}
