/**
 * A small in-memory history of every VM's usage for the web console's charts: the counters hosts
 * report on each heartbeat (HostService.vmStats()) turned into rates, kept for an hour per VM.
 * Nothing is persisted; a controller restart starts the charts afresh.
 */
import type { VmStats } from '../../vms/stats.js';

/** The figures kept per sample, in this order. Rates are per second; null where none can be derived. */
export const SERIES_FIELDS = [
  'cpuPercent',
  'memoryBytes',
  'diskReadBytesPerSecond',
  'diskWriteBytesPerSecond',
  'networkReceiveBytesPerSecond',
  'networkTransmitBytesPerSecond',
] as const;
export type SeriesField = (typeof SERIES_FIELDS)[number];

/** One VM's samples, oldest first, as columns: `time` in ms since the epoch, the rest per SERIES_FIELDS. */
export type VmMetricsSeries = { time: number[] } & Record<SeriesField, Array<number | null>>;

export interface MetricsHistoryOptions {
  /** How long samples are kept; default one hour. */
  retentionMs?: number;
  /** At most this many samples per VM (the oldest are overwritten); default 4096, 1 h at about 1 s. */
  maxSamples?: number;
  now?: () => number;
}

type Counter = 'cpuSeconds' | 'diskReadBytes' | 'diskWriteBytes' | 'netRxBytes' | 'netTxBytes';
/** The last usable reading of each counter and when it was taken. */
type LastReadings = Record<Counter, { value: number; at: number }>;

/** A ring buffer of one VM's samples plus the last counters, to derive the next rates from. */
class Series {
  private time: Float64Array;
  private values: Float32Array[];
  private start = 0;
  length = 0;
  last: LastReadings | undefined;

  constructor(private readonly maxSamples: number) {
    const initial = Math.min(64, maxSamples);
    this.time = new Float64Array(initial);
    this.values = SERIES_FIELDS.map(() => new Float32Array(initial));
  }

  get lastTime(): number {
    return this.length === 0 ? -Infinity : (this.time[(this.start + this.length - 1) % this.time.length] as number);
  }

  push(at: number, row: readonly number[]): void {
    if (this.length === this.time.length) {
      if (this.time.length < this.maxSamples) this.grow(Math.min(this.time.length * 2, this.maxSamples));
      else this.dropOldest();
    }
    const index = (this.start + this.length) % this.time.length;
    this.time[index] = at;
    this.values.forEach((column, field) => (column[index] = row[field] ?? NaN));
    this.length++;
  }

  dropBefore(cutoff: number): void {
    while (this.length > 0 && (this.time[this.start] as number) < cutoff) this.dropOldest();
  }

  read(since: number): VmMetricsSeries {
    const out = { time: [] as number[], ...Object.fromEntries(SERIES_FIELDS.map((f) => [f, [] as Array<number | null>])) } as VmMetricsSeries;
    for (let i = 0; i < this.length; i++) {
      const index = (this.start + i) % this.time.length;
      const at = this.time[index] as number;
      if (at <= since) continue;
      out.time.push(at);
      SERIES_FIELDS.forEach((field, f) => {
        const value = this.values[f]?.[index] ?? NaN;
        out[field].push(Number.isNaN(value) ? null : value);
      });
    }
    return out;
  }

  private dropOldest(): void {
    this.start = (this.start + 1) % this.time.length;
    this.length--;
  }

  private grow(capacity: number): void {
    const copy = <A extends Float64Array | Float32Array>(from: A, to: A): A => {
      for (let i = 0; i < this.length; i++) to[i] = from[(this.start + i) % from.length] as number;
      return to;
    };
    this.time = copy(this.time, new Float64Array(capacity));
    this.values = this.values.map((column) => copy(column, new Float32Array(capacity)));
    this.start = 0;
  }
}

/**
 * Keeps per-VM samples from a stats source that is replaced, host by host, on every heartbeat
 * (as HostService.vmStats() is). `sample()` ingests only the arrays it has not seen, so calling it
 * more often than heartbeats happen records each heartbeat once.
 */
export class MetricsHistory {
  private readonly series = new Map<string, Series>();
  private readonly seen = new WeakSet<VmStats[]>();
  private readonly retentionMs: number;
  private readonly maxSamples: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: () => ReadonlyMap<string, VmStats[]>,
    options: MetricsHistoryOptions = {},
  ) {
    this.retentionMs = options.retentionMs ?? 60 * 60_000;
    this.maxSamples = options.maxSamples ?? 4096;
    this.now = options.now ?? Date.now;
  }

  /**
   * Checks the source every `pollMs` for new heartbeat figures. The source has no change signal of
   * its own, so a sample's time is when it was noticed: at most `pollMs` after the heartbeat.
   */
  start(pollMs = 100): void {
    this.stop();
    this.timer = setInterval(() => this.sample(), pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Records the figures of every heartbeat not yet recorded, and forgets samples past the retention. */
  sample(): void {
    const at = this.now();
    for (const stats of this.source().values()) {
      if (this.seen.has(stats)) continue;
      this.seen.add(stats);
      for (const vm of stats) this.record(vm, at);
    }
    const cutoff = at - this.retentionMs;
    for (const [name, series] of this.series) {
      series.dropBefore(cutoff);
      if (series.length === 0 && (series.last?.cpuSeconds.at ?? -Infinity) < cutoff) this.series.delete(name);
    }
  }

  /** The VM's samples after `since` (ms since the epoch; default all), or empty columns if none. */
  read(vmName: string, since = -Infinity): VmMetricsSeries {
    return (this.series.get(vmName) ?? new Series(1)).read(since);
  }

  /** How long samples are kept, in ms. */
  get retention(): number {
    return this.retentionMs;
  }

  private record(vm: VmStats, at: number): void {
    let series = this.series.get(vm.name);
    if (!series) this.series.set(vm.name, (series = new Series(this.maxSamples)));
    if (at <= series.lastTime) return;
    const previous = series.last;
    // A lower CPU time means QEMU started again: every counter began anew, no rate this time.
    const restarted = previous !== undefined && vm.cpuSeconds < previous.cpuSeconds.value;
    const next = {} as LastReadings;
    const rate = (key: Counter): number => {
      const before = restarted ? undefined : previous?.[key];
      // Network counters come from the guest agent and read 0 in a round where it did not answer:
      // keep the earlier reading then, so the next rate spans both rounds instead of spiking from zero.
      const missed = (key === 'netRxBytes' || key === 'netTxBytes') && vm[key] === 0 && before !== undefined && before.value > 0;
      next[key] = missed && before ? before : { value: vm[key], at };
      if (!before || missed || at <= before.at) return NaN;
      const delta = vm[key] - before.value;
      return delta >= 0 ? delta / ((at - before.at) / 1000) : NaN;
    };
    const row = [rate('cpuSeconds') * 100, vm.memoryRssBytes, rate('diskReadBytes'), rate('diskWriteBytes'), rate('netRxBytes'), rate('netTxBytes')];
    series.push(at, row);
    series.last = next;
  }
}
