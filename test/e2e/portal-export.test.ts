import fs from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchPortalBrowser, type PortalBrowser } from '../support/browser';
import { type Json, type Platform, startPlatform, until } from '../support/platform';

/** Generous: two cores shared with everything else. */
const UI_TIMEOUT = 30_000;

/**
 * Export and import through the portal in headless Chromium against the real engine binary and a
 * real agent: a small VM with a 64 MiB disk (never booted) exported to a local export domain from
 * its page, seen in the export domain's Exports tab, imported with rename on the name clash and new ids, and opened. The
 * REST API only sets up and checks outcomes.
 */
describe('portal export and import (Chromium + engine + agent)', () => {
  let platform: Platform | undefined;
  let b: PortalBrowser | undefined;
  const exp = { id: '' };
  let dataId = '';
  let vmId = '';
  const call = (method: string, p: string, body?: unknown) =>
    (platform as Platform).api.call(method, p, body);
  const page = (): Page => b!.page;
  const go = (path: string) => page().goto(`${platform!.engine.url}${path}`);

  /** Waits for the dialog's operation to end (through the API, so a failure shows its error), then its bar. */
  const dialogOperationSucceeded = async () => {
    const bar = page().locator('[data-testid="dialog-operation"] [data-operation-id]');
    await bar.waitFor({ timeout: UI_TIMEOUT });
    const opId = await bar.getAttribute('data-operation-id');
    let op: Json = {};
    await until(
      'the dialog operation ended',
      async () => {
        op = (await call('GET', `/operations/${opId}`)).json;
        return ['succeeded', 'failed', 'cancelled'].includes(op.state);
      },
      240_000,
    );
    expect(op.state, JSON.stringify(op.error ?? op)).toBe('succeeded');
    await page()
      .locator('[data-testid="dialog-operation"] [data-state="succeeded"]')
      .waitFor({ timeout: UI_TIMEOUT });
  };

  beforeAll(async () => {
    platform = await startPlatform({
      prefix: 'vireo-web-export-',
      hostName: 'export-host',
      engineEnv: process.env.VIREO_WEB_ROOT ? { VIREO_WEB_ROOT: process.env.VIREO_WEB_ROOT } : {},
    });
    dataId = (await platform.addLocalDataDomain('data-exp')).id;
    exp.id = (await platform.addLocalDomain('exports', 'export')).id;
    const vm = await call('POST', '/vms', {
      name: 'vm-exp',
      cluster_id: platform.cluster.id,
      cpus: 1,
      memory_mib: 256,
      nics: [{ type: 'user' }],
      boot_order: ['network'],
    });
    if (vm.status !== 201) throw new Error(`VM: ${vm.status} ${JSON.stringify(vm.json)}`);
    vmId = vm.json.id;
    // A small disk made on storage now (a VM's own new disks are created when it first starts).
    const disk = await call('POST', '/disks', {
      name: 'vm-exp-disk',
      storage_domain_id: dataId,
      size_bytes: 64 * 2 ** 20,
    });
    await platform.api.settled(disk);
    const plug = await call('POST', `/vms/${vmId}/disk-attachments`, {
      disk_id: disk.json.disk.id,
      bootable: true,
    });
    if (plug.status !== 201) throw new Error(`attach: ${plug.status} ${JSON.stringify(plug.json)}`);
    const serverCert = fs.readFileSync(join(platform.engine.dataDir, 'pki', 'engine.pem'), 'utf8');
    b = await launchPortalBrowser({ serverCertPem: serverCert });
    await go(`/vms/${vmId}`);
    await page().waitForURL(/\/login/, { timeout: UI_TIMEOUT });
    await page().fill('#password', platform.engine.adminPassword!);
    await page().click('button[type=submit]');
    await page().waitForURL(/\/vms\/[0-9a-f-]{36}$/, { timeout: UI_TIMEOUT });
  }, 240_000);

  afterAll(async () => {
    await b?.close();
    await platform?.stop();
  });

  it('exports a VM from its page, lists it in the Exports tab, imports it renamed on the name clash with new ids and opens the new VM', async () => {
    await page().click('#vm-export');
    await page().locator('#export-domain').waitFor({ timeout: UI_TIMEOUT });
    await until(
      'the export domain offered',
      async () => (await page().inputValue('#export-domain')) === exp.id,
    );
    await page().click('#export-submit');
    await page().getByTestId('dialog-operation').waitFor({ timeout: UI_TIMEOUT });
    await dialogOperationSucceeded();
    await b!.screenshot('export-dialog-done');
    await page().click('#export-close');

    await go(`/storage/domains/${exp.id}`);
    await page().getByRole('tab', { name: 'Exports' }).click();
    const row = page().locator('[data-testid="export-row"][data-name="vm-exp"]');
    await row.waitFor({ timeout: 60_000 });
    expect(await row.getAttribute('data-origin')).toBe('vireo');
    await b!.screenshot('exports-tab');

    await row.getByTestId('export-import').click();
    await until(
      'a target data domain offered',
      async () => (await page().inputValue('#export-import-target')) === dataId,
    );
    expect(await page().inputValue('#export-import-name')).toBe('vm-exp');
    // The exported VM still exists here under its name and ids: the engine refuses, the dialog says why.
    await page().click('#export-import-submit');
    await page()
      .getByTestId('field-error')
      .filter({ hasText: /(id|name)_in_use: / })
      .first()
      .waitFor({ timeout: UI_TIMEOUT });
    await b!.screenshot('import-clash');
    await page().check('#export-import-rename');
    await page().check('#export-import-new-ids');
    await page().click('#export-import-submit');
    const link = page().locator('#export-import-result');
    await link.waitFor({ timeout: UI_TIMEOUT });
    await dialogOperationSucceeded();
    await b!.screenshot('import-done');
    await link.click();
    await page().getByTestId('vm-name').filter({ hasText: 'vm-exp-1' }).waitFor({ timeout: UI_TIMEOUT });
    const vms = (await call('GET', '/vms')).json.items as Json[];
    const copy = vms.find((v) => v.name === 'vm-exp-1');
    expect(copy).toBeDefined();
    expect(copy!.id).not.toBe(vmId);
    expect(page().url()).toContain(`/vms/${copy!.id}`);
  }, 480_000);
});
