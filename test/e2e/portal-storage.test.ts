import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchPortalBrowser, type PortalBrowser } from '../support/browser';
import { type Json, type Platform, startPlatform, until } from '../support/platform';

/** Generous: two cores shared with everything else. */
const UI_TIMEOUT = 30_000;

/**
 * The portal's storage screens end to end in headless Chromium against the real engine binary and
 * a real agent: a local ISO domain created, attached and activated through the pages, an ISO
 * uploaded from the browser (a non-ISO file refused with the host's code first), and a disk
 * created, extended and deleted on a data domain. The REST API only checks outcomes.
 */
describe('portal storage screens (Chromium + engine + agent)', () => {
  let platform: Platform | undefined;
  let b: PortalBrowser | undefined;
  let files: string;
  const call = (method: string, p: string, body?: unknown) =>
    (platform as Platform).api.call(method, p, body);
  const page = (): Page => b!.page;
  const go = (path: string) => page().goto(`${platform!.engine.url}${path}`);
  const row = (name: string): Locator => page().locator(`[data-testid="row"][data-name="${name}"]`);
  const rowAction = async (name: string, action: string) => {
    await row(name).getByRole('button', { name: 'Kebab toggle' }).click();
    await page().getByRole('menuitem', { name: action, exact: true }).click();
  };
  const stateOf = (name: string, state: string) => row(name).locator(`[data-state="${state}"]`);

  beforeAll(async () => {
    platform = await startPlatform({
      prefix: 'vireo-web-storage-',
      hostName: 'storage-host',
      // A portal built elsewhere (a private build while others rebuild packages/web/dist).
      engineEnv: process.env.VIREO_WEB_ROOT ? { VIREO_WEB_ROOT: process.env.VIREO_WEB_ROOT } : {},
    });
    await platform.addLocalDataDomain('data-e2e');
    await platform.addLocalDataDomain('data-e2e-2');
    // A VM that stays down: only a target for attaching the disk (no QEMU runs in this file).
    const vm = await platform.api.call('POST', '/vms', {
      name: 'vm-e2e',
      cluster_id: platform.cluster.id,
      cpus: 1,
      memory_mib: 256,
      nics: [{ type: 'user' }],
      boot_order: ['network'],
    });
    if (vm.status !== 201) throw new Error(`VM: ${vm.status} ${JSON.stringify(vm.json)}`);
    files = join(platform.dir, 'upload-files');
    fs.mkdirSync(join(files, 'content'), { recursive: true });
    fs.writeFileSync(join(files, 'content', 'hello.txt'), 'vireo storage e2e\n');
    const r = spawnSync(
      'xorriso',
      ['-as', 'mkisofs', '-quiet', '-V', 'E2E', '-o', join(files, 'small.iso'), join(files, 'content')],
      {
        encoding: 'utf8',
      },
    );
    if (r.status !== 0) throw new Error(`xorriso failed: ${r.stderr}`);
    // Named .iso, but no ISO 9660 volume descriptor: the host must refuse it.
    fs.writeFileSync(join(files, 'fake.iso'), Buffer.alloc(64 * 1024, 0x41));
    const serverCert = fs.readFileSync(join(platform.engine.dataDir, 'pki', 'engine.pem'), 'utf8');
    b = await launchPortalBrowser({ serverCertPem: serverCert });
    await go('/storage/domains');
    await page().waitForURL(/\/login/, { timeout: UI_TIMEOUT });
    await page().fill('#password', platform.engine.adminPassword!);
    await page().click('button[type=submit]');
    await page().waitForURL(/\/storage\/domains$/, { timeout: UI_TIMEOUT });
  }, 240_000);

  afterAll(async () => {
    await b?.close();
    await platform?.stop();
  });

  it('creates a local ISO domain (the engine’s field error first), attaches and activates it from the list', async () => {
    const parent = join(platform!.dir, 'iso-domain');
    fs.mkdirSync(parent);
    await row('data-e2e').waitFor({ timeout: UI_TIMEOUT });
    await page().click('#create-storage-domain');
    await page().fill('#sd-name', 'iso-e2e');
    await page().selectOption('#sd-kind', 'iso');
    await page().selectOption('#sd-backend', 'local');
    await page().selectOption('#sd-host-id', { label: 'storage-host' });
    await page().fill('#sd-path', 'not/absolute');
    await page().click('#sd-submit');
    const pathError = page()
      .locator('#sd-path')
      .locator('xpath=ancestor::div[contains(@class,"pf-v6-c-form__group")]')
      .getByTestId('field-error');
    await pathError.waitFor({ timeout: UI_TIMEOUT });
    await b!.screenshot('storage-domain-create-error');
    await page().fill('#sd-path', parent);
    await page().click('#sd-submit');
    await row('iso-e2e').waitFor({ timeout: UI_TIMEOUT });
    await stateOf('iso-e2e', 'unattached').waitFor({ timeout: UI_TIMEOUT });

    await rowAction('iso-e2e', 'Attach to data center');
    await page().click('#form-submit');
    await stateOf('iso-e2e', 'maintenance').waitFor({ timeout: 60_000 });
    await rowAction('iso-e2e', 'Activate');
    await stateOf('iso-e2e', 'active').waitFor({ timeout: 60_000 });
    const sd = (await call('GET', '/storage-domains?kind=iso')).json.items.find(
      (d: Json) => d.name === 'iso-e2e',
    );
    expect(sd).toMatchObject({ state: 'active', backend: 'local', host_id: platform!.hostId });
    expect(sd.datacenter_id).toBe(platform!.cluster.datacenter_id);
    expect(fs.existsSync(join(parent, sd.id, 'dom_md', 'metadata.json'))).toBe(true);
    await b!.screenshot('storage-domains');
  }, 180_000);

  it('uploads an ISO from the browser: a fake one is refused with the host’s code, a real one is listed', async () => {
    await page().getByRole('link', { name: 'iso-e2e', exact: true }).click();
    await page().waitForURL(/\/storage\/domains\/[0-9a-f-]{36}$/, { timeout: UI_TIMEOUT });
    const sdId = /\/storage\/domains\/([0-9a-f-]{36})$/.exec(page().url())![1]!;
    // The URL changes before the detail page has replaced the list (whose rows have capacity bars
    // too): wait for the detail page's own tab first.
    await page().getByRole('tab', { name: 'ISO images' }).waitFor({ timeout: UI_TIMEOUT });
    await page().getByTestId('capacity').waitFor({ timeout: 60_000 });
    await b!.screenshot('storage-domain-detail');
    await page().getByRole('tab', { name: 'ISO images' }).click();
    await page().getByTestId('iso-table').waitFor({ timeout: UI_TIMEOUT });

    await page().click('#upload-iso');
    await page().locator('input[type=file]').setInputFiles(join(files, 'fake.iso'));
    expect(await page().inputValue('#iso-name')).toBe('fake.iso');
    await page().click('#iso-upload-start');
    const refused = page().getByTestId('upload-error');
    await refused.waitFor({ timeout: 60_000 });
    const code = await refused.getAttribute('data-code');
    expect(code).toMatch(/^image_/);
    expect(await refused.textContent()).toContain(code!);
    await b!.screenshot('storage-iso-upload-refused');
    await page().click('#iso-upload-close');

    await page().click('#upload-iso');
    await page().locator('input[type=file]').setInputFiles(join(files, 'small.iso'));
    await page().fill('#iso-name', 'e2e-small.iso');
    await page().click('#iso-upload-start');
    await page().locator('[data-testid="upload-progress"][data-phase="done"]').waitFor({ timeout: 60_000 });
    await b!.screenshot('storage-iso-upload');
    await page().click('#iso-upload-close');
    await page()
      .locator('[data-testid="iso-row"][data-name="e2e-small.iso"]')
      .waitFor({ timeout: UI_TIMEOUT });
    expect(await page().locator('[data-testid="iso-row"][data-name="fake.iso"]').count()).toBe(0);
    await b!.screenshot('storage-domain-isos');

    // On the host: the uploaded bytes exactly, and nothing of the refused file.
    const isos = (await call('GET', `/storage-domains/${sdId}/isos`)).json.files.map((f: Json) => f.name);
    expect(isos).toEqual(['e2e-small.iso']);
    const stored = fs.readFileSync(join(platform!.dir, 'iso-domain', sdId, 'images', 'iso', 'e2e-small.iso'));
    expect(stored.equals(fs.readFileSync(join(files, 'small.iso')))).toBe(true);
  }, 180_000);

  it('creates a disk on a data domain, extends it, moves it to another domain, attaches it to a VM and deletes it', async () => {
    await go('/storage/disks');
    await page().click('#create-disk');
    await page().fill('#disk-name', 'disk-e2e');
    await page().selectOption('#disk-domain', { label: 'data-e2e' });
    await page().fill('#disk-size', '1');
    await page().click('#disk-submit');
    await stateOf('disk-e2e', 'ok').waitFor({ timeout: 60_000 });
    await row('disk-e2e')
      .getByTestId('disk-size')
      .filter({ hasText: /^1 GiB$/ })
      .waitFor({ timeout: UI_TIMEOUT });

    await rowAction('disk-e2e', 'Extend');
    await page().fill('#disk-new-size', '2');
    await page().click('#disk-extend-submit');
    await page()
      .getByTestId('dialog-operation')
      .locator('[data-testid="operation-progress"][data-state="succeeded"]')
      .waitFor({ timeout: 60_000 });
    await page().click('#disk-extend-close');
    await row('disk-e2e')
      .getByTestId('disk-size')
      .filter({ hasText: '2 GiB' })
      .waitFor({ timeout: UI_TIMEOUT });
    const disk = (await call('GET', '/disks')).json.items.find((d: Json) => d.name === 'disk-e2e');
    expect(disk.size_bytes).toBe(2 * 1024 ** 3);

    // Move: the dialog follows the operation to its end.
    await rowAction('disk-e2e', 'Move or copy');
    await page().selectOption('#disk-move-target', { label: 'data-e2e-2' });
    await page().click('#disk-move-submit');
    await page()
      .getByTestId('dialog-operation')
      .locator('[data-testid="operation-progress"][data-state="succeeded"]')
      .waitFor({ timeout: 90_000 })
      .catch(async (err: Error) => {
        // Say what the dialog and the engine show, so a failure here can be told apart.
        const dialog = await page()
          .getByRole('dialog')
          .textContent()
          .catch(() => '(no dialog)');
        const ops = (await call('GET', '/operations?limit=5')).json.items as Json[];
        const states = ops.map((o) => `${o.type} ${o.state} ${o.progress} ${o.error?.code ?? ''}`);
        throw new Error(`${err.message}\ndialog: ${dialog}\noperations: ${states.join('; ')}`);
      });
    await b!.screenshot('storage-disk-moved');
    await page().click('#disk-move-close');
    await row('disk-e2e').getByRole('link', { name: 'data-e2e-2' }).waitFor({ timeout: UI_TIMEOUT });
    const domains = (await call('GET', '/storage-domains?kind=data')).json.items as Json[];
    const moved = (await call('GET', `/disks/${disk.id}`)).json;
    expect(moved.storage_domain_id).toBe(domains.find((d) => d.name === 'data-e2e-2')!.id);
    expect(moved.size_bytes).toBe(2 * 1024 ** 3);

    await rowAction('disk-e2e', 'Attach to VM');
    await page().selectOption('#disk-attach-vm', { label: 'vm-e2e' });
    await page().selectOption('#disk-attach-interface', 'scsi');
    await page().click('#disk-attach-submit');
    await row('disk-e2e').getByRole('link', { name: 'vm-e2e' }).waitFor({ timeout: UI_TIMEOUT });
    const vm = (await call('GET', '/vms')).json.items.find((v: Json) => v.name === 'vm-e2e');
    const attachments = (await call('GET', `/vms/${vm.id}/disk-attachments`)).json.items as Json[];
    expect(attachments.map((a) => [a.disk_id, a.interface])).toEqual([[disk.id, 'scsi']]);
    await b!.screenshot('storage-disks');

    await rowAction('disk-e2e', 'Delete');
    await page().click('#confirm-action');
    await row('disk-e2e').waitFor({ state: 'detached', timeout: 60_000 });
    await until(
      'the disk deleted',
      async () => (await call('GET', `/disks/${disk.id}`)).status === 404,
      30_000,
    );
    expect(b!.dialogs).toEqual([]);
    expect(b!.cspViolations).toEqual([]);
  }, 240_000);

  it('puts the second data domain in maintenance, detaches and removes it (files stay), and imports it back', async () => {
    // The data domain the disk was moved to and then deleted from: empty now. (Not the ISO domain:
    // the engine refuses, with a 500, to forget a domain that image transfers went to.)
    const before = (await call('GET', '/storage-domains?kind=data')).json.items.find(
      (d: Json) => d.name === 'data-e2e-2',
    );
    await go('/storage/domains');
    await rowAction('data-e2e-2', 'Maintenance');
    await page().click('#confirm-action');
    await stateOf('data-e2e-2', 'maintenance').waitFor({ timeout: 60_000 });
    await rowAction('data-e2e-2', 'Detach');
    await page().click('#confirm-action');
    await stateOf('data-e2e-2', 'unattached').waitFor({ timeout: 60_000 });
    await rowAction('data-e2e-2', 'Remove (files stay on storage)');
    await page().click('#confirm-action');
    await row('data-e2e-2').waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    // addLocalDataDomain's directory: the domain's metadata is still there.
    const parent = join(platform!.dir, 'domain-data-e2e-2');
    expect(fs.existsSync(join(parent, before.id, 'dom_md', 'metadata.json'))).toBe(true);

    await page().click('#import-storage-domain');
    await page().selectOption('#sd-backend', 'local');
    await page().selectOption('#sd-host-id', { label: 'storage-host' });
    await page().fill('#sd-path', parent);
    await page().click('#sd-submit');
    const result = page().getByTestId('import-result');
    await result.waitFor({ timeout: 60_000 });
    expect(await result.textContent()).toContain('1 domain imported');
    expect(await result.textContent()).toContain('data-e2e-2');
    await b!.screenshot('storage-domain-imported');
    await page().getByRole('button', { name: 'Close', exact: true }).last().click();
    await stateOf('data-e2e-2', 'unattached').waitFor({ timeout: UI_TIMEOUT });
    const after = (await call('GET', '/storage-domains?kind=data')).json.items.find(
      (d: Json) => d.name === 'data-e2e-2',
    );
    expect(after.id).toBe(before.id);
    expect(b!.dialogs).toEqual([]);
  }, 180_000);
});
