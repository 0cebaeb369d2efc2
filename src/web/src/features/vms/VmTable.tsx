import { memo, useDeferredValue, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { GUEST_TYPES, VM_STATES, type Vm } from '../../api';
import { StateBadge } from '../../components/StateBadge';
import { formatDuration, formatMiB } from '../../format';
import { Link, vmPath } from '../../router';
import { guestFeatures } from './guestTypes';
import { PrivilegedBadge } from './PrivilegedBadge';
import { VmHost } from './VmHost';

type SortKey = 'name' | 'type' | 'state' | 'host' | 'cpus' | 'memory' | 'uptime';
const COLUMNS: ReadonlyArray<{ key: SortKey; label: string; numeric?: boolean }> = [
  { key: 'name', label: 'Name' },
  { key: 'type', label: 'Type' },
  { key: 'state', label: 'State' },
  { key: 'host', label: 'Host' },
  { key: 'cpus', label: 'vCPUs', numeric: true },
  { key: 'memory', label: 'Memory', numeric: true },
  { key: 'uptime', label: 'Uptime', numeric: true },
];

const LIVE = new Set(['running', 'paused', 'stopping']);
/**
 * Rows have one height (styles.css) so only the rows in view need to exist: 1,000 VMs cost as much as
 * 40. This is the first guess; the rendered height is measured and used from then on.
 */
const ROW_HEIGHT = 34;
/** Rows rendered beyond the visible ones, above and below, so scrolling never shows a gap. */
const OVERSCAN = 15;
// A VM that started after the table's last clock tick shows 0s, not nothing.
const uptimeMs = (vm: Vm, now: number): number => (vm.startedAt && LIVE.has(vm.state) ? Math.max(0, now - Date.parse(vm.startedAt)) : -1);

const compare: Record<SortKey, (a: Vm, b: Vm, now: number) => number> = {
  name: (a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }),
  // Privileged containers sort after the others, so they gather at one end.
  type: (a, b) => GUEST_TYPES.indexOf(a.type) - GUEST_TYPES.indexOf(b.type) || Number(a.privileged) - Number(b.privileged),
  state: (a, b) => VM_STATES.indexOf(a.state) - VM_STATES.indexOf(b.state),
  host: (a, b) => (a.host ?? '').localeCompare(b.host ?? '', undefined, { numeric: true }),
  cpus: (a, b) => a.cpus - b.cpus,
  memory: (a, b) => a.memoryMiB - b.memoryMiB,
  uptime: (a, b, now) => uptimeMs(a, now) - uptimeMs(b, now),
};

interface Props {
  vms: readonly Vm[];
  now: number;
  /** Hide the host column (on a host's own page). */
  hideHost?: boolean;
  /** Prefix for the filter inputs' ids, when two tables could share a page. */
  idPrefix?: string;
}

/**
 * Every VM and container, sortable by any column and filtered by text, type and state; arrow keys move between rows.
 * Only the rows in view are in the DOM (the filter finds the others).
 */
