import fs from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killQemusOf } from '../../packages/agent/test/support/guest';
import type { EngineProcess } from '../support/engine';
import { type Json, type Platform, startPlatform, until } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');

/**
 * The portal's live parts against the real thing: an engine (embedded PostgreSQL, HTTPS, the built
 * portal), an agent sampling stats every second, QEMU (TCG) booting the test guest's ISO, and
 * headless Debian Chromium. It checks that the engine's stats history fills from the agent, that the
 * VM's graphs draw, that the serial console (xterm.js) carries keys and shows the guest's boot
 * marker, and that the VNC console (noVNC) draws the guest's screen and its Ctrl+Alt+Del reaches the
 * guest (whose init powers off on it). One guest serves every case.
 */
describe('web consoles and graphs (engine + agent + QEMU + Chromium)', () => {
  let platform: Platform | undefined;
  let engine: EngineProcess;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let dir: string;
  let hostId: string;
  let vmId: string | undefined;
  const call = (method: string, p: string, body?: unknown) =>
    (platform as Platform).api.call(method, p, body);
  const shot = (name: string) =>
    page.screenshot({ path: join(ARTIFACTS, `web-${name}.png`), fullPage: true });

  beforeAll(async () => {
    assertTestGuestBuilt();
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    platform = await startPlatform({
      prefix: 'vireo-webc-',
      hostName: 'web-host',
      engineEnv: { VIREO_ISO_DIR: testGuest.dir },
      agentArgs: ['--stats-interval', '1'],
      agentImageDirs: [testGuest.dir],
    });
    ({ engine, dir, hostId } = platform);
    const clusterId = platform.cluster.id as string;

    const created = await call('POST', '/vms', {
      name: 'web-console-vm',
      cluster_id: clusterId,
      cpus: 1,
      memory_mib: 256,
      boot_order: ['cdrom'],
      cdrom: { image: 'test-guest.iso' },
      nics: [{ type: 'user' }],
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    vmId = created.json.id;
    const start = await call('POST', `/vms/${vmId}/start`);
    expect(start.status, JSON.stringify(start.json)).toBe(202);
    const op = await call('GET', `/operations/${start.json.operation.id}?wait=60`);
    expect(op.json.state, JSON.stringify(op.json.error)).toBe('succeeded');
    const serialLog = join(dir, 'vms', vmId!, 'serial.log');
    await until('the boot marker in the serial log', async () =>
      fs.existsSync(serialLog) ? fs.readFileSync(serialLog, 'utf8').includes(testGuest.marker) : false,
    );

    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      // CI runs as root, where Chromium's sandbox cannot start.
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    });
    // The engine's certificate comes from its own CA, which this throwaway profile does not know.
    context = await browser.newContext({
      ignoreHTTPSErrors: true,
      locale: 'en-US',
      viewport: { width: 1280, height: 900 },
    });
    page = await context.newPage();
    await page.goto(`${engine.url}/login`);
    await page.fill('#username', 'admin@internal');
    await page.fill('#password', engine.adminPassword ?? '');
    await page.click('button[type=submit]');
    await page.waitForURL(/\/dashboard$/, { timeout: 30_000 });
  }, 180_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    if (vmId) await killQemusOf([vmId]);
    await platform?.stop();
  });

  it('keeps a stats history of the host and the VM from the agent, and the dashboard counts them', async () => {
    const vmSample = await until('a VM sample with CPU and memory', async () => {
      const samples = (await call('GET', `/vms/${vmId}/stats/history`)).json.samples as Json[];
      return samples.find((s) => s.cpu_percent !== null && s.memory_used_bytes > 0);
    });
    expect(vmSample.cpu_percent).toBeGreaterThanOrEqual(0);
    expect(vmSample.cpu_percent).toBeLessThanOrEqual(100);
    expect(vmSample.memory_total_bytes).toBe(256 * 1024 * 1024);
    // The host's own I/O: rates from its NIC and disk counters, from the second sample on.
    const hostSample = await until('a host sample with I/O rates', async () => {
      const samples = (await call('GET', `/hosts/${hostId}/stats/history`)).json.samples as Json[];
      return samples.find((s) => s.net_rx_bps !== null && s.disk_read_bps !== null);
    });
    expect(hostSample).toMatchObject({
      cpu_percent: expect.any(Number),
      memory_total_bytes: expect.any(Number),
    });

    const vms = page.getByTestId('inventory-nav.vms');
    await expect.poll(() => vms.getByTestId('inventory-total').textContent(), { timeout: 30_000 }).toBe('1');
    await expect
      .poll(() => page.getByTestId('inventory-nav.hosts').locator('[data-state=up]').count())
      .toBe(1);
    await shot('dashboard');
  }, 90_000);

  it("draws the VM's and the host's graphs from the live stats streams", async () => {
    await page.goto(`${engine.url}/vms/${vmId}/monitoring`);
    await expect
      .poll(() => page.getByTestId('vm-monitoring').getByRole('heading', { level: 1 }).textContent(), {
        timeout: 30_000,
      })
      .toBe('Monitoring of web-console-vm');
    const cpu = page.getByTestId('graph-cpu');
    await cpu.locator('canvas').first().waitFor({ timeout: 30_000 });
    await expect
      .poll(() => page.getByTestId('graphs-status').textContent(), { timeout: 30_000 })
      .toBe('Live');
    // Memory is always measured for a running VM: its headline shows a size.
    await expect
      .poll(() => page.getByTestId('graph-memory').textContent(), { timeout: 30_000 })
      .toMatch(/Used \d+(\.\d)? MB/);
    await shot('vm-monitoring');

    // A host's graphs include its own network and disk I/O.
    await page.goto(`${engine.url}/hosts/${hostId}/monitoring`);
    await page.getByTestId('graph-network').locator('canvas').first().waitFor({ timeout: 30_000 });
    await page.getByTestId('graph-disk').locator('canvas').first().waitFor({ timeout: 30_000 });
    await shot('host-monitoring');
  }, 120_000);

  it('serial console: keys reach the guest, and the boot marker shows after a reboot', async () => {
    await page.goto(`${engine.url}/vms/${vmId}/serial`);
    const status = page.getByTestId('serial-status');
    await expect.poll(() => status.getAttribute('data-status'), { timeout: 30_000 }).toBe('connected');
    const rows = page.locator('[data-testid=serial-screen] .xterm-rows');
    await page.getByTestId('serial-screen').click();
    await page.keyboard.type('echo web-$((6*7))\n');
    await expect.poll(() => rows.textContent(), { timeout: 30_000 }).toContain('web-42');
    await page.keyboard.type('reboot -f\n');
    await expect.poll(() => rows.textContent(), { timeout: 90_000 }).toContain(testGuest.marker);
    await shot('serial-console');
  }, 150_000);

  it('VNC console: the screen is drawn, and Ctrl+Alt+Del reaches the guest', async () => {
    await page.goto(`${engine.url}/vms/${vmId}/console`);
    const status = page.getByTestId('vnc-status');
    await expect.poll(() => status.getAttribute('data-status'), { timeout: 30_000 }).toBe('connected');
    // Not blank: the guest's text screen has more than one colour.
    await expect
      .poll(
        () =>
          // Runs in the page (a string, as this file is type-checked without the DOM library).
          page.evaluate(`(() => {
            const canvas = document.querySelector('[data-testid=vnc-screen] canvas');
            if (!canvas || canvas.width === 0 || canvas.height === 0) return 0;
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            const colours = new Set();
            for (let i = 0; i < data.length && colours.size < 16; i += 4) {
              colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
            }
            return colours.size;
          })()`) as Promise<number>,
        { timeout: 60_000 },
      )
      .toBeGreaterThan(1);
    await shot('vnc-console');
    // The test guest's init powers off on Ctrl+Alt+Del, so the VM going down proves the keys arrived.
    await page.getByTestId('vnc-ctrl-alt-del').click();
    await until(
      'the VM down after Ctrl+Alt+Del',
      async () => (await call('GET', `/vms/${vmId}`)).json.state === 'down',
      60_000,
    );
  }, 150_000);
});
