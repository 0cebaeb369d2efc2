import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { ApiError, type VmMetrics } from '../../api';
import { ErrorNotice } from '../../components/ErrorNotice';
import { formatBytes } from '../../format';
import { useSession } from '../auth/session';

/** New samples are asked for this often (the controller samples on each 2 s heartbeat). */
const REFRESH_MS = 5_000;
const HOUR_MS = 3_600_000;
type Column = Exclude<keyof VmMetrics, 'vm' | 'retentionSeconds' | 'time'>;

interface ChartSpec {
  id: string;
  title: string;
  /** The y axis reaches at least this, so an idle VM's chart has sensible ticks. */
  floor: number;
  series: ReadonlyArray<{ column: Column; label: string; color: string }>;
  format: (value: number) => string;
}

const rate = (v: number) => `${formatBytes(v)}/s`;
const CHARTS: readonly ChartSpec[] = [
  { id: 'cpu', title: 'CPU', floor: 5, series: [{ column: 'cpuPercent', label: 'CPU %', color: '#1f5fbf' }], format: (v) => `${v.toFixed(v < 10 ? 1 : 0)} %` },
  { id: 'memory', title: 'Memory (QEMU resident)', floor: 64 * 1024 * 1024, series: [{ column: 'memoryBytes', label: 'Memory', color: '#7a3fb0' }], format: formatBytes },
  {
    id: 'disk',
    title: 'Disk',
    floor: 64 * 1024,
    series: [
      { column: 'diskReadBytesPerSecond', label: 'Read', color: '#1d7a46' },
      { column: 'diskWriteBytesPerSecond', label: 'Write', color: '#b3541e' },
    ],
    format: rate,
  },
  {
    id: 'network',
    title: 'Network',
    floor: 64 * 1024,
    series: [
      { column: 'networkReceiveBytesPerSecond', label: 'Receive', color: '#0f6f7a' },
      { column: 'networkTransmitBytesPerSecond', label: 'Transmit', color: '#a3307a' },
    ],
    format: rate,
  },
];

function merge(old: VmMetrics | null, next: VmMetrics): VmMetrics {
  if (!old) return next;
  const cutoff = Date.now() - HOUR_MS;
  const keep = old.time.findIndex((t) => t >= cutoff);
  const from = keep < 0 ? old.time.length : keep;
  const out = { ...next, time: [...old.time.slice(from), ...next.time] } as VmMetrics;
  for (const spec of CHARTS) for (const { column } of spec.series) out[column] = [...old[column].slice(from), ...next[column]];
  return out;
}

/** The last hour of the VM's CPU, memory, disk and network use, refreshed every few seconds. */
export default function MetricsCharts({ vmName }: { vmName: string }) {
  const { api } = useSession();
  const [data, setData] = useState<VmMetrics | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    let last: number | undefined;
    let cancelled = false;
    const fetchMore = () =>
      api.vmMetrics(vmName, last).then(
        (more) => {
          if (cancelled) return;
          last = more.time.at(-1) ?? last;
          setData((old) => merge(old, more));
          setError(null);
        },
        (err: unknown) => !cancelled && setError(err instanceof ApiError ? err : new ApiError(0, 'UNKNOWN', String(err))),
      );
    void fetchMore();
    const timer = window.setInterval(() => document.visibilityState === 'visible' && void fetchMore(), REFRESH_MS);
    return () => {
      cancelled = true;
      window.clearInterval(timer);
    };
  }, [api, vmName]);

  return (
    <section className="panel" aria-labelledby="metrics-title" id="vm-metrics">
      <h2 id="metrics-title">Usage, last hour</h2>
      {error && <ErrorNotice error={error} />}
      {data && data.time.length === 0 && <p className="muted">No samples yet: they arrive with each host heartbeat (every 2 s) while the VM runs.</p>}
      <div className="charts">{data && data.time.length > 0 && CHARTS.map((spec) => <Chart key={spec.id} spec={spec} data={data} />)}</div>
    </section>
  );
}

function Chart({ spec, data }: { spec: ChartSpec; data: VmMetrics }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const aligned = (): uPlot.AlignedData => [data.time.map((t) => t / 1000), ...spec.series.map((s) => data[s.column])];

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const options: uPlot.Options = {
      width: el.clientWidth || 400,
      height: 160,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(max * 1.1, spec.floor)] } },
      axes: [{ stroke: '#3b4250', grid: { stroke: '#e3e7ee' } }, { stroke: '#3b4250', grid: { stroke: '#e3e7ee' }, size: 84, values: (_u, ticks) => ticks.map(spec.format) }],
      series: [{}, ...spec.series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, fill: `${s.color}1f`, value: (_u: uPlot, v: number | null) => (v === null ? '-' : spec.format(v)) }))],
    };
    plot.current = new uPlot(options, aligned(), el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: el.clientWidth, height: 160 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Created once per chart; data changes go through setData below.
  }, [spec]);

  useEffect(() => {
    plot.current?.setData(aligned());
  });

  return (
    <figure className="chart" id={`chart-${spec.id}`}>
      <figcaption>{spec.title}</figcaption>
      <div ref={box} />
    </figure>
  );
}
