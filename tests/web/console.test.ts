/**
 * The web console against a real `drover up` with real guests, driven through headless Chromium:
 * sign-in, creating and starting a VM, the serial and graphical consoles, snapshot and revert,
 * keyboard use, live updates without reload, delete, sign-out and a revoked token. Screenshots go to tests/artifacts/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { makeDataDir } from '../helpers/agent.js';
import { cleanupDrover, deleteEveryVm, type TestDrover } from '../helpers/up.js';
import { screenshot, type TestBrowser } from './browser.js';
import { startConsoleSession } from './session.js';

const VM = 'webvm';
const BOOT_TIMEOUT_MS = 180_000;

interface Vm {
  name: string;
  state: string;
  guestReady: boolean;
}

/** Text the serial console shows (xterm.js renders rows into the DOM). */
const terminalText = (page: Page): Promise<string> => page.locator('#serial-console .xterm-rows').innerText();

/** True while the page has not been reloaded since `markNoReload`. */
const stillSamePage = (page: Page): Promise<boolean> => page.evaluate(() => (window as unknown as { droverTestMarker?: boolean }).droverTestMarker === true);
const markNoReload = (page: Page): Promise<void> => page.evaluate(() => void ((window as unknown as { droverTestMarker?: boolean }).droverTestMarker = true));

