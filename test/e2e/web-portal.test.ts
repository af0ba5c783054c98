import fs from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killQemusOf, qemuPidsFor } from '../../packages/agent/test/support/guest';
import { ARTIFACTS, launchPortalBrowser, type PortalBrowser } from '../support/browser';
import type { EngineProcess } from '../support/engine';
import { type Platform, startPlatform, until } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

/** The part of a browser canvas the VNC check reads (this file is type-checked without the DOM lib). */
interface CanvasLike {
  width: number;
  height: number;
  getContext(
    kind: '2d',
  ): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
}

const XSS = '<img src=x onerror=alert(1)>';
/** Generous: two cores shared with QEMU (TCG) and PostgreSQL. */
const UI_TIMEOUT = 30_000;

/**
 * The web portal end to end in headless Debian Chromium: the real engine binary serving the built
 * portal (HTTPS, strict CSP), a real agent enrolled by join token, a real QEMU (TCG) booting the
 * test guest's ISO. Everything happens through the pages as a person would do it; the REST API is
 * only used to check outcomes and to clean up.
 */
describe('web portal (Chromium + engine + agent + QEMU)', () => {
  let platform: Platform | undefined;
  let engine: EngineProcess;
  let b: PortalBrowser | undefined;
  let vmId: string | undefined;
  const call = (method: string, p: string, body?: unknown) =>
    (platform as Platform).api.call(method, p, body);
  const page = (): Page => b!.page;
  const go = async (path: string) => {
    // Not 'networkidle': the live event stream keeps a request open for as long as the page lives.
    await page().goto(`${engine.url}${path}`);
  };

  beforeAll(async () => {
    assertTestGuestBuilt();
    platform = await startPlatform({
      prefix: 'vireo-web-',
      hostName: 'web-host',
      engineEnv: { VIREO_ISO_DIR: testGuest.dir },
      agentImageDirs: [testGuest.dir],
    });
    ({ engine } = platform);
    const serverCert = fs.readFileSync(join(engine.dataDir, 'pki', 'engine.pem'), 'utf8');
    b = await launchPortalBrowser({ serverCertPem: serverCert });
  }, 180_000);

  afterAll(async () => {
    await b?.close();
    // Best effort: never leave a QEMU behind, whatever failed above.
    if (vmId) await killQemusOf([vmId]);
    await platform?.stop();
  });

  it('serves the portal with a strict CSP, and a deep link needs a login that returns to it', async () => {
    const res = await fetch(`${engine.url}/vms`, {
      dispatcher: (platform as Platform).api.dispatcher,
      headers: { 'accept-encoding': 'br' },
    });
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');

    await go('/hosts');
    await page().waitForURL(/\/login\?next=%2Fhosts$/, { timeout: UI_TIMEOUT });
    await page().fill('#password', 'not-the-password');
    await page().click('button[type=submit]');
    await page().getByText('Wrong username or password.').waitFor({ timeout: UI_TIMEOUT });
    await b!.screenshot('login');
    await page().fill('#password', engine.adminPassword!);
    await page().click('button[type=submit]');
    await page().waitForURL(/\/hosts$/, { timeout: UI_TIMEOUT });
    await page().getByRole('link', { name: 'web-host' }).waitFor({ timeout: UI_TIMEOUT });
    await page().locator('[data-testid="live-status"]', { hasText: 'Live' }).waitFor({ timeout: UI_TIMEOUT });
    await b!.screenshot('hosts');
  }, 60_000);

  it('creates a VM in the wizard (showing the API’s field error first), starts it, shows its serial and VNC consoles, powers it off and deletes it', async () => {
    await go('/vms');
    await page().click('#create-vm');
    await page().waitForURL(/\/vms\/new$/);
    await page().fill('#vm-name', 'web-e2e');
    // Below the engine's minimum: the engine's message must appear next to the memory field.
    await page().fill('#vm-memory', '8');
    await page().getByRole('button', { name: 'Next' }).click();
    // Disks: none (the guest boots from its ISO).
    await page().getByRole('button', { name: 'Remove' }).click();
    await page().getByRole('button', { name: 'Next' }).click();
    await page().getByRole('button', { name: 'Next' }).click();
    await page().fill('#vm-cdrom', 'test-guest.iso');
    await page().selectOption('#vm-boot', 'cdrom');
    await page().getByRole('button', { name: 'Next' }).click();
    await page().getByRole('button', { name: 'Create', exact: true }).click();
    const fixIt = page().getByRole('button', { name: 'Go to the field' });
    await fixIt.waitFor({ timeout: UI_TIMEOUT });
    await fixIt.click();
    const memoryError = page()
      .locator('#vm-memory')
      .locator('xpath=ancestor::div[contains(@class,"pf-v6-c-form__group")]')
      .getByTestId('field-error');
    await memoryError.waitFor({ timeout: UI_TIMEOUT });
    expect(await memoryError.textContent()).toMatch(/16/);
    await b!.screenshot('vm-wizard-field-error');
    await page().fill('#vm-memory', '256');
    await page().getByRole('button', { name: 'Review' }).click();
    await page().getByRole('button', { name: 'Create', exact: true }).click();
    await page().waitForURL(/\/vms\/[0-9a-f-]{36}$/, { timeout: UI_TIMEOUT });
    vmId = /\/vms\/([0-9a-f-]{36})$/.exec(page().url())![1]!;
    const vm = (await call('GET', `/vms/${vmId}`)).json;
    expect(vm).toMatchObject({
      name: 'web-e2e',
      memory_mib: 256,
      cdrom: { image: 'test-guest.iso' },
      disks: [],
    });

    // The serial console, opened in a second tab before the start: it waits for the VM to run
    // (live, from the event stream) and connects at once, so it sees the guest boot from the start.
    const serialTab = await b!.context.newPage();
    await serialTab.goto(`${engine.url}/vms/${vmId}/serial`);
    // Start: the state label turns "Up" from the event stream, without a reload.
    await page().bringToFront();
    await page().click('#vm-start');
    await page().locator('[data-state="up"]').first().waitFor({ timeout: 90_000 });
    expect(await qemuPidsFor(vmId)).toHaveLength(1);
    await b!.screenshot('vm-detail');

    // Serial console (xterm.js through the engine's ticketed WebSocket): the guest's boot marker.
    await serialTab.bringToFront();
    const screen = serialTab.getByTestId('serial-screen').locator('.xterm-rows');
    await expect
      .poll(async () => (await screen.textContent()) ?? '', { timeout: 120_000, interval: 500 })
      .toContain(testGuest.marker);
    // Keys reach the guest's shell and its answer comes back.
    await serialTab.getByTestId('serial-screen').click();
    await serialTab.keyboard.type('echo web-console-$((6*7))\n');
    await expect
      .poll(async () => (await screen.textContent()) ?? '', { timeout: UI_TIMEOUT, interval: 300 })
      .toContain('web-console-42');
    await serialTab.screenshot({ path: join(ARTIFACTS, 'vm-serial-console.png') });
    await serialTab.close();
    // The VM page links to both consoles.
    expect(await page().locator('#vm-serial').getAttribute('href')).toBe(`/vms/${vmId}/serial`);
    expect(await page().locator('#vm-console').getAttribute('href')).toBe(`/vms/${vmId}/console`);

    // VNC console (noVNC): the canvas shows the guest's screen, not a blank area.
    await go(`/vms/${vmId}/console`);
    const canvas = page().getByTestId('vnc-screen').locator('canvas').first();
    await canvas.waitFor({ timeout: UI_TIMEOUT });
    await expect
      .poll(
        () =>
          canvas.evaluate((c: CanvasLike) => {
            if (c.width === 0 || c.height === 0) return 0;
            const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
            const colors = new Set<number>();
            for (let i = 0; i < data.length; i += 16) {
              colors.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
              if (colors.size > 1) break;
            }
            return colors.size;
          }),
        { timeout: 60_000, interval: 500 },
      )
      .toBeGreaterThan(1);
    await b!.screenshot('vm-vnc-console');

    // Power off (asks first), then delete (asks first): gone from the list, QEMU gone.
    await go(`/vms/${vmId}`);
    await page().click('#vm-stop');
    await page().click('#confirm-action');
    await page().locator('[data-state="down"]').first().waitFor({ timeout: 60_000 });
    await until('QEMU gone', async () => (await qemuPidsFor(vmId!)).length === 0, 20_000);
    await page().click('#vm-delete');
    await page().click('#confirm-action');
    await page().waitForURL(/\/vms$/, { timeout: UI_TIMEOUT });
    await until('the VM deleted', async () => (await call('GET', `/vms/${vmId}`)).status === 404, 30_000);
    await page()
      .locator('[data-testid="row"][data-name="web-e2e"]')
      .waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    await b!.screenshot('vms');
    await go('/events');
    await page().getByTestId('event').first().waitFor({ timeout: UI_TIMEOUT });
    await b!.screenshot('events');
    expect(b!.dialogs).toEqual([]);
  }, 300_000);

  it('shows markup typed by a user as text: no element, no script, no dialog', async () => {
    // VM and data center names only allow letters, digits and ".-_", so the markup goes into a
    // data center's description, a free-text field shown in the list.
    await go('/datacenters');
    await page().click('#create-datacenter');
    await page().fill('#field-name', 'xss-dc');
    await page().fill('#field-description', XSS);
    await page().click('#form-submit');
    const cell = page().locator('[data-testid="row"][data-name="xss-dc"]').getByTestId('description');
    await cell.waitFor({ timeout: UI_TIMEOUT });
    expect(await cell.textContent()).toBe(XSS);
    expect(await page().locator('img[src="x"]').count()).toBe(0);
    await b!.screenshot('datacenters');
    await go('/events');
    await page().getByTestId('event').first().waitFor({ timeout: UI_TIMEOUT });
    expect(b!.dialogs).toEqual([]);
    // No script was ever refused by the CSP (a refused script would mean something tried to inject one).
    expect(b!.cspViolations.filter((v) => v.startsWith('script-src'))).toEqual([]);
  }, 60_000);

  it('switches to Simplified Chinese (navigation, dates) and remembers it across a reload', async () => {
    await go('/clusters');
    await page().click('#lang-zh-CN');
    const nav = page().getByRole('navigation');
    await nav.getByRole('link', { name: '虚拟机', exact: true }).waitFor({ timeout: UI_TIMEOUT });
    for (const text of ['数据中心', '集群', '主机', '事件', '仪表板']) {
      expect(await nav.getByText(text, { exact: true }).count(), text).toBeGreaterThan(0);
    }
    await page().reload();
    await nav.getByRole('link', { name: '虚拟机', exact: true }).waitFor({ timeout: UI_TIMEOUT });
    expect(await page().locator('html').getAttribute('lang')).toBe('zh-CN');
    // Dates in Chinese style (年 … 月 … 日) in the clusters list, once its rows are there.
    await page().getByTestId('row').first().waitFor({ timeout: UI_TIMEOUT });
    expect(await page().getByTestId('clusters-table').textContent()).toMatch(/\d{4}年\d{1,2}月\d{1,2}日/);
    await b!.screenshot('clusters-zh-CN');
    await go('/dashboard');
    await page().waitForTimeout(500);
    await b!.screenshot('dashboard-zh-CN');
    await page().click('#lang-en');
    await nav.getByRole('link', { name: 'Virtual machines', exact: true }).waitFor({ timeout: UI_TIMEOUT });
    for (const path of ['dashboard', 'storage/domains', 'storage/disks']) {
      await go(`/${path}`);
      await page().waitForTimeout(500);
      await b!.screenshot(path.replace('/', '-'));
    }
  }, 90_000);
});
