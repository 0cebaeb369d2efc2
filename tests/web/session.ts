/**
 * What the web console's single-host suites share: `drover up` on a fresh data dir, with headless Chromium
 * to drive the console it serves.
 */
import type { Page } from 'playwright-core';
import { cleanupDrover, startDrover, type TestDrover } from '../helpers/up.js';
import { launchBrowser, type TestBrowser } from './browser.js';

/** A running `drover up`, the name of its local host, and a browser page with a 30 s default timeout. */
export interface ConsoleSession {
  drover: TestDrover;
  hostName: string;
  browser: TestBrowser;
  page: Page;
}

/**
 * Starts `drover up` on `dataDir` and Chromium; the caller stops both (deleteEveryVm, browser.close,
 * cleanupDrover). When Chromium cannot start, `drover up` is stopped and its data removed before the error.
 */
export async function startConsoleSession(dataDir: string): Promise<ConsoleSession> {
  const drover = await startDrover(dataDir);
  try {
    const hostName = (await drover.api<{ hosts: Array<{ name: string }> }>('GET', '/api/v1/hosts')).body.hosts[0]?.name ?? '';
    const browser = await launchBrowser();
    const page = browser.page;
    page.setDefaultTimeout(30_000);
    return { drover, hostName, browser, page };
  } catch (err) {
    await cleanupDrover(drover, dataDir);
    throw err;
  }
}