describe('web console (drover up, real guests, Chromium)', () => {
  const dataDir = makeDataDir();
  let drover: TestDrover;
  let browser: TestBrowser;
  let page: Page;
  let hostName: string;

  const waitReady = async (name: string): Promise<void> => {
    const res = await drover.api<Vm>('POST', `/api/v1/vms/${name}/wait-ready`, { timeoutMs: BOOT_TIMEOUT_MS });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  };
  const exec = async (name: string, script: string) => (await drover.api<{ exitCode: number; stdout: string }>('POST', `/api/v1/vms/${name}/exec`, { command: '/bin/sh', args: ['-c', script] })).body;
  const tab = async (id: string): Promise<void> => page.click(`#vm-tab-${id}`);

  before(async () => {
    ({ drover, hostName, browser, page } = await startConsoleSession(dataDir));
  });

  after(async () => {
    await deleteEveryVm(drover);
    await browser?.close();
    await cleanupDrover(drover, dataDir);
  });

  test('the controller serves the console at / and client routes fall back to it', async () => {
    for (const path of ['/', `/vms/${VM}`, '/events']) {
      const res = await fetch(`${drover.url}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
      assert.match(await res.text(), /<div id="root">/);
    }
    assert.equal((await fetch(`${drover.url}/api/v1/vms`)).status, 401, 'the API still needs a token');
  });

  test('a bad token shows an error and signs nobody in', async () => {
    await page.goto(drover.url);
    await page.fill('#sign-in-token', `drv_${'x'.repeat(43)}`);
    await page.click('#sign-in-submit');
    const error = page.locator('#sign-in-error');
    await error.waitFor();
    assert.match(await error.innerText(), /not accepted/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('drover.token')), null);
    assert.equal(await page.locator('#dashboard').count(), 0);
  });

  test('signing in with the admin token shows the hosts', async () => {
    await page.fill('#sign-in-token', drover.token);
    await page.click('#sign-in-submit');
    await page.locator(`#host-card-${hostName}`).waitFor();
    await page.locator('#stream-status[data-status="live"]').waitFor();
    assert.equal(await page.locator(`#host-card-${hostName}`).getAttribute('data-health'), 'healthy');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('drover.token')), drover.token);
    await markNoReload(page);
  });

  test('creating a VM from the UI: it appears and settles live, without a reload', async () => {
    await page.click('#vm-create');
    await page.fill('#vm-create-name', VM);
    await page.locator('#vm-create-image option[value="tiny"]').waitFor({ state: 'attached' });
    await page.selectOption('#vm-create-image', 'tiny');
    await page.uncheck('#vm-create-start');
    await page.click('#vm-create-dialog-submit');
    await page.locator('#operations-tray .operation[data-kind="create"]').waitFor();
    await page.locator(`#vm-row-${VM}[data-state="stopped"]`).waitFor({ timeout: BOOT_TIMEOUT_MS });
    assert.ok(await stillSamePage(page), 'the page was not reloaded');
    const vm = (await drover.api<Vm>('GET', `/api/v1/vms/${VM}`)).body;
    assert.equal(vm.state, 'stopped');
  });

  test('starting it from its page, then the serial console runs a command', async () => {
    await page.click(`#vm-row-${VM} a.vm-link`);
    await page.locator(`#vm-page[data-vm="${VM}"]`).waitFor();
    await page.click('#vm-action-start');
    await page.locator('#vm-state[data-state="running"]').waitFor({ timeout: BOOT_TIMEOUT_MS });
    await waitReady(VM);
    // The page does not poll: the guest agent answering reaches it as a vm.guest-ready event.
    await page.locator('#vm-guest[data-ready="true"]').waitFor();

    await tab('console');
    await page.locator('#serial-console-status[data-status="connected"]').waitFor();
    await page.click('#serial-console');
    await page.keyboard.press('Enter');
    await page.keyboard.type('echo web-console-$((6*7))');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('#serial-console .xterm-rows')?.textContent?.includes('web-console-42'), null, { timeout: 30_000 });
    assert.match(await terminalText(page), /web-console-42/);
    assert.ok(await stillSamePage(page));
    await screenshot(page, 'web-serial-console');
  });

  test('the graphical console connects through the VNC proxy', async () => {
    await tab('display');
    await page.locator('#vnc-status[data-status="connected"]').waitFor();
    // The guest's VGA text console has drawn something: the canvas is not one flat colour.
    await page.waitForFunction(
      () => {
        const canvas = document.querySelector<HTMLCanvasElement>('#vnc-screen canvas');
        const context = canvas?.getContext('2d');
        if (!canvas || !context || canvas.width === 0) return false;
        const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 4; i < pixels.length; i += 4 * 97) if (pixels[i] !== pixels[0] || pixels[i + 1] !== pixels[1] || pixels[i + 2] !== pixels[2]) return true;
        return false;
      },
      null,
      { timeout: 30_000 },
    );
    await screenshot(page, 'web-graphical-console');
  });

  test('taking a snapshot and reverting to it from the UI', async () => {
    await tab('overview');
    await page.click('#vm-action-snapshot');
    await page.fill('#vm-snapshot-name', 'clean');
    await page.click('#vm-snapshot-dialog-submit');
    await page.locator('#snapshot-row-clean').waitFor({ timeout: 120_000 });

    assert.equal((await exec(VM, 'echo changed > /root/after-snapshot && sync')).exitCode, 0);
    await page.click('#vm-action-stop');
    await page.locator('#vm-state[data-state="stopped"]').waitFor({ timeout: 120_000 });

    await page.click('#snapshot-revert-clean');
    await page.click('#snapshot-revert-dialog-submit');
    await page.locator('#operations-tray .operation[data-kind="revert"][data-state="succeeded"]').waitFor({ timeout: 120_000 });

    await page.click('#vm-action-start');
    await page.locator('#vm-state[data-state="running"]').waitFor({ timeout: BOOT_TIMEOUT_MS });
    await waitReady(VM);
    const listing = await exec(VM, 'ls /root');
    assert.equal(listing.exitCode, 0);
    assert.doesNotMatch(listing.stdout, /after-snapshot/, 'the file written after the snapshot is gone');
    await page.locator('#chart-cpu').waitFor({ timeout: 30_000 });
    await screenshot(page, 'web-vm-page');
  });

  test('keyboard: Tab reaches an action with a visible focus ring, Enter opens its dialog with focus inside, Escape closes it', async () => {
    await page.locator(`#vm-page[data-vm="${VM}"]`).waitFor();
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    let focused = '';
    for (let presses = 0; presses < 60 && focused !== 'vm-action-snapshot'; presses++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.id ?? '');
    }
    assert.equal(focused, 'vm-action-snapshot', 'Tab reaches the Snapshot button');
    const outline = await page.evaluate(() => {
      const style = getComputedStyle(document.activeElement as Element);
      return { style: style.outlineStyle, width: style.outlineWidth };
    });
    assert.notEqual(outline.style, 'none', `the focused button shows a focus ring (${JSON.stringify(outline)})`);
    await page.keyboard.press('Enter');
    await page.locator('#vm-snapshot-dialog[open]').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'vm-snapshot-name', 'focus moves into the dialog');
    await page.keyboard.press('Escape');
    await page.locator('#vm-snapshot-dialog').waitFor({ state: 'detached' });
    const snapshots = (await drover.api<{ snapshots: Array<{ name: string }> }>('GET', `/api/v1/vms/${VM}/snapshots`)).body.snapshots;
    assert.deepEqual(snapshots.map((snap) => snap.name), ['clean'], 'Escape took no snapshot');
  });

  test('a change made elsewhere (CLI or API) shows on the dashboard within seconds, without a reload', async () => {
    await page.click('#nav-dashboard');
    await page.locator(`#vm-row-${VM}[data-state="running"]`).waitFor();
    const started = Date.now();
    const paused = await drover.api<{ operation: { id: string } }>('POST', `/api/v1/vms/${VM}/pause`);
    assert.equal(paused.status, 202);
    await page.locator(`#vm-row-${VM}[data-state="paused"]`).waitFor({ timeout: 10_000 });
    const elapsed = Date.now() - started;
    assert.ok(await stillSamePage(page), 'the page was not reloaded');
    assert.ok(elapsed < 10_000, `paused showed after ${elapsed} ms`);
    await drover.waitOp(paused.body.operation.id);
    await drover.api('POST', `/api/v1/vms/${VM}/resume`);
    await page.locator(`#vm-row-${VM}[data-state="running"]`).waitFor({ timeout: 10_000 });
    await screenshot(page, 'web-dashboard');
  });

  test('the events page lists what happened and filters by VM and action', async () => {
    await page.click('#nav-events');
    await page.fill('#events-filter-vm', VM);
    await page.fill('#events-filter-action', 'vm.revert');
    await page.click('#events-apply');
    await page.locator('tr[data-action="vm.revert"]').first().waitFor();
    const actions = await page.locator('table.events tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
    assert.ok(actions.length > 0 && actions.every((a) => a === 'vm.revert'), JSON.stringify(actions));
  });

  test('deleting asks for confirmation, then the VM is gone', async () => {
    await page.goto(`${drover.url}/vms/${VM}`);
    await page.locator(`#vm-page[data-vm="${VM}"]`).waitFor();
    await page.click('#vm-action-delete');
    await page.click('#vm-delete-dialog-cancel');
    assert.equal((await drover.api('GET', `/api/v1/vms/${VM}`)).status, 200, 'cancel keeps the VM');
    await page.click('#vm-action-delete');
    await page.click('#vm-delete-dialog-submit');
    await page.locator('#dashboard').waitFor();
    await page.locator(`#vm-row-${VM}`).waitFor({ state: 'detached', timeout: 60_000 });
    assert.equal((await drover.api('GET', `/api/v1/vms/${VM}`)).status, 404);
  });

  test('signing out, and a revoked token sends you back to sign-in with a message', async () => {
    await page.click('#sign-out');
    await page.locator('#sign-in-token').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('drover.token')), null);

    const created = await drover.api<{ secret: string }>('POST', '/api/v1/tokens', { name: 'web-test' });
    assert.equal(created.status, 201);
    await page.fill('#sign-in-token', created.body.secret);
    await page.click('#sign-in-submit');
    await page.locator(`#host-card-${hostName}`).waitFor();
    assert.equal((await drover.api('DELETE', '/api/v1/tokens/web-test')).status, 200);
    // Any request now gets a 401; the events page makes one.
    await page.click('#nav-events');
    const notice = page.locator('#sign-in-notice');
    await notice.waitFor();
    assert.match(await notice.innerText(), /no longer accepts this token/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('drover.token')), null);
  });

  test('no uncaught errors in the page', () => {
    assert.deepEqual(browser.pageErrors.filter((e) => e.startsWith('uncaught')), []);
  });
});
