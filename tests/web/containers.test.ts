/**
 * Containers beside VMs in the web console, driven through headless Chromium: one table with a
 * Type column and the privileged flag, a container's page (no graphical console, Migrate offered
 * as a move by a restart and explained, its limits), the Limits editor following its operation,
 * the create dialog's container fields, and the VM list of a controller from before containers.
 *
 * The first suite runs the controller in process over two simulated agents, so its guests are
 * records the test writes and the image list (simulated agents keep no library) is answered in the
 * browser. The second creates a real container (runc, the tiny-ct image) on `drover up` from the
 * create dialog, types into its console and changes its limits live. Screenshots go to tests/artifacts/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { testController, type TestController } from '../../src/controller/api/testing.js';
import { sampleHost, sampleVm } from '../../src/controller/store/fixtures.js';
import type { VmSpec } from '../../src/controller/store/records.js';
import { simulatedAgent, view, type SimulatedAgent } from '../../src/controller/vms/simulated-agent.js';
import { makeDataDir } from '../helpers/agent.js';
import { cleanupDrover, deleteEveryVm, type TestDrover } from '../helpers/up.js';
import { launchBrowser, screenshot, screenshotElement, type TestBrowser } from './browser.js';
import { startConsoleSession } from './session.js';

const MiB = 2 ** 20;
const HOST_ID = 'h-alpha';

interface ApiVm {
  type: string;
  privileged: boolean;
  pidsLimit: number | null;
  cpuLimitPercent: number | null;
  memoryMiB: number;
}

/** The guests on host alpha, as the controller records them; each runs, so only its type decides how it moves. */
const GUESTS: Array<{ name: string; spec: VmSpec }> = [
  { name: 'box', spec: { type: 'container', pidsLimit: 512, cpuLimitPercent: 150, cpus: 1, memoryBytes: 256 * MiB, imageId: 'alpine' } },
  { name: 'rootbox', spec: { type: 'container', privileged: true, cpus: 1, memoryBytes: 256 * MiB, imageId: 'alpine' } },
  { name: 'qvm', spec: { cpus: 1, memoryBytes: 256 * MiB, imageId: 'tiny', cpuModel: 'qemu64' } },
];

/** The image list of a controller whose hosts hold a VM image and a container image. */
const TYPED_IMAGES = {
  images: [
    { name: 'tiny', host: 'alpha', format: 'qcow2', sourceFormat: 'qcow2', virtualSizeBytes: 2 ** 30, actualSizeBytes: 40 * MiB, sha256: 'a'.repeat(64), createdAt: '2025-01-01T00:00:00.000Z', osNotes: 'tiny guest', type: 'vm' },
    { name: 'alpine', host: 'alpha', format: 'qcow2', sourceFormat: 'qcow2', virtualSizeBytes: 2 ** 30, actualSizeBytes: 20 * MiB, sha256: 'b'.repeat(64), createdAt: '2025-01-01T00:00:00.000Z', osNotes: 'alpine rootfs', type: 'container' },
  ],
};

const optionValues = (page: Page, select: string): Promise<string[]> => page.locator(`${select} option`).evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value));

