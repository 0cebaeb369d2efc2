/**
 * The web console on a two-host testbed (own network namespaces, one shared-storage directory)
 * with a real guest, driven through headless Chromium: the migrate dialog's host picker says why a
 * host is unsuitable, a migration can be cancelled from the operations tray, a real migration
 * shows on the dashboard and in the placement timeline without a reload, and maintenance mode
 * shows its pre-flight report before anything changes; the timeline says why a host won and which were
 * refused, and the cluster page plans balancing. Screenshots go to tests/artifacts/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { useCluster } from '../helpers/cluster.js';
import { launchBrowser, screenshot, screenshotElement, type TestBrowser } from './browser.js';

const VM = 'roamer';
const MIGRATION_TIMEOUT_MS = 180_000;

interface Vm {
  host: string | null;
  movingTo: string | null;
  state: string;
}

const stillSamePage = (page: Page): Promise<boolean> => page.evaluate(() => (window as unknown as { droverTestMarker?: boolean }).droverTestMarker === true);
const markNoReload = (page: Page): Promise<void> => page.evaluate(() => void ((window as unknown as { droverTestMarker?: boolean }).droverTestMarker = true));

describe('web console on a testbed: migrate, placement timeline, maintenance (real guests, Chromium)', () => {
  const cluster = useCluster('drv-wc-', VM);
  let browser: TestBrowser;
  /** Follows the dashboard; `vmPage` drives the VM. */
  let dashboard: Page;
  let vmPage: Page;
  let otherHosts: string[] = [];

  const signIn = async (page: Page, path: string): Promise<void> => {
    await page.goto(`${cluster.drover.url}${path}`);
    await page.fill('#sign-in-token', cluster.drover.token);
    await page.click('#sign-in-submit');
    await page.locator('#stream-status[data-status="live"]').waitFor();
    await markNoReload(page);
  };
  const vm = async (): Promise<Vm> => (await cluster.drover.api<Vm>('GET', `/api/v1/vms/${VM}`)).body;
  /** Cancels, through the API, every unfinished migrate operation of `name` and waits for each to end. */
  const cancelMigrationsOf = async (name: string): Promise<void> => {
    const { operations } = (await cluster.drover.api<{ operations: { id: string; kind: string; target: { name: string | null }; state: string }[] }>('GET', '/api/v1/operations?targetType=vm&limit=50')).body;
    for (const op of operations.filter((o) => o.kind === 'migrate' && o.target.name === name && ['queued', 'running'].includes(o.state))) {
      await cluster.drover.api('POST', `/api/v1/operations/${op.id}/cancel`);
      await cluster.drover.waitOp(op.id);
    }
  };

  before(async () => {
    browser = await launchBrowser();
    dashboard = browser.page;
    vmPage = await browser.context.newPage();
    for (const page of [dashboard, vmPage]) page.setDefaultTimeout(30_000);
    vmPage.on('pageerror', (err) => browser.pageErrors.push(`uncaught: ${err.message}`));
  });

  after(async () => {
    await browser?.close();
  });

  test('a testbed of two hosts with a running VM on host1', { timeout: 300_000 }, async () => {
    const { drover } = cluster;
    const up = await cluster.cli(['testbed', 'up', '--hosts', '2', '--storage', 'shared', '--dir', cluster.testbedDir, '-o', 'json']);
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    const created = await drover.api<{ operation: { id: string } }>('POST', '/api/v1/vms', { name: VM, image: 'tiny', host: 'host1', pool: 'shared', start: true });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.equal((await drover.waitOp(created.body.operation.id)).state, 'succeeded');
    const ready = await drover.api<Vm>('POST', `/api/v1/vms/${VM}/wait-ready`, { timeoutMs: 150_000 });
    assert.deepEqual([ready.status, ready.body.host, ready.body.state], [200, 'host1', 'running'], JSON.stringify(ready.body));
    // The controller's own host does not reach the testbed's shared directory: park it, so the
    // picker has an unsuitable host to explain.
    const { hosts } = (await drover.api<{ hosts: { name: string }[] }>('GET', '/api/v1/hosts')).body;
    otherHosts = hosts.map((h) => h.name).filter((name) => name !== 'host1' && name !== 'host2');
    for (const name of otherHosts) {
      const parked = await drover.api<{ operation: { id: string } }>('POST', `/api/v1/hosts/${name}/maintenance/enter`, {});
      assert.equal(parked.status, 202, JSON.stringify(parked.body));
      assert.equal((await drover.waitOp(parked.body.operation.id)).state, 'succeeded');
    }
  });

  test('the dashboard shows the VM on host1; its page shows host1 in the placement timeline', async () => {
    await signIn(dashboard, '/');
    await dashboard.locator(`#vm-row-${VM}[data-host="host1"][data-state="running"]`).waitFor();
    await signIn(vmPage, `/vms/${VM}`);
    await vmPage.locator(`#vm-page[data-vm="${VM}"][data-state="running"]`).waitFor();
    await vmPage.locator('#vm-placement-timeline li[data-host="host1"][data-current="true"]').waitFor();
  });

  test('the migrate dialog lists every other host, and says why an unsuitable one cannot take the VM', async () => {
    await vmPage.click('#vm-action-migrate');
    await vmPage.locator('#migrate-target-host2').waitFor();
    const options = await vmPage.locator('#vm-migrate-targets .target-option').evaluateAll((labels) => labels.map((l) => l.id.replace(/^migrate-target-/, '')));
    assert.deepEqual(options.sort(), ['host2', ...otherHosts].sort(), 'every host but host1');
    assert.equal(await vmPage.locator('#migrate-target-host2').getAttribute('data-suitable'), 'true');
    for (const name of otherHosts) {
      assert.equal(await vmPage.locator(`#migrate-target-${name}`).getAttribute('data-suitable'), 'false');
      assert.ok(await vmPage.locator(`#migrate-target-${name}-radio`).isDisabled(), `${name} cannot be picked`);
      const reasons = await vmPage.locator(`#migrate-target-${name}-reasons`).innerText();
      assert.match(reasons, /maintenance/, `${name} says why: ${reasons}`);
    }
    await vmPage.check('#migrate-target-host2-radio');
    assert.match(await vmPage.locator('#vm-migrate-dialog-submit').innerText(), /host2/);
    await vmPage.click('#vm-migrate-dialog summary');
    await screenshotElement(vmPage.locator('#vm-migrate-dialog'), 'web-migrate-dialog');
  });

  test('a migration capped at 1 Mbit/s shows in flight on the dashboard and the VM page, and is cancelled from the operations tray: the VM stays on host1, running', { timeout: 120_000 }, async () => {
    try {
      await vmPage.fill('#vm-migrate-bandwidth', '1');
      await vmPage.click('#vm-migrate-dialog-submit');
      const card = vmPage.locator('#operations-tray .operation[data-kind="migrate"]');
      await card.locator('[role="progressbar"]').waitFor();
      // The move holds host2 while it runs; the dashboard learns of it from the event stream.
      const row = dashboard.locator(`#vm-row-${VM}`);
      await dashboard.locator(`#vm-row-${VM}[data-host="host1"][data-moving-to="host2"]`).waitFor();
      assert.equal(await row.locator('.vm-moving').innerText(), 'host1 → host2');
      assert.ok(await stillSamePage(dashboard), 'the dashboard was not reloaded');
      assert.equal(await vmPage.locator('#vm-moving-to').getAttribute('data-moving-to'), 'host2');
      assert.equal(await vmPage.locator('#vm-host').innerText(), 'host1 → host2');
      assert.ok(await vmPage.locator('#vm-action-migrate').isDisabled(), 'a VM in flight cannot be moved again');
      assert.equal((await vm()).movingTo, 'host2');
      await screenshot(dashboard, 'web-dashboard-migration-in-flight');
      await screenshot(vmPage, 'web-vm-page-migration-in-flight');

      await card.locator('button[id^="op-cancel-"]').click();
      await vmPage.locator('#operations-tray .operation[data-kind="migrate"][data-state="cancelled"]').waitFor({ timeout: 90_000 });
      const after = await vm();
      assert.deepEqual([after.host, after.movingTo, after.state], ['host1', null, 'running']);
      // The cancel releases host2, and both pages stop showing the move.
      await dashboard.locator(`#vm-row-${VM}[data-host="host1"][data-moving-to=""]`).waitFor();
      assert.equal(await row.locator('.vm-moving').count(), 0);
      await vmPage.locator('#vm-moving-to').waitFor({ state: 'detached' });
      assert.equal(await vmPage.locator('#vm-host').innerText(), 'host1');
      await vmPage.locator('#operations-tray .operation[data-kind="migrate"] button[id^="op-dismiss-"]').click();
    } finally {
      // Should a check fail before the tray's cancel, the 1 Mbit/s move must not outlive this test and hold up the next ones.
      await cancelMigrationsOf(VM);
      // ...nor leave its card in the tray, where the next test looks for its own.
      const cards = vmPage.locator('#operations-tray .operation[data-kind="migrate"]');
      for (let tries = 0; tries < 5 && (await cards.count()) > 0; tries++) {
        await cards.first().locator('button[id^="op-dismiss-"]').click({ timeout: 15_000 }).catch(() => undefined);
      }
    }
  });

  test('migrating to host2 from the VM page: the dashboard moves the VM without a reload, and the timeline shows both hosts', { timeout: MIGRATION_TIMEOUT_MS + 60_000 }, async () => {
    await vmPage.click('#vm-action-migrate');
    await vmPage.check('#migrate-target-host2-radio');
    await vmPage.click('#vm-migrate-dialog-submit');
    await vmPage.locator('#operations-tray .operation[data-kind="migrate"]').waitFor();

    await dashboard.locator(`#vm-row-${VM}[data-host="host2"][data-state="running"]`).waitFor({ timeout: MIGRATION_TIMEOUT_MS });
    assert.ok(await stillSamePage(dashboard), 'the dashboard was not reloaded');
    await vmPage.locator('#operations-tray .operation[data-kind="migrate"][data-state="succeeded"]').waitFor({ timeout: 60_000 });
    const moved = await vm();
    assert.deepEqual([moved.host, moved.state], ['host2', 'running']);

    // The VM page's timeline followed the move live.
    await vmPage.locator('#vm-placement-timeline li[data-host="host2"][data-current="true"]').waitFor();
    const entries = await vmPage.locator('#vm-placement-timeline li').evaluateAll((items) => items.map((li) => [li.getAttribute('data-host'), li.getAttribute('data-current'), li.getAttribute('data-reason')]));
    assert.deepEqual(entries, [['host2', 'true', 'user'], ['host1', 'false', 'user']]);
    // The guest agent answers on host2 (a vm.guest-ready event), and the hosts' usage follows the move.
    await vmPage.locator('#vm-guest[data-ready="true"]').waitFor({ timeout: 60_000 });
    await dashboard.locator('#host-card-host2', { hasText: '1 / 2 vCPU' }).waitFor();
    await dashboard.locator('#host-card-host1', { hasText: '0 / 2 vCPU' }).waitFor();
    assert.ok(await stillSamePage(vmPage), 'the VM page was not reloaded');
    await screenshotElement(vmPage.locator('#vm-placement'), 'web-placement-timeline');
    await screenshot(vmPage, 'web-vm-page-after-migration');
    await screenshot(dashboard, 'web-dashboard-testbed');
  });

  test('the timeline says why host2 won the move and lists the refused hosts behind a summary; the cluster page plans balancing for the testbed', async () => {
    const stay = vmPage.locator('#vm-placement-timeline li[data-host="host2"][data-current="true"]');
    assert.match(await stay.locator('.placement-why').innerText(), /host2 named by the caller/);
    const refused = stay.locator('.placement-refused');
    assert.equal(await refused.getAttribute('data-count'), String(otherHosts.length), 'the parked hosts were refused');
    assert.ok(!(await refused.locator('.refused-host').first().isVisible()), 'the refused hosts start collapsed');
    await refused.locator('summary').click();
    for (const name of otherHosts) assert.match(await refused.locator(`.refused-host[data-host="${name}"]`).innerText(), /maintenance/);
    await screenshotElement(vmPage.locator('#vm-placement'), 'web-placement-timeline');

    await vmPage.click('#nav-cluster');
    const plan = vmPage.locator('#cluster-balance-plan-view');
    await plan.waitFor();
    const moves = Number(await plan.getAttribute('data-moves'));
    if (moves > 0) assert.equal(await vmPage.locator('#cluster-balance-moves tbody tr').count(), moves);
    else await vmPage.locator('#cluster-balance-empty').waitFor();
    await screenshot(vmPage, 'web-cluster-page-testbed');
  });

  test('maintenance shows the pre-flight report before anything changes; cancel changes nothing', async () => {
    await vmPage.goto(`${cluster.drover.url}/hosts/host2`);
    await vmPage.locator('#host-page[data-host="host2"]').waitFor();
    await vmPage.click('#host-maintenance-enter');
    await vmPage.locator(`#maintenance-move-${VM}[data-to="host1"]`).waitFor();
    assert.equal(await vmPage.locator('#host-maintenance-report').getAttribute('data-complete'), 'true');
    await screenshotElement(vmPage.locator('#host-maintenance-dialog'), 'web-maintenance-report');
    assert.equal((await cluster.drover.api<{ state: string }>('GET', '/api/v1/hosts/host2')).body.state, 'ready', 'the report is a dry run');
    await vmPage.click('#host-maintenance-dialog-cancel');
    assert.equal((await cluster.drover.api<{ state: string }>('GET', '/api/v1/hosts/host2')).body.state, 'ready');
    assert.equal((await vm()).host, 'host2', 'nothing moved');
  });

  test('entering maintenance on the empty host1 through the report, then exiting it', { timeout: 120_000 }, async () => {
    await vmPage.goto(`${cluster.drover.url}/hosts/host1`);
    await vmPage.locator('#host-page[data-host="host1"]').waitFor();
    await vmPage.click('#host-maintenance-enter');
    await vmPage.locator('#host-maintenance-nothing').waitFor();
    await vmPage.click('#host-maintenance-dialog-submit');
    await vmPage.locator('#host-maintenance-operation .operation[data-kind="evacuate"][data-state="succeeded"]').waitFor({ timeout: 60_000 });
    await vmPage.locator('#host-state[data-state="maintenance"]').waitFor();
    assert.equal((await cluster.drover.api<{ state: string }>('GET', '/api/v1/hosts/host1')).body.state, 'maintenance');
    await dashboard.locator('#host-card-host1[data-state="maintenance"]').waitFor();

    await vmPage.click('#host-maintenance-exit');
    await vmPage.locator('#host-state[data-state="ready"]').waitFor();
    assert.equal((await cluster.drover.api<{ state: string }>('GET', '/api/v1/hosts/host1')).body.state, 'ready');
  });

  test('no uncaught errors in the pages', () => {
    assert.deepEqual(browser.pageErrors.filter((e) => e.startsWith('uncaught')), []);
  });
});
