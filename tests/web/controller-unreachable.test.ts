/**
 * The web console when its controller stops answering: two in-process controllers on loopback that
 * know each other's URLs (no agent, no guest), driven through headless Chromium. The console signed
 * in to the first shows "controller X unreachable — switch to Y" once the first is gone, and the
 * link opens the second's console.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testController } from '../../src/controller/api/testing.js';
import { closedPort } from '../../src/shared/network-test-support.js';
import { launchBrowser, screenshotElement } from './browser.js';

test('a console whose controller stops answering links to the other controller', async (t) => {
  const [firstPort, secondPort] = [await closedPort(), await closedPort()];
  const first = `http://127.0.0.1:${firstPort}`;
  const second = `http://127.0.0.1:${secondPort}`;
  const controllerUrls = [first, second];
  const one = await testController({ controllerUrls });
  t.after(() => one.close().catch(() => undefined));
  const two = await testController({ controllerUrls });
  t.after(() => two.close());
  await one.app.listen({ host: '127.0.0.1', port: firstPort });
  await two.app.listen({ host: '127.0.0.1', port: secondPort });

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page } = browser;
  page.setDefaultTimeout(30_000);
  await page.goto(first);
  await page.fill('#sign-in-token', one.secret);
  await page.click('#sign-in-submit');
  await page.locator('#nav-dashboard').waitFor();
  assert.equal(await page.locator('#controller-unreachable').count(), 0, 'no banner while the controller answers');

  await one.app.close();
  const banner = page.locator('#controller-unreachable');
  await banner.waitFor();
  assert.match((await banner.textContent()) ?? '', new RegExp(`Controller ${first} unreachable — switch to ${second}`));
  await screenshotElement(banner, 'web-controller-unreachable');
  await page.click('#controller-switch-0');
  await page.locator('#sign-in-token').waitFor();
  assert.equal(new URL(page.url()).origin, second, 'the other controller\'s console, to sign in to');
});