describe('web console: containers beside VMs (in-process controller, simulated agent, Chromium)', () => {
  let controller: TestController;
  let agent: SimulatedAgent;
  /** Host beta's: nothing on it, a place to move to. */
  let spare: SimulatedAgent;
  let browser: TestBrowser;
  let page: Page;
  let url: string;

  const apiVm = async (name: string): Promise<ApiVm> => (await controller.app.inject({ method: 'GET', url: `/api/v1/vms/${name}`, headers: controller.auth })).json<ApiVm>();

  before(async () => {
    controller = await testController();
    agent = await simulatedAgent(
      GUESTS.map(({ name, spec }) => ({
        ...view(name),
        type: spec.type ?? 'vm',
        cpuModel: spec.type === 'container' ? 'host' : 'qemu64',
        ...(spec.privileged ? { privileged: true } : {}),
        ...(spec.pidsLimit ? { pidsLimit: spec.pidsLimit } : {}),
      })),
      { definesVms: true },
    );
    spare = await simulatedAgent([], { definesVms: true });
    await controller.store.hosts.insert(sampleHost({ id: HOST_ID, name: 'alpha', address: agent.url, credential: 'alpha-secret' }));
    await controller.store.hosts.insert(sampleHost({ id: 'h-beta', name: 'beta', address: spare.url, credential: 'beta-secret' }));
    const startedAt = new Date(Date.now() - 90_000).toISOString();
    for (const [index, { name, spec }] of GUESTS.entries()) {
      await controller.store.vms.insert(
        sampleVm({
          id: `vm-${name}`,
          name,
          hostId: HOST_ID,
          state: 'running',
          desiredState: 'running',
          spec,
          // Containers have no user-mode NIC: these two have none at all.
          nics: spec.type === 'container' ? [] : [{ name: 'eth0', network: 'user', mode: 'user', macAddress: `52:54:00:00:00:0${index}` }],
          runtime: { pid: 4242 + index, startedAt, guestReady: true, hostVmId: `id-${name}` },
        }),
      );
    }
    url = (await controller.app.listen({ host: '127.0.0.1', port: 0 })).replace('[::1]', '127.0.0.1');
    browser = await launchBrowser();
    page = browser.page;
    page.setDefaultTimeout(30_000);
  });

  after(async () => {
    await browser?.close();
    await controller?.close();
    await agent?.close();
    await spare?.close();
  });

  test('the VM table lists VMs and containers in one Type column, and flags the privileged container', async () => {
    // The simulated agent keeps no snapshots (it answers VM_NOT_FOUND): say there are none, so the VM pages show no harness error.
    await page.route('**/api/v1/vms/*/snapshots', (route) => (route.request().method() === 'GET' ? route.fulfill({ json: { snapshots: [] } }) : route.continue()));
    await page.goto(url);
    await page.fill('#sign-in-token', controller.secret);
    await page.click('#sign-in-submit');
    await page.locator('#vm-row-box[data-type="container"]').waitFor();
    assert.equal(await page.locator('#vm-table-sort-type').innerText(), 'Type');
    assert.equal(await page.locator('#vm-type-box').innerText(), 'container');
    assert.equal(await page.locator('#vm-type-qvm').innerText(), 'VM');
    assert.equal(await page.locator('#vm-row-qvm').getAttribute('data-type'), 'vm');

    const flag = page.locator('#vm-privileged-rootbox');
    assert.equal(await flag.innerText(), 'privileged');
    assert.match((await flag.getAttribute('class')) ?? '', /\bbad\b/, 'the flag is red');
    assert.match((await flag.getAttribute('title')) ?? '', /root inside is root on the host/);
    assert.equal(await page.locator('#vm-row-rootbox').getAttribute('data-privileged'), 'true');
    assert.equal(await page.locator('#vm-privileged-box').count(), 0, 'an unprivileged container carries no flag');
    assert.equal(await page.locator('#vm-privileged-qvm').count(), 0);

    await page.selectOption('#vm-table-type', 'container');
    await page.locator('#vm-row-qvm').waitFor({ state: 'detached' });
    assert.equal(await page.locator('#vm-table-count').innerText(), '2 of 3 VMs');
    await page.selectOption('#vm-table-type', '');
    await page.locator('#vm-row-qvm').waitFor();
    await screenshotElement(page.locator('section.vm-table'), 'web-containers-table');
  });

  test('a container\'s page shows its type, the privileged warning and its limits; it has a Console tab but no graphical console, and Migrate says it moves by a restart', async () => {
    await page.click('#vm-row-rootbox a.vm-link');
    await page.locator('#vm-page[data-vm="rootbox"][data-type="container"]').waitFor();
    assert.equal(await page.locator('#vm-guest-type').innerText(), 'container');
    assert.equal(await page.locator('#vm-privileged').innerText(), 'privileged');
    assert.match(await page.locator('#vm-type').innerText(), /system container/);
    assert.match(await page.locator('#vm-privileged-warning').innerText(), /root inside is root on the host/);
    assert.equal(await page.locator('#vm-pids-limit').innerText(), 'none');
    assert.equal(await page.locator('#vm-devices').innerText(), '-');

    const tabs = await page.locator('#vm-page [role="tab"]').allInnerTexts();
    assert.deepEqual(tabs, ['Overview', 'Console', 'Events']);
    assert.equal(await page.locator('#vm-tab-display').count(), 0);

    const migrate = page.locator('#vm-action-migrate');
    assert.match((await migrate.getAttribute('title')) ?? '', /^Containers move by restart; live migration needs CRIU, which does not work on these hosts: the move stops it and starts it again$/);
    await migrate.click();
    const dialog = page.locator('#vm-migrate-dialog[open]');
    await dialog.waitFor();
    assert.equal(await page.locator('#vm-migrate-dialog-title').innerText(), 'Move rootbox by a restart');
    const mode = page.locator('#vm-migrate-mode');
    assert.equal(await mode.getAttribute('data-mode'), 'restart');
    assert.match(await mode.innerText(), /live migration needs CRIU.*down from its stop to its start/s);
    await page.locator('#migrate-target-beta[data-suitable="true"]').waitFor();
    assert.equal(await page.locator('#vm-migrate-dialog-submit').innerText(), 'Move to beta');
    await page.click('#vm-migrate-dialog summary');
    assert.ok(await page.locator('#vm-migrate-storage').isVisible());
    assert.equal(await page.locator('#vm-migrate-downtime').count(), 0, 'a restart has no switchover pause to bound');
    assert.equal(await page.locator('#vm-migrate-bandwidth').count(), 0);
    await screenshotElement(page.locator('#vm-migrate-dialog'), 'web-containers-migrate');
    await page.click('#vm-migrate-dialog-cancel');
    await dialog.waitFor({ state: 'detached' });
    await screenshot(page, 'web-containers');

    // A link to the graphical console of a container opens its overview.
    await page.goto(`${url}/vms/rootbox?tab=display`);
    await page.locator('#vm-panel-overview').waitFor();
    assert.equal(await page.locator('#vnc-screen').count(), 0);

    await page.goto(`${url}/vms/box`);
    await page.locator('#vm-page[data-vm="box"]').waitFor();
    assert.equal(await page.locator('#vm-privileged').count(), 0);
    assert.equal(await page.locator('#vm-pids-limit').getAttribute('data-value'), '512');
    assert.equal(await page.locator('#vm-cpu-limit').innerText(), '150% (1.5 cores)');
    assert.match(await page.locator('#vm-nics-none').innerText(), /no user-mode NIC/);
  });

  test('a VM\'s page keeps the graphical console and live migration, and has no process limit', async () => {
    await page.goto(`${url}/vms/qvm`);
    await page.locator('#vm-page[data-vm="qvm"][data-type="vm"]').waitFor();
    assert.deepEqual(await page.locator('#vm-page [role="tab"]').allInnerTexts(), ['Overview', 'Console', 'Graphical console', 'Events']);
    assert.equal(await page.locator('#vm-action-migrate').getAttribute('title'), null);
    await page.click('#vm-action-migrate');
    await page.locator('#vm-migrate-dialog[open]').waitFor();
    assert.equal(await page.locator('#vm-migrate-mode').getAttribute('data-mode'), 'live');
    await page.click('#vm-migrate-dialog summary');
    assert.ok(await page.locator('#vm-migrate-downtime').isVisible());
    await page.click('#vm-migrate-dialog-cancel');
    assert.equal(await page.locator('#vm-pids-limit').count(), 0);
    assert.equal(await page.locator('#vm-limits-pids').count(), 0);
    assert.ok(await page.locator('#vm-limits-memory').isDisabled(), 'a running VM takes new memory only once stopped');
  });

  test('the Limits editor sends only what changed and follows the operation until the page shows the new limits', async () => {
    await page.goto(`${url}/vms/box`);
    await page.locator('#vm-limits-form').waitFor();
    assert.ok(await page.locator('#vm-limits-apply').isDisabled(), 'nothing changed yet');
    await page.fill('#vm-limits-cpu', '200');
    await page.fill('#vm-limits-memory', '512');
    await page.fill('#vm-limits-pids', '1024');
    const [request] = await Promise.all([page.waitForRequest((r) => r.method() === 'PATCH' && r.url().endsWith('/api/v1/vms/box/limits')), page.click('#vm-limits-apply')]);
    assert.deepEqual(request.postDataJSON(), { cpuLimitPercent: 200, memoryMiB: 512, pidsLimit: 1024 });
    await page.locator('#operations-tray .operation[data-kind="set-limits"][data-state="succeeded"]').waitFor();
    await page.locator('#vm-limits-status[data-state="succeeded"]').waitFor();
    await page.locator('#vm-pids-limit[data-value="1024"]').waitFor();
    assert.equal(await page.locator('#vm-cpu-limit').getAttribute('data-value'), '200');
    assert.equal(await page.locator('#vm-memory').getAttribute('data-value'), '512');
    assert.ok(agent.seen.includes('PUT /api/v1/vms/box/limits'), 'the host was asked');
    const stored = await apiVm('box');
    assert.deepEqual([stored.cpuLimitPercent, stored.memoryMiB, stored.pidsLimit], [200, 512, 1024]);

    // Emptying a field removes that limit, and the other fields are not sent again.
    await page.fill('#vm-limits-pids', '');
    const [removal] = await Promise.all([page.waitForRequest((r) => r.method() === 'PATCH' && r.url().endsWith('/api/v1/vms/box/limits')), page.click('#vm-limits-apply')]);
    assert.deepEqual(removal.postDataJSON(), { pidsLimit: null });
    await page.locator('#vm-pids-limit[data-value=""]').waitFor();
    await page.locator('#vm-limits-status[data-state="succeeded"]').waitFor();
    assert.equal((await apiVm('box')).pidsLimit, null);

    await page.fill('#vm-limits-pids', '3');
    assert.match(await page.locator('#vm-limits .field-error').innerText(), /from 8 to 4194304/);
    assert.ok(await page.locator('#vm-limits-apply').isDisabled(), 'a process limit under 8 is not sent');
    await page.fill('#vm-limits-pids', '');
    assert.equal(await page.locator('#vm-limits .field-error').count(), 0);
    await screenshotElement(page.locator('#vm-limits'), 'web-containers-limits');
  });

  test('the create dialog: Container offers only container images, no device model, and sends privileged and the process limit', async () => {
    // Simulated agents keep no image library: answer as a controller whose hosts hold one of each type.
    await page.route('**/api/v1/images', (route) => route.fulfill({ json: TYPED_IMAGES }));
    await page.goto(url);
    await page.locator('#vm-row-box').waitFor();
    await page.click('#vm-create');
    await page.locator('#vm-create-image option[value="tiny"]').waitFor({ state: 'attached' });
    assert.deepEqual(await optionValues(page, '#vm-create-image'), ['tiny'], 'a VM is made from VM images');
    assert.equal(await page.locator('#vm-create-devices').count(), 1);
    assert.equal(await page.locator('#vm-create-privileged').count(), 0);

    await page.selectOption('#vm-create-type', 'container');
    assert.deepEqual(await optionValues(page, '#vm-create-image'), ['alpine'], 'a container is made from container images');
    assert.equal(await page.inputValue('#vm-create-image'), 'alpine');
    assert.equal(await page.locator('#vm-create-devices').count(), 0);
    assert.equal(await page.locator('#vm-create-dialog-title').innerText(), 'Create a container');
    assert.match(await page.locator('#vm-create-networks-help').innerText(), /no user-mode NIC/);
    assert.equal(await page.locator('#vm-create-privileged-warning').count(), 0);
    await page.check('#vm-create-privileged');
    assert.match(await page.locator('#vm-create-privileged-warning').innerText(), /root inside is root on the host/);
    await page.fill('#vm-create-name', 'newbox');
    await page.fill('#vm-create-pids', '4');
    assert.ok(await page.locator('#vm-create-dialog-submit').isDisabled(), 'a process limit under 8 is refused here');
    await page.fill('#vm-create-pids', '256');
    await page.uncheck('#vm-create-start');
    await screenshotElement(page.locator('#vm-create-dialog'), 'web-containers-create');

    const [request] = await Promise.all([page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/api/v1/vms')), page.click('#vm-create-dialog-submit')]);
    const body = request.postDataJSON() as Record<string, unknown>;
    assert.deepEqual([body.type, body.image, body.privileged, body.pidsLimit, 'devices' in body], ['container', 'alpine', true, 256, false], JSON.stringify(body));
    await page.locator('#operations-tray .operation[data-kind="create"][data-state="succeeded"]').waitFor();
    await page.locator('#vm-row-newbox[data-type="container"][data-privileged="true"]').waitFor();
    // The scheduler picks either host.
    const created = [...agent.created, ...spare.created].find((definition) => definition.name === 'newbox');
    assert.deepEqual([created?.type, created?.privileged, created?.pidsLimit], ['container', true, 256], JSON.stringify(created));
    const stored = await apiVm('newbox');
    assert.deepEqual([stored.type, stored.privileged, stored.pidsLimit], ['container', true, 256]);
    await page.unroute('**/api/v1/images');
  });

  test('a controller from before containers: VMs without the new fields still parse, as unlimited VMs', async () => {
    // Its answers lack type, privileged, pidsLimit and cpuLimitPercent.
    const isVmRead = (address: URL): boolean => /^\/api\/v1\/vms(\/[a-z0-9-]+)?$/.test(address.pathname);
    await page.route(isVmRead, async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      const response = await route.fetch();
      const strip = (vm: Record<string, unknown>) => {
        for (const field of ['type', 'privileged', 'pidsLimit', 'cpuLimitPercent']) delete vm[field];
        return vm;
      };
      const json = (await response.json()) as { vms?: Array<Record<string, unknown>> } & Record<string, unknown>;
      return route.fulfill({ response, json: json.vms ? { vms: json.vms.map(strip) } : strip(json) });
    });
    try {
      await page.goto(url);
      await page.locator('#vm-row-rootbox').waitFor();
      const types = await page.locator('section.vm-table tbody tr[id^="vm-row-"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-type')));
      assert.ok(types.length >= 3 && types.every((type) => type === 'vm'), JSON.stringify(types));
      assert.equal(await page.locator('#dashboard-error').count(), 0);
      assert.equal(await page.locator('.vm-table .privileged').count(), 0);
      await page.goto(`${url}/vms/rootbox`);
      await page.locator('#vm-page[data-vm="rootbox"][data-type="vm"]').waitFor();
      assert.equal(await page.locator('#vm-cpu-limit').innerText(), 'none');
    } finally {
      await page.unroute(isVmRead);
    }
  });

  test('no uncaught errors in the page', () => {
    assert.deepEqual(browser.pageErrors.filter((e) => e.startsWith('uncaught')), []);
  });
});

