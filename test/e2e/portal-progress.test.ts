import fs from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchPortalBrowser, type PortalBrowser } from '../support/browser';
import { type Platform, startPlatform } from '../support/platform';

/** Generous: two cores shared with everything else. */
const UI_TIMEOUT = 30_000;
const MiB = 1024 * 1024;
/** Large enough that the copy takes seconds (qemu-img runs under the agent's CPU limits). */
const DISK_BYTES = 1024 * MiB;

/**
 * Live operation progress end to end in headless Chromium against the real engine binary and a
 * real agent: a disk copy between two local data domains runs while the masthead's Operations
 * popover is open, and its bar is seen moving (several values between 0 and 100 %, never going
 * back) from the stream's ephemeral `operation.progress` frames, then ending succeeded.
 */
describe('portal live operation progress (Chromium + engine + agent)', () => {
  let platform: Platform | undefined;
  let b: PortalBrowser | undefined;
  let domains: { a: { id: string; parent: string }; b: { id: string; parent: string } };
  let diskId: string;
  const call = (method: string, p: string, body?: unknown) =>
    (platform as Platform).api.call(method, p, body);
  const page = (): Page => b!.page;

  beforeAll(async () => {
    platform = await startPlatform({
      prefix: 'vireo-web-progress-',
      hostName: 'progress-host',
      // A portal built elsewhere (a private build while others rebuild packages/web/dist).
      engineEnv: process.env.VIREO_WEB_ROOT ? { VIREO_WEB_ROOT: process.env.VIREO_WEB_ROOT } : {},
    });
    domains = {
      a: await platform.addLocalDataDomain('progress-a'),
      b: await platform.addLocalDataDomain('progress-b'),
    };
    const made = await call('POST', '/disks', {
      name: 'big',
      storage_domain_id: domains.a.id,
      size_bytes: DISK_BYTES,
      format: 'raw',
    });
    await platform.api.settled(made);
    diskId = made.json.disk.id as string;
    // Real data (not zeros, which qemu-img skips), so the copy has something to do.
    const dir = join(domains.a.parent, domains.a.id, 'images', diskId);
    const [volume] = fs.readdirSync(dir).filter((f) => !f.includes('.'));
    if (!volume) throw new Error(`no volume in ${dir}`);
    const fd = fs.openSync(join(dir, volume), 'r+');
    try {
      const chunk = Buffer.alloc(4 * MiB);
      for (let off = 0; off < DISK_BYTES; off += chunk.length) {
        chunk.fill(((off / chunk.length) % 251) + 1);
        fs.writeSync(fd, chunk, 0, chunk.length, off);
      }
    } finally {
      fs.closeSync(fd);
    }

    const serverCert = fs.readFileSync(join(platform.engine.dataDir, 'pki', 'engine.pem'), 'utf8');
    b = await launchPortalBrowser({ serverCertPem: serverCert });
    await page().goto(`${platform.engine.url}/`);
    await page().waitForURL(/\/login/, { timeout: UI_TIMEOUT });
    await page().fill('#password', platform.engine.adminPassword!);
    await page().click('button[type=submit]');
    await page().waitForURL((u) => !u.pathname.startsWith('/login'), { timeout: UI_TIMEOUT });
  }, 240_000);

  afterAll(async () => {
    await b?.close();
    await platform?.stop();
  });

  it('a disk copy’s bar moves live in the Operations popover, without polling', async () => {
    // The stream is connected (the masthead says Live) before the copy starts.
    await page().locator('[data-testid="live-status"]', { hasText: 'Live' }).waitFor({ timeout: UI_TIMEOUT });
    await page().click('#operations-button');
    await page().getByTestId('operations-list').waitFor({ timeout: UI_TIMEOUT });

    // Record every value any running bar shows, as the DOM changes (a string: no DOM lib here).
    await page().evaluate(`(() => {
      window.__seen = [];
      const record = () => {
        for (const el of document.querySelectorAll('[data-testid="operation-progress"][data-state="running"]')) {
          window.__seen.push(el.getAttribute('data-operation-id') + ' ' + el.getAttribute('data-progress'));
        }
      };
      new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true });
    })()`);
    const operationGets: string[] = [];
    page().on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/api/v1/operations')) operationGets.push(r.url());
    });

    const copy = await call('POST', `/disks/${diskId}/copy`, {
      storage_domain_id: domains.b.id,
      name: 'big-copy',
    });
    expect(copy.status).toBe(202);
    const opId = copy.json.operation.id as string;
    const row = `[data-testid="operation"][data-operation-id="${opId}"]`;
    await page().locator(`${row}[data-state="running"]`).waitFor({ timeout: UI_TIMEOUT });
    expect(
      Number(await page().getByTestId('operations-running').getAttribute('data-count')),
    ).toBeGreaterThanOrEqual(1);
    await page().locator(`${row}[data-state="succeeded"]`).waitFor({ timeout: 180_000 });
    await b!.screenshot('operations-progress');

    const seen = (await page().evaluate('window.__seen')) as string[];
    const values = seen
      .filter((s) => s.startsWith(`${opId} `))
      .map((s) => Number(s.split(' ')[1]))
      .filter((v, i, all) => i === 0 || v !== all[i - 1]);
    // Moving: at least two different values strictly between 0 and 100 %, never going back.
    const between = new Set(values.filter((v) => v > 0 && v < 100));
    expect(between.size, `bar values ${values.join(',')}`).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < values.length; i++) expect(values[i]!).toBeGreaterThanOrEqual(values[i - 1]!);
    // The frames moved the bar in place: operations were fetched only on operation events
    // (created, started, succeeded: the lists on screen, about 3 each), not once per frame.
    expect(operationGets.length, operationGets.join('\n')).toBeLessThanOrEqual(15);
    await page()
      .locator('[data-testid="operations-running"][data-count="0"]')
      .waitFor({ timeout: UI_TIMEOUT });

    const done = await platform!.api.settled(copy);
    expect(done.progress).toBe(1);
  }, 240_000);
});
