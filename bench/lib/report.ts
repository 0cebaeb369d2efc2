/** Writes benchmark results as JSON (for tools) and Markdown (for people), plus a combined summary. */
import fs from 'node:fs';
import path from 'node:path';
import type { BenchmarkResult, MachineFacts, ResultTable, TargetResult, VariantResult } from './types.js';

/** "12.34 s" from 1000 ms up, "123.4 ms" below. */
export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

/** Writes `<dir>/<name>.json` and `<dir>/<name>.md` for one benchmark. */
export function writeResult(dir: string, result: BenchmarkResult): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${result.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, `${result.name}.md`), resultMarkdown(result));
}

/** Writes `<dir>/summary.md`: the machine once, then each benchmark's table and targets. */
export function writeSummary(dir: string, results: BenchmarkResult[]): void {
  const lines = ['# Drover benchmarks', ''];
  const first = results[0];
  if (first) lines.push(`Run on ${first.date}.`, '', ...machineTable(first.machine), '');
  for (const result of results) {
    lines.push(`## ${result.title}`, '', `${result.description} Details: [${result.name}.md](${result.name}.md).`, '');
    lines.push(...body(result, false));
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'summary.md'), `${lines.join('\n').trimEnd()}\n`);
}

function resultMarkdown(result: BenchmarkResult): string {
  const lines = [`# ${result.title}`, '', result.description, '', `Run on ${result.date}.`, '', ...machineTable(result.machine), ''];
  lines.push(...body(result));
  const failures = result.variants.flatMap((v) => v.failures.map((f) => `- ${v.label}: ${escape(f)}`));
  if (failures.length > 0) lines.push('### Failed runs', '', ...failures, '');
  return `${lines.join('\n').trimEnd()}\n`;
}

/** The run description, variant table, targets and (with `withNotes`, which can be long) the notes. */
function body(result: BenchmarkResult, withNotes = true): string[] {
  const lines: string[] = [];
  if (result.error) lines.push(`**The benchmark crashed:** ${escape(result.error)}`, '');
  const ownLoad = result.ownLoad ?? 'The guest being measured accounts for about 1';
  lines.push(
    result.procedure ?? `${result.runs} counted run(s) per variant after ${result.warmupRuns} warm-up run(s), variants interleaved run by run.`,
    '',
    `Host load average (1, 5, 15 min): ${loadText(result.loadAverage?.start)} at the start, ${loadText(result.loadAverage?.end)} at the end. ${ownLoad}; more is other work competing for the ${result.machine.cpus} CPUs.`,
    '',
  );
  if (result.variants.length > 0 || !result.tables?.length) {
    lines.push(...(result.variants.some((v) => v.p90 !== undefined) ? percentileTable(result.variants) : variantTable(result.variants)), '');
  }
  if (result.targets.length > 0) lines.push('Targets:', '', ...result.targets.map(targetLine), '');
  for (const table of result.tables ?? []) lines.push(...figureTable(table), '');
  if (withNotes && result.notes.length > 0) lines.push('Notes:', '', ...result.notes.map((n) => `- ${escape(n)}`), '');
  return lines;
}

function machineTable(m: MachineFacts): string[] {
  return [
    '| Machine | |',
    '|---|---|',
    `| CPUs | ${m.cpus} × ${escape(m.cpuModel)} |`,
    `| Memory | ${m.memoryMiB} MiB |`,
    `| Kernel | ${escape(m.kernel)} |`,
    `| QEMU | ${escape(m.qemuVersion)} |`,
    `| libvirt | ${escape(m.libvirtVersion)} |`,
    `| Accelerator | ${m.accelerator} (${escape(m.acceleratorReason)}) |`,
    `| Node.js | ${m.node} |`,
  ];
}

function variantTable(variants: VariantResult[]): string[] {
  const withP95 = variants.some((v) => v.p95 !== undefined);
  const rows = variants.map((v) => {
    const status = v.status === 'ok' ? (v.failures.length ? `ok, ${v.failures.length} failed run(s)` : 'ok') : `${v.status}: ${v.reason ?? ''}`;
    const samples = v.samples.map((s) => formatMs(s)).join(', ') || '-';
    const figures = [v.median, ...(withP95 ? [v.p95] : []), v.min, v.max].map(formatMs);
    return `| ${escape(v.label)} | ${figures.join(' | ')} | ${escape(status)} | ${samples} |`;
  });
  const headers = ['Variant', 'Median', ...(withP95 ? ['p95'] : []), 'Min', 'Max', 'Status', 'Samples'];
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---|').join('')}`, ...rows];
}

/** A benchmark's own table (memory, CPU, throughput): a bold heading, its description, then the rows as given. */
function figureTable(table: ResultTable): string[] {
  return [
    `**${escape(table.title)}**`,
    '',
    ...(table.description ? [escape(table.description), ''] : []),
    `| ${table.columns.map(escape).join(' | ')} |`,
    `|${table.columns.map(() => '---|').join('')}`,
    ...table.rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ];
}

/** For many samples per variant: percentiles (and, for load benchmarks, throughput) instead of the samples. */
function percentileTable(variants: VariantResult[]): string[] {
  const load = variants.some((v) => v.requestsPerSecond !== undefined);
  const withP99 = variants.some((v) => v.p99 !== undefined);
  const rows = variants.map((v) => {
    const status = v.status === 'ok' ? (v.failures.length ? `ok, ${v.failures.length} failed` : 'ok') : `${v.status}: ${v.reason ?? ''}`;
    const cells = [
      escape(v.label),
      ...(load ? [String(v.concurrency ?? '-')] : []),
      ...[v.median, v.p90, ...(withP99 ? [v.p99] : []), v.max].map(formatLatency),
      ...(load ? [v.requestsPerSecond === undefined ? '-' : v.requestsPerSecond.toFixed(1)] : []),
      String(v.samples.length),
      escape(status),
    ];
    return `| ${cells.join(' | ')} |`;
  });
  const headers = ['Variant', ...(load ? ['Concurrency'] : []), 'p50', 'p90', ...(withP99 ? ['p99'] : []), 'Max', ...(load ? ['Requests/s'] : []), 'Samples', 'Status'];
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---|').join('')}`, ...rows];
}

/** Like formatMs, with two decimals below 10 ms, where request latencies mostly are. */
function formatLatency(ms: number | undefined): string {
  return ms !== undefined && ms < 10 ? `${ms.toFixed(2)} ms` : formatMs(ms);
}

function loadText(load: number[] | undefined): string {
  return load ? load.map((n) => n.toFixed(2)).join(' / ') : 'unknown';
}

function targetLine(t: TargetResult): string {
  const verdict = t.met === null ? 'not evaluated' : t.met ? 'met' : 'NOT met';
  return `- **${verdict}**: ${escape(t.description)} (${escape(t.detail)})`;
}

/** Keeps free text from breaking Markdown tables and lines. */
function escape(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}
