/**
 * The web console's cluster work against a real `drover up` (one local host), driven through
 * headless Chromium: the Cluster page (virtual networks created and deleted, the weight policy
 * persisted across a reload, the balancing plan and a run, the schedule), the create-VM dialog with
 * placement rules and a virtual network (the NIC's assigned address on the VM page, a placement
 * refusal with each host's reason), and the host page's pools and CPU models. No guest boots: the
 * VM is created stopped. Screenshots go to tests/artifacts/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { makeDataDir } from '../helpers/agent.js';
import { cleanupDrover, deleteEveryVm, type TestDrover } from '../helpers/up.js';
import { screenshot, screenshotElement, type TestBrowser } from './browser.js';
import { startConsoleSession } from './session.js';

const VM = 'netvm';
const NETWORK = 'webnet';
const SUBNET = '10.77.0.0/24';

interface Vm {
  name: string;
  host: string | null;
  nics: Array<{ mode: string; network: string; mac: string; address: string | null }>;
  placement: { affinityGroups: string[]; antiAffinityGroups: string[] };
}

describe('web console: cluster page, create dialog with placement and networks (drover up, Chromium)', () => {
  const dataDir = makeDataDir();
  let drover: TestDrover;
  let browser: TestBrowser;
  let page: Page;
  let hostName: string;

  before(async () => {
    ({ drover, hostName, browser, page } = await startConsoleSession(dataDir));
  });

  after(async () => {
    await deleteEveryVm(drover);
    for (const network of (await drover?.api<{ networks: Array<{ name: string }> }>('GET', '/api/v1/networks').catch(() => undefined))?.body.networks ?? []) {
      await drover.api('DELETE', `/api/v1/networks/${network.name}`);
    }
    await browser?.close();
    await cleanupDrover(drover, dataDir);
  });

  test('signed in, the Cluster entry of the navigation opens the cluster page with the default policy', async () => {
    await page.goto(drover.url);
    await page.fill('#sign-in-token', drover.token);
    await page.click('#sign-in-submit');
    await page.locator(`#host-card-${hostName}`).waitFor();
    await page.click('#nav-cluster');
    await page.locator('#cluster-page').waitFor();
    assert.equal(new URL(page.url()).pathname, '/cluster');
    await page.locator('#cluster-policy[data-weight="spread"]').waitFor();
    assert.equal(await page.inputValue('#cluster-policy-cpu-model'), 'qemu64');
    assert.ok(await page.isChecked('#cluster-policy-weight-spread'));
  });

  test('creating a network: a bad subnet shows the API error, a good one is listed', async () => {
    await page.locator('#cluster-networks-empty').waitFor();
    await page.click('#network-create');
    await page.fill('#network-create-name', NETWORK);
    await page.fill('#network-create-subnet', '10.77.0.0/33');
    await page.click('#network-create-dialog-submit');
    const error = page.locator('#network-create-error');
    await error.waitFor();
    assert.equal(await error.getAttribute('data-code'), 'INVALID_SUBNET', await error.innerText());
    await page.fill('#network-create-subnet', SUBNET);
    await page.click('#network-create-dialog-submit');
    await page.locator('#network-create-dialog').waitFor({ state: 'detached' });
    const row = page.locator(`#network-row-${NETWORK}`);
    await row.waitFor();
    assert.match(await row.innerText(), new RegExp(SUBNET.replace(/\./g, '\\.')));
    const listed = (await drover.api<{ networks: Array<{ name: string; subnet: string }> }>('GET', '/api/v1/networks')).body.networks;
    assert.deepEqual(listed.map((n) => [n.name, n.subnet]), [[NETWORK, SUBNET]]);
  });

  test('changing the weight to pack is saved and still shown after a reload', async () => {
    await page.check('#cluster-policy-weight-pack');
    await page.click('#cluster-policy-save');
    await page.locator('#cluster-policy-saved').waitFor();
    assert.equal((await drover.api<{ weight: string }>('GET', '/api/v1/cluster/policy')).body.weight, 'pack');
    await page.reload();
    await page.locator('#cluster-policy[data-weight="pack"]').waitFor();
    assert.ok(await page.isChecked('#cluster-policy-weight-pack'), 'the reloaded page shows the stored weight');
  });

  test('the balancing plan renders (a one-host cluster has nothing to move), and Run starts an operation that succeeds', async () => {
    await page.locator('#cluster-balance-plan-view[data-moves="0"]').waitFor();
    assert.match(await page.locator('#cluster-balance-empty').innerText(), /^Nothing to move: \S/);
    await page.fill('#cluster-balance-threshold', '5');
    await page.click('#cluster-balance-plan');
    await page.locator('#cluster-balance-summary', { hasText: 'threshold 5.0%' }).waitFor();
    await page.click('#cluster-balance-run');
    await page.locator('#cluster-balance-operation .operation[data-kind="balance"][data-state="succeeded"]').waitFor({ timeout: 60_000 });
  });

  test('the balancing schedule is editable', async () => {
    await page.locator('#cluster-balance-schedule[data-enabled="false"]').waitFor();
    await page.check('#cluster-schedule-enabled');
    await page.fill('#cluster-schedule-interval', '45');
    await page.fill('#cluster-schedule-threshold', '15');
    await page.click('#cluster-schedule-save');
    await page.locator('#cluster-schedule-saved').waitFor();
    assert.deepEqual((await drover.api('GET', '/api/v1/balance/schedule')).body, { enabled: true, intervalMinutes: 45, threshold: 0.15 });
    // Off again, so no balancing runs in the background of the rest of the test.
    await page.uncheck('#cluster-schedule-enabled');
    await page.click('#cluster-schedule-save');
    await page.locator('#cluster-balance-schedule[data-enabled="false"]').waitFor();
    assert.equal((await drover.api<{ enabled: boolean }>('GET', '/api/v1/balance/schedule')).body.enabled, false);
  });

  test('the create dialog shows a placement refusal with each host\'s reason', async () => {
    await page.click('#nav-dashboard');
    await page.click('#vm-create');
    await page.fill('#vm-create-name', 'nowhere');
    await page.locator('#vm-create-image option[value="tiny"]').waitFor({ state: 'attached' });
    await page.fill('#vm-create-required-tags', 'gpu=a100');
    await page.click('#vm-create-dialog-submit');
    const error = page.locator('#vm-create-error');
    await error.waitFor();
    assert.equal(await error.getAttribute('data-code'), 'PLACEMENT_IMPOSSIBLE');
    const reason = await page.locator(`#vm-create-error-reasons li[data-who="${hostName}"]`).innerText();
    assert.match(reason, /gpu=a100/, reason);
    await screenshotElement(page.locator('#vm-create-dialog'), 'web-create-vm-refused');
    await page.click('#vm-create-dialog-cancel');
    assert.equal((await drover.api('GET', '/api/v1/vms/nowhere')).status, 404, 'nothing was created');
  });

  test('creating a VM through the dialog with groups and a network: its page shows the rules, the NIC\'s address and why the host won', { timeout: 240_000 }, async () => {
    await page.click('#vm-create');
    await page.fill('#vm-create-name', VM);
    await page.locator('#vm-create-image option[value="tiny"]').waitFor({ state: 'attached' });
    await page.selectOption('#vm-create-image', 'tiny');
    await page.fill('#vm-create-affinity-groups', 'web-tier');
    await page.fill('#vm-create-anti-affinity-groups', 'front, edge');
    await page.check(`#vm-create-network-${NETWORK}`);
    await page.uncheck('#vm-create-start');
    await page.click('#vm-create-dialog-submit');
    await page.locator('#operations-tray .operation[data-kind="create"][data-state="succeeded"]').waitFor({ timeout: 180_000 });

    const vm = (await drover.api<Vm>('GET', `/api/v1/vms/${VM}`)).body;
    assert.deepEqual([vm.placement.affinityGroups, vm.placement.antiAffinityGroups], [['web-tier'], ['front', 'edge']]);
    const nic = vm.nics.find((n) => n.mode === 'network');
    assert.equal(nic?.network, NETWORK, JSON.stringify(vm.nics));
    assert.match(nic?.address ?? '', /^10\.77\.0\.\d+$/);

    await page.goto(`${drover.url}/vms/${VM}`);
    await page.locator(`#vm-page[data-vm="${VM}"]`).waitFor();
    const index = vm.nics.indexOf(nic as Vm['nics'][number]);
    await page.locator(`#nic-row-${index}[data-network="${NETWORK}"]`).waitFor();
    assert.match(await page.locator(`#nic-address-${index}`).innerText(), new RegExp(`^${(nic?.address ?? '').replace(/\./g, '\\.')}\\b`));
    assert.match(await page.locator(`#nic-row-${index}`).innerText(), new RegExp(nic?.mac ?? 'no mac', 'i'));
    assert.equal(await page.locator('#vm-pool').getAttribute('data-pool'), 'local');
    assert.match(await page.locator('#vm-affinity-groups').innerText(), /web-tier/);
    assert.match(await page.locator('#vm-anti-affinity-groups').innerText(), /front\s*edge/);
    // The scheduler placed it under the pack weight, and the timeline says so.
    const why = await page.locator(`#vm-placement-timeline li[data-host="${hostName}"] .placement-why`).innerText();
    assert.match(why, /pack/, why);
    await screenshot(page, 'web-vm-page-placement');
  });

  test('the network lists the VM\'s NIC and cannot be deleted while it is there; once the VM is gone the network is deleted from the page', { timeout: 120_000 }, async () => {
    await page.click('#nav-cluster');
    const row = page.locator(`#network-row-${NETWORK}[data-members="1"]`);
    await row.waitFor();
    assert.match(await row.innerText(), new RegExp(VM));
    assert.ok(await page.locator(`#network-delete-${NETWORK}`).isDisabled(), 'a network in use cannot be deleted');
    await screenshot(page, 'web-cluster-page');

    const deleted = await drover.api<{ operation: { id: string } }>('DELETE', `/api/v1/vms/${VM}?force=true`);
    assert.equal(deleted.status, 202);
    assert.equal((await drover.waitOp(deleted.body.operation.id)).state, 'succeeded');
    await page.locator(`#network-row-${NETWORK}[data-members="0"]`).waitFor();
    await page.click(`#network-delete-${NETWORK}`);
    await page.click('#network-delete-dialog-submit');
    await page.locator(`#network-row-${NETWORK}`).waitFor({ state: 'detached' });
    await page.locator('#cluster-networks-empty').waitFor();
    assert.equal((await drover.api('GET', `/api/v1/networks/${NETWORK}`)).status, 404);
  });

  test('the host page lists the storage pools and CPU models the agent reports', async () => {
    const host = (await drover.api<{ pools: Array<{ name: string; kind: string }>; cpuModels: string[] }>('GET', `/api/v1/hosts/${hostName}`)).body;
    await page.goto(`${drover.url}/hosts/${hostName}`);
    await page.locator(`#host-page[data-host="${hostName}"]`).waitFor();
    const pools = await page.locator('#host-pools').innerText();
    assert.ok(host.pools.length > 0, 'the local agent reports its pool');
    for (const pool of host.pools) assert.ok(pools.includes(pool.name) && pools.includes(pool.kind), `${pool.name} (${pool.kind}) in "${pools}"`);
    // Long lists (over a hundred under TCG) fold away behind a summary with the count.
    const more = page.locator('#host-cpu-models-more');
    if ((await more.count()) > 0) {
      assert.match(await more.locator('summary').innerText(), new RegExp(`^${host.cpuModels.length} models`));
      await more.locator('summary').click();
    }
    const models = await page.locator('#host-cpu-models').innerText();
    for (const model of host.cpuModels) assert.ok(models.includes(model === '*' ? 'any' : model), `${model} in "${models}"`);
  });

  test('no uncaught errors in the page', () => {
    assert.deepEqual(browser.pageErrors.filter((e) => e.startsWith('uncaught')), []);
  });
});
