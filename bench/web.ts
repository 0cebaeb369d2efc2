/**
 * Web console benchmark: a real controller in this process, its store seeded with 30 simulated hosts and
 * 1,000 simulated VMs (bench/web/fleet.ts), and the built console in headless Chromium (Debian's
 * /usr/bin/chromium). Measures, with the browser's own clocks, how long the dashboard takes to become
 * interactive, how long a state change takes from the controller's event to the screen, and how fast
 * the VM table answers a filter.
 */
import { randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import { SYSTEM_ACTOR } from '../src/controller/actor.js';
import { launchBrowser, screenshot } from '../tests/web/browser.js';
import { consoleFleet } from './web/fleet.js';
import { formatMs } from './lib/report.js';
import { SIMULATED_HOSTS, SIMULATED_VMS, startSeededController, type SeededController } from './lib/seeded-controller.js';
import { summarize } from './lib/stats.js';
import type { Benchmark, BenchmarkContext, TargetResult, VariantResult } from './lib/types.js';

const INTERACTIVE_TARGET_MS = 1000;
const CHANGE_TARGET_MS = 1000;
/** After the dashboard's ready mark, long tasks are watched this long before the page counts as quiet. */
const QUIET_MS = 1000;

interface LoadTiming {
  domContentLoaded: number;
  /** The app asks for the fleet (after the event stream is up) and has it parsed. */
  fleetRequested: number;
  fleetReceived: number;
  firstContentfulPaint: number;
  ready: number;
  interactive: number;
  longTasks: number;
}

/** Records long tasks from the start of the page, for the interactive time. */
const LONG_TASK_RECORDER = `
  window.__droverLongTasks = [];
  new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__droverLongTasks.push([e.startTime, e.duration]); })
    .observe({ type: 'longtask', buffered: true });
`;

/**
 * Loads the dashboard in a fresh page and returns its timings (ms from navigation start): the ready mark
 * the app sets after its first render with the whole fleet, and "interactive": that mark or the end of the
 * last long task (main thread busy > 50 ms) before a quiet second, whichever is later.
 */
async function loadDashboard(page: Page, url: string): Promise<LoadTiming> {
  await page.goto(`${url}/`, { waitUntil: 'commit' });
  await page.waitForFunction(() => performance.getEntriesByName('drover:dashboard-ready').length > 0, null, { timeout: 30_000, polling: 50 });
  await page.waitForTimeout(QUIET_MS);
  const rows = await page.locator('#vm-table-count').innerText();
  if (!rows.startsWith(`${SIMULATED_VMS} VMs`)) throw new Error(`the dashboard shows "${rows}", expected ${SIMULATED_VMS} VMs`);
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
    const ready = performance.getEntriesByName('drover:dashboard-ready')[0]?.startTime ?? NaN;
    const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN;
    const tasks = ((window as unknown as { __droverLongTasks?: Array<[number, number]> }).__droverLongTasks ?? []).filter(([start]) => start < ready + 1000);
    const lastEnd = tasks.reduce((end, [start, duration]) => Math.max(end, start + duration), 0);
    // No named helper here: tsx would wrap it in a __name() call the page does not have.
    const [fleetRequested, fleetReceived] = ['drover:fleet-requested', 'drover:fleet-received'].map((name) => performance.getEntriesByName(name)[0]?.startTime ?? NaN);
    return { domContentLoaded: nav?.domContentLoadedEventEnd ?? NaN, fleetRequested: fleetRequested ?? NaN, fleetReceived: fleetReceived ?? NaN, firstContentfulPaint: fcp, ready, interactive: Math.max(ready, lastEnd), longTasks: tasks.length };
  });
}

/**
 * Changes one VM's state in the store as a heartbeat would (the record and its vm.state-changed event in
 * one transaction) and returns the ms from just before the change until the row shows the new state.
 */
async function stateChangeToScreen(page: Page, seeded: SeededController, vmName: string, to: 'paused' | 'running'): Promise<number> {
  const { store, events } = seeded.controller.services;
  const seen = page.evaluate(
    ({ name, state }) =>
      new Promise<number>((resolve, reject) => {
        const row = document.getElementById(`vm-row-${name}`);
        if (!row) return reject(new Error(`no row for ${name}`));
        const observer = new MutationObserver(() => {
          if (row.getAttribute('data-state') === state) {
            observer.disconnect();
            resolve(Date.now());
          }
        });
        observer.observe(row, { attributes: true, attributeFilter: ['data-state'] });
        setTimeout(() => reject(new Error(`${name} did not show ${state} within 10 s`)), 10_000);
      }),
    { name: vmName, state: to },
  );
  // Let the observer attach before the change.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(null))));
  const started = Date.now();
  await store.transaction(async (tx) => {
    const vm = await tx.vms.getByName(vmName);
    if (!vm) throw new Error(`no VM ${vmName}`);
    await tx.vms.update(vm.id, { state: to });
    await events.record(
      { actor: SYSTEM_ACTOR, objectType: 'vm', objectId: vm.id, objectName: vm.name, action: 'vm.state-changed', hostId: vm.hostId, result: 'success', detail: { from: vm.state, to, bench: randomUUID() } },
      tx,
    );
  });
  return (await seen) - started;
}

