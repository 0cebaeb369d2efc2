/**
 * The web console's high-availability views against a real `drover up` (one local host, whose agent
 * renews its HA lease), driven through headless Chromium: the host card and host page show the
 * host's liveness, lease and fence device; the Cluster page's HA panel lists the host as ok with its
 * lease age, the admission setting (edited and saved) and the timings; the VM page's HA panel shows
 * HA off, and switching it on for a VM on local storage shows the controller's HA_DISK_NOT_SHARED.
 * One host cannot protect a VM (that needs shared storage on two hosts), so no failover runs here.
 * No guest boots: the VM is created stopped. Screenshots go to tests/artifacts/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { makeDataDir } from '../helpers/agent.js';
import { cleanupDrover, deleteEveryVm, type TestDrover } from '../helpers/up.js';
import { screenshot, screenshotElement, type TestBrowser } from './browser.js';
import { startConsoleSession } from './session.js';

const VM = 'havm';

interface HaStatus {
  hosts: Array<{ name: string; liveness: string; leaseAgeMs: number | null }>;
  vms: unknown[];
  admission: { haHostFailures: number; admitted: boolean; reason: string };
  timings: Record<string, number>;
}

/** "0.4 s ago", "1 s ago": an age the console shows, in milliseconds. */
function shownAgeMs(text: string): number {
  const match = /^(\d+(?:\.\d)?) s ago$/.exec(text.trim());
  assert.ok(match, `"${text}" is an age in seconds`);
  return Number(match[1]) * 1000;
}

