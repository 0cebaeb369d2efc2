/** The containers benchmark's command-line options (`npm run bench -- containers --trials 5 --density 10`). */

/** The three parts, in the order they run. */
export const PARTS = ['start', 'density', 'overhead'] as const;
export type Part = (typeof PARTS)[number];

export interface ContainersOptions {
  parts: Part[];
  /** Part 1: timed starts per variant and image. */
  trials: number;
  /** Part 2: tiny-ct containers each way (Drover, hand-run runc). */
  density: number;
  /** Part 2: debian-12-ct containers each way (systemd takes more of everything). */
  densityDebian: number;
  /** Part 2: VMs each way (Drover's QEMU driver, hand-run QEMU), 128 MiB each. */
  densityVms: number;
  /** Part 2: VMs per configuration in the memory-reclaim comparison (balloon free page reporting, KSM). */
  reclaimVms: number;
  /** Part 2: how long each set of guests is sampled idle for CPU time. */
  idleSeconds: number;
  /** Part 3: runs of each workload each way. */
  overheadTrials: number;
}

/** Each option, its default and what it sets; the README and the usage message come from here. */
const OPTIONS = {
  '--parts': { default: PARTS.join(','), help: `which parts to run, comma-separated (${PARTS.join(', ')})` },
  '--trials': { default: 10, help: 'part 1: timed starts per variant and image' },
  '--density': { default: 30, help: 'part 2: tiny-ct containers each way' },
  '--density-debian': { default: 10, help: 'part 2: debian-12-ct containers each way (0 skips them)' },
  '--density-vms': { default: 20, help: 'part 2: VMs each way (0 skips them; 30 works, but takes some 3 minutes more under TCG here)' },
  '--reclaim-vms': { default: 4, help: 'part 2: VMs per configuration in the balloon/KSM comparison (0 skips it)' },
  '--idle-seconds': { default: 30, help: 'part 2: the idle window CPU time is sampled over' },
  '--overhead-trials': { default: 3, help: 'part 3: runs of each workload each way' },
} as const;

/** The option names, as the runner checks them. */
export const OPTION_NAMES = Object.keys(OPTIONS);

/** A usage line listing every option with its default. */
export function usage(): string {
  return `npm run bench -- containers ${Object.entries(OPTIONS).map(([name, o]) => `[${name} N] (${o.help}; default ${o.default})`).join(' ')}`;
}

/** Parses `args` (`--name value` or `--name=value`); throws with the usage on anything else. */
export function parseOptions(args: string[]): ContainersOptions {
  const given = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string; // i < length
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (!(name in OPTIONS)) throw new Error(`unknown option ${arg}; usage: ${usage()}`);
    const value = inline ?? args[++i];
    if (value === undefined) throw new Error(`${name} needs a value; usage: ${usage()}`);
    given.set(name, value);
  }
  const count = (name: keyof typeof OPTIONS, min: number): number => {
    const raw = given.get(name);
    if (raw === undefined) return OPTIONS[name].default as number;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) throw new Error(`${name} needs a whole number of at least ${min}, got "${raw}"`);
    return value;
  };
  const parts = (given.get('--parts') ?? OPTIONS['--parts'].default).split(',').map((p) => p.trim()).filter(Boolean);
  const unknown = parts.filter((p) => !(PARTS as readonly string[]).includes(p));
  if (unknown.length || !parts.length) throw new Error(`--parts takes a comma-separated list of ${PARTS.join(', ')}; got "${given.get('--parts')}"`);
  return {
    parts: PARTS.filter((p) => parts.includes(p)),
    trials: count('--trials', 1),
    density: count('--density', 1),
    densityDebian: count('--density-debian', 0),
    densityVms: count('--density-vms', 0),
    reclaimVms: count('--reclaim-vms', 0),
    idleSeconds: count('--idle-seconds', 5),
    overheadTrials: count('--overhead-trials', 1),
  };
}