/** Types a filter that matches 10 VMs and returns the ms until the table shows them. */
async function filterResponse(page: Page, text: string, expected: string): Promise<number> {
  await page.fill('#vm-table-filter', '');
  await page.waitForFunction(() => document.getElementById('vm-table-count')?.textContent?.startsWith('1000'), null, { polling: 'raf' });
  return page.evaluate(
    ({ text, expected }) =>
      new Promise<number>((resolve, reject) => {
        const input = document.getElementById('vm-table-filter') as HTMLInputElement;
        const count = document.getElementById('vm-table-count');
        if (!input || !count) return reject(new Error('no filter'));
        const observer = new MutationObserver(() => {
          if (count.textContent?.startsWith(expected)) {
            observer.disconnect();
            // The next frame is when the filtered rows are painted.
            requestAnimationFrame(() => resolve(performance.now() - started));
          }
        });
        observer.observe(count, { childList: true, characterData: true, subtree: true });
        const started = performance.now();
        // React listens for input events; set the value the way a keystroke does.
        const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')?.set;
        setter?.call(input, text);
        input.dispatchEvent(new Event('input', { bubbles: true }));
        setTimeout(() => reject(new Error('the filter did not apply within 5 s')), 5000);
      }),
    { text, expected },
  );
}

function variant(name: string, label: string, samples: number[], failures: string[]): VariantResult {
  return {
    name,
    label,
    status: samples.length > 0 ? 'ok' : 'failed',
    ...(samples.length > 0 ? {} : { reason: `every run failed; first: ${failures[0] ?? 'none'}` }),
    unit: 'ms',
    samples: samples.map((s) => Math.round(s * 10) / 10),
    failures,
    ...summarize(samples),
  };
}

function target(description: string, v: VariantResult | undefined, limit: number): TargetResult {
  if (v?.max === undefined || v.median === undefined) return { description, met: null, detail: `no samples (${v?.reason ?? 'not run'})` };
  return { description, met: v.max < limit, detail: `median ${formatMs(v.median)}, worst ${formatMs(v.max)} of ${v.samples.length}` };
}

async function measure(ctx: BenchmarkContext, seeded: SeededController) {
  const browser = await launchBrowser({ width: 1600, height: 1000 });
  const interactive: number[] = [];
  const ready: number[] = [];
  const change: number[] = [];
  const filter: number[] = [];
  const failures = { interactive: [] as string[], change: [] as string[], filter: [] as string[] };
  const extra: LoadTiming[] = [];
  try {
    await browser.context.addInitScript((token: string) => sessionStorage.setItem('drover.token', token), seeded.token);
    await browser.context.addInitScript(LONG_TASK_RECORDER);
    const { page } = browser;
    for (let run = -ctx.warmupRuns; run < ctx.runs; run++) {
      try {
        const timing = await loadDashboard(page, seeded.url);
        if (run < 0) continue;
        interactive.push(timing.interactive);
        ready.push(timing.ready);
        extra.push(timing);
        ctx.log(`web load ${run + 1}: DOMContentLoaded ${formatMs(timing.domContentLoaded)}, fleet asked ${formatMs(timing.fleetRequested)}, received ${formatMs(timing.fleetReceived)}, ready ${formatMs(timing.ready)}, interactive ${formatMs(timing.interactive)} (${timing.longTasks} long tasks)`);
      } catch (err) {
        if (run >= 0) failures.interactive.push(`run ${run + 1}: ${(err as Error).message}`);
      }
    }
    await screenshot(page, 'web-dashboard-30-hosts');
    // The rows in view, which the table renders (it renders only those): simulated-vm-0001..0020, all running.
    const inView = seeded.vmNames.slice(0, 20);
    for (let run = -ctx.warmupRuns; run < ctx.runs * 4; run++) {
      const name = inView[(run + ctx.warmupRuns) % inView.length] as string;
      try {
        const paused = await stateChangeToScreen(page, seeded, name, 'paused');
        const back = await stateChangeToScreen(page, seeded, name, 'running');
        if (run >= 0) change.push(paused, back);
      } catch (err) {
        if (run >= 0) failures.change.push(`run ${run + 1}: ${(err as Error).message}`);
      }
    }
    for (let run = -ctx.warmupRuns; run < ctx.runs; run++) {
      try {
        // simulated-vm-010x: 10 VMs.
        const ms = await filterResponse(page, 'simulated-vm-010', '10 of 1000');
        if (run >= 0) filter.push(ms);
      } catch (err) {
        if (run >= 0) failures.filter.push(`run ${run + 1}: ${(err as Error).message}`);
      }
    }
    const errors = browser.pageErrors.filter((e) => e.startsWith('uncaught'));
    if (errors.length > 0) throw new Error(`the page threw: ${errors.join('; ')}`);
  } finally {
    await browser.close();
  }
  return { interactive, ready, change, filter, failures, extra };
}