describe('web console: high availability panels (drover up, Chromium)', () => {
  const dataDir = makeDataDir();
  let drover: TestDrover;
  let browser: TestBrowser;
  let page: Page;
  let hostName: string;

  before(async () => {
    ({ drover, hostName, browser, page } = await startConsoleSession(dataDir));
    const created = await drover.api<{ operation: { id: string } }>('POST', '/api/v1/vms', { name: VM, image: 'tiny', memoryMiB: 256, start: false });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.equal((await drover.waitOp(created.body.operation.id)).state, 'succeeded');
  });

  after(async () => {
    await deleteEveryVm(drover);
    await browser?.close();
    await cleanupDrover(drover, dataDir);
  });

  test('the host card carries HA\'s verdict (ok) and shows no liveness badge or reason for an ok host', async () => {
    await page.goto(drover.url);
    await page.fill('#sign-in-token', drover.token);
    await page.click('#sign-in-submit');
    await page.locator(`#host-card-${hostName}[data-liveness="ok"]`).waitFor();
    assert.equal(await page.locator(`#host-card-${hostName}-liveness`).count(), 0);
    assert.equal(await page.locator(`#host-card-${hostName}-ha-reason`).count(), 0);
    assert.equal(await page.locator('#dashboard-ha-alert').count(), 0);
    await page.locator(`#vm-row-${VM}[data-ha="off"]`).waitFor();
  });

  test('the Cluster page\'s HA panel lists the host as ok with its lease age, admission off, no protected VM, and the timings', async () => {
    await page.click('#nav-cluster');
    const row = page.locator(`#ha-host-${hostName}[data-liveness="ok"]`);
    await row.waitFor();
    const api = (await drover.api<HaStatus>('GET', '/api/v1/ha/status')).body;
    const leaseAge = shownAgeMs(await row.locator('.ha-lease-age').innerText());
    // The agent renews every second: an age past the expiry would have made the host not ok.
    assert.ok(leaseAge < (api.timings.leaseExpiryMs ?? 0), `lease age ${leaseAge} ms`);
    assert.match(await row.innerText(), /\bok\b/);
    // Re-read every 2 s while the panel shows: the age the page shows stays fresh.
    await page.waitForTimeout(2_500);
    assert.ok(shownAgeMs(await row.locator('.ha-lease-age').innerText()) < (api.timings.leaseExpiryMs ?? 0));

    const admission = page.locator('#cluster-ha-admission[data-host-failures="0"][data-admitted="true"]');
    await admission.waitFor();
    assert.match(await page.locator('#cluster-ha-admission-state').innerText(), /^off\b/);
    await page.locator('#cluster-ha-vms-empty').waitFor();
    assert.equal(await page.locator('#cluster-ha-failovers').count(), 0);

    await page.click('#cluster-ha-timings summary');
    for (const [key, ms] of Object.entries(api.timings)) {
      const shown = await page.locator(`#cluster-ha-timings dd[data-timing="${key}"]`).innerText();
      assert.equal(shown, `${Number((ms / 1000).toFixed(1))} s`, key);
    }
    await screenshotElement(page.locator('#cluster-ha'), 'web-cluster-ha');
  });

  test('the admission setting is saved through the panel, and the panel shows the controller\'s verdict for it', async () => {
    await page.fill('#cluster-ha-host-failures', '1');
    await page.click('#cluster-ha-save');
    await page.locator('#cluster-ha-saved').waitFor();
    assert.equal((await drover.api<{ haHostFailures: number }>('GET', '/api/v1/cluster/policy')).body.haHostFailures, 1);
    await page.locator('#cluster-ha-admission[data-host-failures="1"]').waitFor();
    const { admission } = (await drover.api<HaStatus>('GET', '/api/v1/ha/status')).body;
    assert.equal(await page.locator('#cluster-ha-admission-reason').innerText(), admission.reason);
    assert.equal(await page.getAttribute('#cluster-ha-admission', 'data-admitted'), String(admission.admitted));
    // Off again, as the rest of the suite expects.
    await page.fill('#cluster-ha-host-failures', '0');
    await page.click('#cluster-ha-save');
    await page.locator('#cluster-ha-admission[data-host-failures="0"]').waitFor();
    assert.equal((await drover.api<{ haHostFailures: number }>('GET', '/api/v1/cluster/policy')).body.haHostFailures, 0);
  });

  test('the host page shows the host\'s HA liveness, lease age and fence device, and offers no confirm-down for an ok host', async () => {
    await page.goto(`${drover.url}/hosts/${hostName}`);
    await page.locator(`#host-ha[data-liveness="ok"]`).waitFor();
    assert.match(await page.locator('#host-ha-liveness').innerText(), /^ok\b/);
    shownAgeMs(await page.locator('#host-ha-lease').innerText());
    assert.equal(await page.getAttribute('#host-fence', 'data-agent'), '');
    assert.match(await page.locator('#host-fence').innerText(), /^none/);
    assert.equal(await page.locator('#host-ha-notice').count(), 0);
    assert.equal(await page.locator('#host-confirm-down').count(), 0);
    assert.equal(await page.locator('#host-liveness').count(), 0);
  });

  test('a host HA finds suspect (the status is faked by the test: one host here never fails) stands out, and confirming it down shows the real controller\'s HA_HOST_NOT_DOWN', async () => {
    // Only GET /ha/status is rewritten; the confirm-down request reaches the controller, which refuses it while the host renews its lease.
    await page.route('**/api/v1/ha/status', async (route) => {
      const response = await route.fetch();
      const status = (await response.json()) as HaStatus & { vms: Array<Record<string, unknown>> };
      for (const host of status.hosts) {
        if (host.name !== hostName) continue;
        Object.assign(host, { liveness: 'suspect', reason: 'lease overdue: last lease renewal 4.2 s ago (faked by the test)', leaseAgeMs: 4_200 });
      }
      status.vms.push({ name: VM, host: hostName, priority: 5, isolation: 'keep-running', phase: 'waiting', generation: 1, waiting: 'confirm-down' });
      await route.fulfill({ response, json: status });
    });
    try {
      await page.goto(drover.url);
      await page.locator(`#host-card-${hostName}[data-liveness="suspect"]`).waitFor();
      assert.equal(await page.locator(`#host-card-${hostName}-liveness`).innerText(), 'suspect');
      assert.match(await page.locator(`#host-card-${hostName}-ha-reason`).innerText(), /lease overdue/);
      assert.match(await page.locator('#dashboard-ha-alert').innerText(), /^1 host not ok/);
      await screenshotElement(page.locator(`#host-card-${hostName}`), 'web-host-card-suspect');

      await page.goto(`${drover.url}/hosts/${hostName}`);
      await page.locator('#host-ha-notice[data-liveness="suspect"]').waitFor();
      assert.equal(await page.locator('#host-liveness').innerText(), 'suspect');
      await screenshot(page, 'web-host-page-suspect');
      await page.click('#host-confirm-down');
      const dialog = page.locator('#host-confirm-down-dialog');
      await dialog.waitFor();
      assert.match(await page.locator('#host-confirm-down-warning').innerText(), /certainly powered off/);
      assert.ok(await page.isDisabled('#host-confirm-down-dialog-submit'), 'nothing is sent before the box is checked');
      await page.check('#host-confirm-down-checked');
      await page.click('#host-confirm-down-dialog-submit');
      const error = page.locator('#host-confirm-down-error');
      await error.waitFor();
      assert.equal(await error.getAttribute('data-code'), 'HA_HOST_NOT_DOWN', await error.innerText());
      await screenshotElement(dialog, 'web-host-confirm-down-refused');
      await page.click('#host-confirm-down-dialog-cancel');
      await dialog.waitFor({ state: 'detached' });

      await page.click('#nav-cluster');
      await page.locator(`#ha-vm-${VM}.ha-failover[data-phase="waiting"]`).waitFor();
      assert.equal(await page.locator('#cluster-ha-failovers').innerText(), '1 failover in progress');
      assert.match(await page.locator(`#ha-vm-${VM}`).innerText(), /confirm its host is down/);
      await page.locator(`#ha-host-${hostName}.ha-attention[data-liveness="suspect"]`).waitFor();
      await screenshotElement(page.locator('#cluster-ha'), 'web-cluster-ha-failover');
    } finally {
      await page.unroute('**/api/v1/ha/status');
    }
  });

  test('the VM page shows HA off; switching it on for a VM on local storage shows HA_DISK_NOT_SHARED and changes nothing', async () => {
    await page.goto(`${drover.url}/vms/${VM}`);
    const panel = page.locator('#vm-ha[data-ha="off"]');
    await panel.waitFor();
    assert.match(await page.locator('#vm-ha-state').innerText(), /^HA: off\b/);
    assert.ok(await page.isDisabled('#vm-ha-save'), 'nothing to save before a change');
    assert.ok(await page.isDisabled('#vm-ha-priority'), 'the policy is greyed out while HA is off');

    await page.check('#vm-ha-enabled');
    await page.selectOption('#vm-ha-priority', '5');
    assert.equal(await page.locator('#vm-ha-save').innerText(), 'Switch HA on');
    await page.click('#vm-ha-save');
    const error = page.locator('#vm-ha-error');
    await error.waitFor();
    assert.equal(await error.getAttribute('data-code'), 'HA_DISK_NOT_SHARED', await error.innerText());
    const text = await error.innerText();
    assert.match(text, /shared storage/, text);
    assert.match(text, /pool local/, `the detail names the VM's pool: ${text}`);
    assert.match(text, /HA_DISK_NOT_SHARED/, `the code shows: ${text}`);
    await screenshotElement(page.locator('#vm-ha'), 'web-vm-ha-refused');

    assert.equal((await drover.api<{ ha: unknown }>('GET', `/api/v1/vms/${VM}`)).body.ha, null, 'the refusal changed nothing');
    assert.match(await page.locator('#vm-ha-state').innerText(), /^HA: off\b/);
    await page.click('#vm-ha-reset');
    assert.equal(await page.isChecked('#vm-ha-enabled'), false);
    assert.equal(await page.locator('#vm-ha-error').count(), 0);
  });

  test('no uncaught errors in the page', () => {
    assert.deepEqual(browser.pageErrors.filter((e) => e.startsWith('uncaught')), []);
  });
});