export function VmTable({ vms, now, hideHost, idPrefix = 'vm-table' }: Props) {
  const [text, setText] = useState('');
  const [state, setState] = useState('');
  const [type, setType] = useState('');
  const [sort, setSort] = useState<{ key: SortKey; descending: boolean }>({ key: 'name', descending: false });
  const deferredText = useDeferredValue(text);
  const body = useRef<HTMLTableSectionElement>(null);

  const shown = useMemo(() => {
    const needle = deferredText.trim().toLowerCase();
    const filtered = vms.filter(
      (vm) =>
        (!state || vm.state === state) &&
        (!type || vm.type === type) &&
        (!needle || vm.name.includes(needle) || (vm.host ?? '').includes(needle) || (vm.movingTo ?? '').includes(needle) || (vm.image ?? '').includes(needle) || vm.macs.some((m) => m.includes(needle))),
    );
    const order = compare[sort.key];
    const sign = sort.descending ? -1 : 1;
    return filtered.sort((a, b) => sign * order(a, b, now) || a.name.localeCompare(b.name, undefined, { numeric: true }));
  }, [vms, deferredText, state, type, sort, now]);

  // The window of rows in view of the scroll box.
  const scroller = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 800 });
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    let frame = 0;
    const update = () => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => setView({ top: el.scrollTop, height: el.clientHeight }));
    };
    setView({ top: el.scrollTop, height: el.clientHeight });
    el.addEventListener('scroll', update, { passive: true });
    const resize = new ResizeObserver(update);
    resize.observe(el);
    return () => {
      cancelAnimationFrame(frame);
      el.removeEventListener('scroll', update);
      resize.disconnect();
    };
  }, []);
  const [rowHeight, setRowHeight] = useState(ROW_HEIGHT);
  useLayoutEffect(() => {
    const row = body.current?.querySelector<HTMLTableRowElement>('tr[id]');
    const measured = row?.getBoundingClientRect().height;
    if (measured && Math.abs(measured - rowHeight) > 0.01) setRowHeight(measured);
  });
  const first = Math.max(0, Math.floor(view.top / rowHeight) - OVERSCAN);
  const last = Math.min(shown.length, Math.ceil((view.top + view.height) / rowHeight) + OVERSCAN);

  // Arrow keys move between rows, scrolling rows that are not rendered yet into view.
  const [focusIndex, setFocusIndex] = useState<number | null>(null);
  useEffect(() => {
    if (focusIndex === null) return;
    const link = body.current?.querySelector<HTMLAnchorElement>(`a.vm-link[data-index="${focusIndex}"]`);
    if (link) link.focus();
    else scroller.current?.scrollTo({ top: Math.max(0, focusIndex * rowHeight - (scroller.current.clientHeight - rowHeight) / 2) });
  }, [focusIndex, first, last, rowHeight]);
  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
    const index = Number((document.activeElement as HTMLElement | null)?.dataset.index ?? NaN);
    if (Number.isNaN(index)) return;
    event.preventDefault();
    setFocusIndex(Math.max(0, Math.min(shown.length - 1, index + (event.key === 'ArrowDown' ? 1 : -1))));
  };

  const columns = hideHost ? COLUMNS.filter((c) => c.key !== 'host') : COLUMNS;
  return (
    <section className="vm-table" aria-label="VMs and containers">
      <div className="table-tools">
        <label htmlFor={`${idPrefix}-filter`} className="visually-hidden">
          Filter VMs
        </label>
        <input
          id={`${idPrefix}-filter`}
          type="search"
          placeholder="Filter by name, host, image or MAC"
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <label htmlFor={`${idPrefix}-state`} className="visually-hidden">
          State
        </label>
        <select id={`${idPrefix}-state`} value={state} onChange={(e) => setState(e.target.value)}>
          <option value="">All states</option>
          {VM_STATES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <label htmlFor={`${idPrefix}-type`} className="visually-hidden">
          Type
        </label>
        <select id={`${idPrefix}-type`} value={type} onChange={(e) => setType(e.target.value)}>
          <option value="">VMs and containers</option>
          <option value="vm">VMs only</option>
          <option value="container">Containers only</option>
        </select>
        <span className="muted" id={`${idPrefix}-count`} aria-live="polite">
          {shown.length === vms.length ? `${vms.length} VM${vms.length === 1 ? '' : 's'}` : `${shown.length} of ${vms.length} VMs`}
        </span>
      </div>
      <div className="table-scroll" ref={scroller}>
        <table aria-rowcount={shown.length + 1}>
          <thead>
            <tr>
              {columns.map((c) => {
                const active = sort.key === c.key;
                return (
                  <th key={c.key} className={c.numeric ? 'numeric' : undefined} aria-sort={active ? (sort.descending ? 'descending' : 'ascending') : 'none'}>
                    <button
                      type="button"
                      className="sort"
                      id={`${idPrefix}-sort-${c.key}`}
                      onClick={() => setSort({ key: c.key, descending: active ? !sort.descending : false })}
                    >
                      {c.label}
                      <span aria-hidden="true" className="sort-mark">
                        {active ? (sort.descending ? '▼' : '▲') : ''}
                      </span>
                    </button>
                  </th>
                );
              })}
              <th>IPs</th>
            </tr>
          </thead>
          <tbody ref={body} onKeyDown={onKeyDown}>
            {first > 0 && <tr aria-hidden="true" style={{ height: first * rowHeight }} />}
            {shown.slice(first, last).map((vm, i) => (
              <VmRow key={vm.name} vm={vm} index={first + i} uptime={uptimeText(vm, now)} hideHost={hideHost ?? false} />
            ))}
            {last < shown.length && <tr aria-hidden="true" style={{ height: (shown.length - last) * rowHeight }} />}
          </tbody>
        </table>
        {shown.length === 0 && <p className="empty">{vms.length === 0 ? 'No VMs yet. Create one with “Create VM”.' : 'No VM matches the filter.'}</p>}
      </div>
    </section>
  );
}

/** The uptime as shown; a string, so a row re-renders only when what it shows changes. */
function uptimeText(vm: Vm, now: number): string {
  const ms = uptimeMs(vm, now);
  return ms >= 0 ? formatDuration(ms) : '';
}

const VmRow = memo(function VmRow({ vm, index, uptime, hideHost }: { vm: Vm; index: number; uptime: string; hideHost: boolean }) {
  return (
    <tr
      id={`vm-row-${vm.name}`}
      data-type={vm.type}
      data-privileged={vm.privileged}
      data-state={vm.state}
      data-host={vm.host ?? ''}
      data-moving-to={vm.movingTo ?? ''}
      data-ha={vm.ha ? 'on' : 'off'}
      aria-rowindex={index + 2}
    >
      <td>
        <Link to={vmPath(vm.name)} className="vm-link" data-index={index}>
          {vm.name}
        </Link>
        {vm.ha && (
          <span className="tag ha-tag" title={`Protected by HA (priority ${vm.ha.priority})`}>
            HA
          </span>
        )}
      </td>
      <td id={`vm-type-${vm.name}`} className="vm-type" data-type={vm.type}>
        {guestFeatures(vm.type).label}
        {vm.privileged && <PrivilegedBadge id={`vm-privileged-${vm.name}`} />}
      </td>
      <td>
        <StateBadge state={vm.state} />
      </td>
      {!hideHost && (
        <td>
          <VmHost vm={vm} />
        </td>
      )}
      <td className="numeric">{vm.cpus}</td>
      <td className="numeric">{formatMiB(vm.memoryMiB)}</td>
      <td className="numeric">{uptime || <span className="muted">-</span>}</td>
      <td className={vm.ips.length ? undefined : 'muted'}>{vm.ips.length ? vm.ips.join(', ') : '-'}</td>
    </tr>
  );
});