/** The web console benchmark; see the file comment. */
export const benchmark: Benchmark = {
  name: 'web',
  title: 'Web console: dashboard with 30 hosts and 1,000 VMs',
  description: `Time for the dashboard to become interactive with ${SIMULATED_HOSTS} simulated hosts and ${SIMULATED_VMS} VMs, time from a VM state change (store write plus event, as a heartbeat makes it) to the new state on screen, and time for the VM table to apply a filter; measured in headless Chromium with the browser's performance timings.`,
  async run(ctx) {
    const seeded = await startSeededController('web', consoleFleet());
    let result;
    try {
      result = await measure(ctx, seeded);
    } finally {
      await seeded.close();
    }
    const variants = [
      variant('dashboard-interactive', 'Dashboard interactive (navigation start to ready mark or last long task, fresh page)', result.interactive, result.failures.interactive),
      variant('dashboard-ready', 'Dashboard first render with every host and VM (navigation start to ready mark)', result.ready, []),
      variant('state-change', 'VM state change: store write + event to the row showing it', result.change, result.failures.change),
      variant('filter', 'Typing a filter (1,000 VMs to 10) to the table showing it', result.filter, result.failures.filter),
    ];
    const [interactive, , change] = variants;
    const avg = (pick: (t: LoadTiming) => number) => result.extra.length ? formatMs(result.extra.reduce((s, t) => s + pick(t), 0) / result.extra.length) : '-';
    return {
      runs: ctx.runs,
      warmupRuns: ctx.warmupRuns,
      variants,
      targets: [
        target(`Dashboard interactive in under ${INTERACTIVE_TARGET_MS} ms with ${SIMULATED_HOSTS} hosts and ${SIMULATED_VMS} VMs (every run)`, interactive, INTERACTIVE_TARGET_MS),
        target(`A state change shows within ${CHANGE_TARGET_MS} ms of its event (every change)`, change, CHANGE_TARGET_MS),
      ],
      notes: [
        `Store: bench/web/fleet.ts's fleet (${SIMULATED_HOSTS} simulated-host-NN, ${SIMULATED_VMS} simulated-vm-NNNN, 72 % running); the controller's heartbeats are not started, so nothing contacts the simulated hosts.`,
        'Browser: Debian\'s Chromium, headless, software rendering (--disable-gpu), 1600×1000 viewport, a fresh profile; the token is put in sessionStorage before the page loads, as after sign-in.',
        `Interactive: the later of the app's "drover:dashboard-ready" mark (set in the frame after the first render with the whole fleet) and the end of the last long task (> 50 ms on the main thread) up to 1 s after it. Averages: DOMContentLoaded ${avg((t) => t.domContentLoaded)}, first contentful paint ${avg((t) => t.firstContentfulPaint)}, fleet requested ${avg((t) => t.fleetRequested)} and received (answers parsed) ${avg((t) => t.fleetReceived)}.`,
        'State change: from just before the store transaction (node clock) to the MutationObserver seeing the row\'s data-state change (browser clock, same machine). The path: event log, WebSocket /api/v1/events/ws, the console\'s 80 ms batch, GET /api/v1/vms/:name, React render.',
        'Screenshot of the dashboard: tests/artifacts/web-dashboard-30-hosts.png.',
        `Procedure: ${ctx.runs} dashboard loads after ${ctx.warmupRuns} warm-up load(s), ${ctx.runs * 8} state changes, ${ctx.runs} filter runs, one browser and one controller; Chromium and the controller share the machine's CPUs.`,
      ],
    };
  },
};
