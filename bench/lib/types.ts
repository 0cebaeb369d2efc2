/** Shapes shared by the benchmark runner, the benchmarks and the result files. */
import type { AcceleratorProbe } from '../../src/drivers/qemu/accel.js';
import type { TinyImage } from '../../src/images/tiny/build.js';

/** Whether libvirt could be set up on this machine, and its version when it was. */
export type LibvirtStatus = { available: true; version: string } | { available: false; reason: string };

/** Facts about the machine a result was measured on; results from different machines do not compare. */
export interface MachineFacts {
  hostname: string;
  cpus: number;
  cpuModel: string;
  memoryMiB: number;
  kernel: string;
  node: string;
  qemuVersion: string;
  /** "unavailable: <reason>" when libvirt could not be set up. */
  libvirtVersion: string;
  accelerator: 'kvm' | 'tcg';
  acceleratorReason: string;
}

/** One way of doing the measured thing (Drover, hand-run QEMU, libvirt...) and what it measured. */
export interface VariantResult {
  name: string;
  label: string;
  /**
   * ok: at least one sample; unavailable: could not be set up here; failed: set up, but every run failed;
   * no-figure: every run ended without a number and that is the measured outcome (e.g. a migration that never converges).
   */
  status: 'ok' | 'unavailable' | 'failed' | 'no-figure';
  reason?: string;
  unit: 'ms';
  samples: number[];
  /** Runs that failed, as "run N: error text". */
  failures: string[];
  median?: number;
  min?: number;
  max?: number;
  /** Set by benchmarks whose targets are on the 95th percentile (nearest rank); the sample table then shows it beside the median. */
  p95?: number;
  /** Set by benchmarks with many samples per variant (request latencies); the tables then show them. */
  p90?: number;
  p99?: number;
  /** Load benchmarks: requests in flight at once, and completed requests per second over the counted loop. */
  concurrency?: number;
  requestsPerSecond?: number;
}

/** A goal a benchmark reports against; `met` is null when a variant it needs has no samples. */
export interface TargetResult {
  description: string;
  met: boolean | null;
  detail: string;
}

/** What a benchmark module returns; the runner adds name, title, date and machine facts. */
export interface BenchmarkOutcome {
  runs: number;
  warmupRuns: number;
  variants: VariantResult[];
  targets: TargetResult[];
  notes: string[];
  /** How the runs were made, replacing the default "N counted run(s) per variant ... interleaved" line. */
  procedure?: string;
  /** What load the measurement itself puts on the machine, replacing the default "the guest accounts for about 1". */
  ownLoad?: string;
  /** Figures that are not times (memory, CPU share, throughput), shown as tables after the variants. */
  tables?: ResultTable[];
  /** The raw figures behind `tables`, for tools; kept in the JSON only. */
  data?: Record<string, unknown>;
}

/** A table of figures with its own heading, rendered as it is (cells are already formatted). */
export interface ResultTable {
  title: string;
  /** One or two sentences above the table: what each row and column measured. */
  description?: string;
  columns: string[];
  rows: string[][];
}

/** One benchmark's result file (bench/results/<name>.json). */
export interface BenchmarkResult extends BenchmarkOutcome {
  name: string;
  title: string;
  description: string;
  date: string;
  durationMs: number;
  machine: MachineFacts;
  /** os.loadavg() (1, 5, 15 min) before and after; load from other work makes the samples noisier. */
  loadAverage: { start: number[]; end: number[] };
  /** Set when the benchmark itself crashed; its variants are then incomplete. */
  error?: string;
}

/** Everything the runner prepares once for all benchmarks. */
export interface BenchmarkContext {
  repoRoot: string;
  /** Counted runs per variant (BENCH_RUNS). */
  runs: number;
  /** Uncounted runs per variant before the counted ones (BENCH_WARMUP). */
  warmupRuns: number;
  tiny: TinyImage;
  accelerator: AcceleratorProbe;
  libvirt: LibvirtStatus;
  /** The command line's options (`npm run bench -- NAME --option value`), for the benchmarks that declare them. */
  args: string[];
  log: (message: string) => void;
}

/** A benchmark module's export: `export const benchmark: Benchmark`. */
export interface Benchmark {
  /** File name of its results: bench/results/<name>.json and .md. */
  name: string;
  title: string;
  /** One or two sentences: what is measured, from where to where. */
  description: string;
  /** The command-line options it takes (e.g. `--trials`); the runner refuses an option no selected benchmark takes. */
  options?: string[];
  run: (ctx: BenchmarkContext) => Promise<BenchmarkOutcome>;
}

/** What a soak (`npm run soak -- <name>`, bench/soak/<name>.ts) is given. */
export interface SoakContext {
  repoRoot: string;
  /** How often each fault is repeated (--trials). */
  trials: number;
  log: (message: string) => void;
}

/** A soak's outcome: a benchmark outcome whose targets are its goals, and whether every goal held. */
export interface SoakOutcome extends BenchmarkOutcome {
  passed: boolean;
}

/** A soak module's export: `export const soak: Soak`; results go to bench/results/soak-<name>.json and .md. */
export interface Soak {
  name: string;
  title: string;
  description: string;
  run: (ctx: SoakContext) => Promise<SoakOutcome>;
}