describe('web console: a real container (drover up, runc, Chromium)', () => {
  const NAME = 'webct';
  const dataDir = makeDataDir();
  let drover: TestDrover;
  let browser: TestBrowser;
  let page: Page;

  before(async () => {
    ({ drover, browser, page } = await startConsoleSession(dataDir));
  });

  after(async () => {
    await deleteEveryVm(drover);
    await browser?.close();
    await cleanupDrover(drover, dataDir);
  });

  test('the create dialog makes a container from a container image and starts it', { timeout: 180_000 }, async () => {
    await page.goto(drover.url);
    await page.fill('#sign-in-token', drover.token);
    await page.click('#sign-in-submit');
    await page.locator('#stream-status[data-status="live"]').waitFor();
    await page.click('#vm-create');
    await page.locator('#vm-create-image option[value="tiny"]').waitFor({ state: 'attached' });
    assert.ok(!(await optionValues(page, '#vm-create-image')).includes('tiny-ct'), 'a VM is not offered a container image');
    await page.selectOption('#vm-create-type', 'container');
    const images = await optionValues(page, '#vm-create-image');
    assert.ok(images.includes('tiny-ct') && !images.includes('tiny'), JSON.stringify(images));
    await page.selectOption('#vm-create-image', 'tiny-ct');
    await page.fill('#vm-create-name', NAME);
    await page.fill('#vm-create-memory', '128');
    await page.fill('#vm-create-pids', '256');
    await page.click('#vm-create-dialog-submit');
    await page.locator(`#vm-row-${NAME}[data-type="container"][data-state="running"]`).waitFor({ timeout: 120_000 });
    const vm = (await drover.api<ApiVm & { state: string }>('GET', `/api/v1/vms/${NAME}`)).body;
    assert.deepEqual([vm.type, vm.state, vm.pidsLimit, vm.privileged], ['container', 'running', 256, false]);
  });

  test('its Console tab reaches the container\'s pty: a command typed there runs', { timeout: 120_000 }, async () => {
    const ready = await drover.api('POST', `/api/v1/vms/${NAME}/wait-ready`, { timeoutMs: 60_000 });
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    await page.click(`#vm-row-${NAME} a.vm-link`);
    await page.locator(`#vm-page[data-vm="${NAME}"][data-type="container"]`).waitFor();
    assert.equal(await page.locator('#vm-tab-display').count(), 0);
    await page.click('#vm-tab-console');
    await page.locator('#serial-console-status[data-status="connected"]').waitFor();
    await page.click('#serial-console');
    await page.keyboard.press('Enter');
    await page.keyboard.type('echo web-ct-$((6*7)) $(hostname)');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('#serial-console .xterm-rows')?.textContent?.includes(`web-ct-42 webct`), null, { timeout: 30_000 });
    await screenshot(page, 'web-containers-console');
  });

  test('the Limits editor changes its process limit and CPU cap while it runs', { timeout: 120_000 }, async () => {
    await page.click('#vm-tab-overview');
    await page.locator('#vm-limits-form').waitFor();
    await page.fill('#vm-limits-pids', '128');
    await page.fill('#vm-limits-cpu', '50');
    await page.click('#vm-limits-apply');
    await page.locator('#vm-limits-status[data-state="succeeded"]').waitFor({ timeout: 60_000 });
    await page.locator('#vm-pids-limit[data-value="128"]').waitFor();
    const vm = (await drover.api<ApiVm>('GET', `/api/v1/vms/${NAME}`)).body;
    assert.deepEqual([vm.pidsLimit, vm.cpuLimitPercent], [128, 50]);
    // The limit holds inside: of 200 sleepers, only as many start as it leaves room for. The shell that forks them
    // stops at the first refused fork; the count and the clean-up use builtins only, which need no fork.
    const script = [
      '(i=0; while [ $i -lt 200 ]; do sleep 20 </dev/null >/dev/null 2>&1 & i=$((i+1)); done) 2>/dev/null',
      'n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo processes $n',
      'for p in /proc/[0-9]*; do read c < $p/comm 2>/dev/null && [ "$c" = sleep ] && kill ${p#/proc/}; done; true',
    ].join('\n');
    const exec = await drover.api<{ exitCode: number; stdout: string }>('POST', `/api/v1/vms/${NAME}/exec`, { command: '/bin/sh', args: ['-c', script], timeoutMs: 60_000 });
    assert.equal(exec.status, 200, JSON.stringify(exec.body));
    const processes = Number(/processes (\d+)/.exec(exec.body.stdout)?.[1] ?? NaN);
    assert.ok(processes > 64 && processes <= 128, `between 64 and the limit of 128 at once: ${JSON.stringify(exec.body)}`);
  });

  test('no uncaught errors in the page', () => {
    assert.deepEqual(browser.pageErrors.filter((e) => e.startsWith('uncaught')), []);
  });
});
