import fs from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killQemusOf, qemuPidsFor } from '../../packages/agent/test/support/guest';
import { launchPortalBrowser, type PortalBrowser } from '../support/browser';
import type { EngineProcess } from '../support/engine';
import { type Platform, startPlatform, until } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

/** Generous: two cores shared with QEMU (TCG), PostgreSQL and the browser. */
const UI_TIMEOUT = 45_000;

/**
 * A VM's life through the portal only, in headless Chromium against the real engine, agent and
 * QEMU (TCG): the wizard with a disk on a chosen data domain and the test ISO picked from an ISO
 * domain, start, a live snapshot taken and deleted (live merge) in the Snapshots tab, a template
 * made from the stopped VM, a thin clone from that template, and the template's delete refused
 * naming the clone. The REST API only sets up the domains and checks outcomes.
 */
describe('portal: VM lifecycle with snapshots and templates (Chromium + engine + agent + QEMU)', () => {
  let platform: Platform | undefined;
  let engine: EngineProcess;
  let b: PortalBrowser | undefined;
  const vmIds: string[] = [];
  let dataId = '';
  let isoId = '';
  const call = (method: string, p: string, body?: unknown) =>
    (platform as Platform).api.call(method, p, body);
  const page = (): Page => b!.page;
  const go = (path: string) => page().goto(`${engine.url}${path}`);
  const shot = (name: string) => b!.screenshot(`vm-lifecycle-${name}`);
  const idInUrl = (prefix: string) =>
    new RegExp(`/${prefix}/([0-9a-f-]{36})(\\?.*)?$`).exec(page().url())?.[1];

  beforeAll(async () => {
    assertTestGuestBuilt();
    platform = await startPlatform({ prefix: 'vireo-web-life-', hostName: 'life-host' });
    ({ engine } = platform);
    dataId = (await platform.addLocalDataDomain('life-data')).id;
    // An ISO domain (posix: an existing directory) in the Default data center with the test ISO.
    const isoParent = join(platform.dir, 'isos');
    fs.mkdirSync(isoParent);
    const iso = await call('POST', '/storage-domains', {
      name: 'life-iso',
      kind: 'iso',
      backend: 'posix',
      path: isoParent,
    });
    if (iso.status !== 201) throw new Error(`iso domain: ${iso.status} ${JSON.stringify(iso.json)}`);
    isoId = iso.json.id;
    const dc = platform.cluster.datacenter_id;
    await platform.api.settled(await call('POST', `/storage-domains/${isoId}/attach`, { datacenter_id: dc }));
    await platform.api.settled(await call('POST', `/storage-domains/${isoId}/activate`, {}));
    fs.copyFileSync(testGuest.iso, join(isoParent, isoId, 'images', 'iso', 'test-guest.iso'));
    const serverCert = fs.readFileSync(join(engine.dataDir, 'pki', 'engine.pem'), 'utf8');
    b = await launchPortalBrowser({ serverCertPem: serverCert });
  }, 240_000);

  afterAll(async () => {
    await b?.close();
    // Best effort: never leave a QEMU behind, whatever failed above.
    await killQemusOf(vmIds);
    await platform?.stop();
  });

  it('creates, snapshots, templates and clones a VM through the pages', async () => {
    // Log in on the way to the wizard.
    await go('/vms/new');
    await page().waitForURL(/\/login\?next=/, { timeout: UI_TIMEOUT });
    await page().fill('#password', engine.adminPassword!);
    await page().click('button[type=submit]');
    await page().waitForURL(/\/vms\/new$/, { timeout: UI_TIMEOUT });

    // Wizard: general → one 1 GiB disk on life-data → one user-mode NIC → the ISO from life-iso.
    await page().fill('#vm-name', 'life-1');
    await page().fill('#vm-memory', '256');
    await page().getByRole('button', { name: 'Next' }).click();
    await page().fill('#disk-0-size', '1');
    await page()
      .locator(`#disk-0-domain option[value="${dataId}"]`)
      .waitFor({ state: 'attached', timeout: UI_TIMEOUT });
    await page().selectOption('#disk-0-domain', dataId);
    await page().getByRole('button', { name: 'Next' }).click();
    await page().getByTestId('nic-row').first().waitFor({ timeout: UI_TIMEOUT });
    await page().getByRole('button', { name: 'Next' }).click();
    await page()
      .locator(`#vm-iso-domain option[value="${isoId}"]`)
      .waitFor({ state: 'attached', timeout: UI_TIMEOUT });
    await page().selectOption('#vm-iso-domain', isoId);
    // The picker lists the domain's files as the agent reports them.
    await page()
      .locator('#vm-iso-file option[value="test-guest.iso"]')
      .waitFor({ state: 'attached', timeout: UI_TIMEOUT });
    await page().selectOption('#vm-iso-file', 'test-guest.iso');
    await page().selectOption('#vm-boot', 'cdrom,disk');
    await shot('wizard-iso');
    await page().getByRole('button', { name: 'Next' }).click();
    await page().getByRole('button', { name: 'Create', exact: true }).click();
    await page().waitForURL(/\/vms\/[0-9a-f-]{36}$/, { timeout: UI_TIMEOUT });
    const vmId = idInUrl('vms')!;
    vmIds.push(vmId);
    const vm = (await call('GET', `/vms/${vmId}`)).json;
    expect(vm).toMatchObject({
      name: 'life-1',
      memory_mib: 256,
      cdrom: { storage_domain_id: isoId, file: 'test-guest.iso' },
      boot_order: ['cdrom', 'disk'],
      nics: [{ type: 'user' }],
    });
    expect(vm.disks).toEqual([expect.objectContaining({ size_gib: 1, storage_domain_id: dataId })]);

    // Start; the header's state label turns Up from the event stream.
    await page().click('#vm-start');
    await page().locator('[data-state="up"]').first().waitFor({ timeout: 120_000 });
    expect(await qemuPidsFor(vmId)).toHaveLength(1);

    // Snapshots tab: take a live snapshot, then delete it (a live merge), each confirmed by the engine.
    await page().getByRole('tab', { name: 'Snapshots' }).click();
    await page().click('#snapshot-create');
    await page().fill('#snapshot-description', 'before <upgrade>');
    await page().click('#snapshot-create-submit');
    const row = page().getByTestId('snapshot-row').filter({ hasText: 'before <upgrade>' });
    await row.and(page().locator('[data-state="ok"]')).waitFor({ timeout: 120_000 });
    await shot('snapshot-taken');
    const snaps = (await call('GET', `/vms/${vmId}/snapshots`)).json.items;
    expect(snaps).toEqual([
      expect.objectContaining({ description: 'before <upgrade>', memory: false, state: 'ok' }),
    ]);
    await row.locator('[data-action="delete"]').click();
    await page().click('#confirm-action');
    await row.waitFor({ state: 'detached', timeout: 120_000 });
    await page()
      .locator('[data-testid="operation-state"][data-state="succeeded"]')
      .waitFor({ timeout: UI_TIMEOUT });
    expect((await call('GET', `/vms/${vmId}/snapshots`)).json.items).toEqual([]);
    await shot('snapshot-deleted');

    // Power off (asks first); "Make template" is offered once the VM is down.
    await page().click('#vm-stop');
    await page().click('#confirm-action');
    await until('QEMU gone', async () => (await qemuPidsFor(vmId)).length === 0, 60_000);
    await page().locator('#vm-make-template:not([disabled])').waitFor({ timeout: UI_TIMEOUT });
    await page().click('#vm-make-template');
    await page().fill('#field-name', 'life-tpl');
    await page().click('#form-submit');
    await page().waitForURL(/\/templates\/[0-9a-f-]{36}$/, { timeout: UI_TIMEOUT });
    const templateId = idInUrl('templates')!;
    await page()
      .locator('[data-testid="object-name"]', { hasText: 'life-tpl' })
      .waitFor({ timeout: UI_TIMEOUT });
    // Locked while the disk is copied, then OK (live from the event stream).
    await page().locator('[data-state="ok"]').first().waitFor({ timeout: 120_000 });
    expect(await page().locator('#template-new-vm').getAttribute('aria-disabled')).not.toBe('true');
    expect((await call('GET', `/templates/${templateId}`)).json).toMatchObject({
      state: 'ok',
      created_from_vm_id: vmId,
    });
    await shot('template');

    // New VM from the template: the wizard opens on it; a thin clone needs only a name.
    await page().click('#template-new-vm');
    await page().waitForURL(/\/vms\/new\?template=/, { timeout: UI_TIMEOUT });
    // Chosen once the template list arrives (the select shows it when its option exists).
    await page()
      .locator(`#vm-template option[value="${templateId}"]`)
      .waitFor({ state: 'attached', timeout: UI_TIMEOUT });
    expect(await page().locator('#vm-template').inputValue()).toBe(templateId);
    expect(await page().locator('#vm-clone-thin').isChecked()).toBe(true);
    await page().fill('#vm-name', 'life-clone');
    await page().getByRole('button', { name: 'Next' }).click();
    await page().getByRole('button', { name: 'Create', exact: true }).click();
    await page().waitForURL(/\/vms\/[0-9a-f-]{36}$/, { timeout: UI_TIMEOUT });
    const cloneId = idInUrl('vms')!;
    vmIds.push(cloneId);
    const clone = (await call('GET', `/vms/${cloneId}`)).json;
    expect(clone).toMatchObject({ name: 'life-clone', memory_mib: 256, cluster_id: platform!.cluster.id });
    expect(clone.disks).toHaveLength(1);
    await until(
      'the clone disk ready',
      async () => (await call('GET', `/disks/${clone.disks[0].id}`)).json.state === 'ok',
      120_000,
    );
    await shot('clone');

    // The template cannot go while the thin clone rests on it: the page names the clone.
    await go(`/templates/${templateId}`);
    await page().click('#template-delete');
    await page().click('#confirm-action');
    const inUse = page().getByTestId('template-in-use');
    await inUse.waitFor({ timeout: UI_TIMEOUT });
    expect(await inUse.getByRole('link', { name: 'life-clone' }).getAttribute('href')).toBe(
      `/vms/${cloneId}`,
    );
    await shot('template-in-use');
    expect((await call('GET', `/templates/${templateId}`)).status).toBe(200);
    expect(b!.dialogs).toEqual([]);
  }, 600_000);
});
