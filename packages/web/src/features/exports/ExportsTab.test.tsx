// @vitest-environment jsdom
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import type { ExportEntry, StorageDomain } from '@vireo/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, renderInPortal } from '../../testing/portal';
import { ExportsTab } from './ExportsTab';

const EXPORT_DOMAIN = '11111111-1111-4111-8111-111111111111';
const DATA_DOMAIN = '22222222-2222-4222-8222-222222222222';
const CLUSTER = '33333333-3333-4333-8333-333333333333';
const VM = '44444444-4444-4444-8444-444444444444';
const NEW_VM = '55555555-5555-4555-8555-555555555555';
const FOREIGN = '66666666-6666-4666-8666-666666666666';

const domain = { id: EXPORT_DOMAIN, name: 'exp', kind: 'export', state: 'active' } as StorageDomain;
const entry = (over: Partial<ExportEntry>): ExportEntry => ({
  id: VM,
  kind: 'vm',
  name: 'web1',
  description: '',
  format: 'ovf',
  ova_name: null,
  origin: 'vireo',
  warnings: [],
  cpus: 1,
  memory_mib: 256,
  os_type: 'other',
  disks: [
    {
      disk_id: VM,
      volume_id: VM,
      name: 'd',
      size_bytes: 2 ** 30,
      format: 'qcow2',
      interface: 'virtio',
      bootable: true,
    },
  ],
  nic_count: 1,
  created_at: null,
  exported_at: '2026-11-25T01:00:00Z',
  ...over,
});
const LIST = {
  items: [
    entry({}),
    entry({
      id: FOREIGN,
      name: 'appliance',
      format: 'ova',
      ova_name: 'appliance',
      origin: 'foreign',
      warnings: ['usb controller skipped', 'nic model e1000e becomes virtio'],
    }),
  ],
  invalid: [],
};

type Call = { method: string; path: string; body: unknown };

/** The engine: the export list, clusters, data domains; `importAnswers` answer the import POSTs in turn. */
function stub(importAnswers: Response[]) {
  const calls: Call[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const path = new URL(url).pathname.replace('/api/v1', '');
      const method = init.method ?? 'GET';
      calls.push({ method, path, body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined });
      if (path === `/storage-domains/${EXPORT_DOMAIN}/exports`) return json(200, LIST);
      if (path === '/clusters') return json(200, { items: [{ id: CLUSTER, name: 'c1' }], total: 1 });
      if (path === '/storage-domains')
        return json(200, {
          items: [{ id: DATA_DOMAIN, name: 'data1', kind: 'data', state: 'active' }],
          total: 1,
        });
      if (method === 'POST' && path.endsWith('/import')) {
        const next = importAnswers.shift();
        if (next) return next;
      }
      return json(404, { error: { code: 'route_not_found', message: path } });
    }),
  );
  return calls;
}

const imports = (calls: Call[]) => calls.filter((c) => c.method === 'POST' && c.path.endsWith('/import'));
const input = (id: string) => document.getElementById(id) as HTMLInputElement;

async function openImport(name: string) {
  renderInPortal(<ExportsTab domain={domain} />);
  const rows = await screen.findAllByTestId('export-row');
  const row = rows.find((r) => r.dataset.name === name) as HTMLElement;
  fireEvent.click(within(row).getByTestId('export-import'));
  await waitFor(() => expect(input('export-import-cluster').value).toBe(CLUSTER));
  await waitFor(() => expect(input('export-import-target').value).toBe(DATA_DOMAIN));
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
});

describe('ExportsTab', () => {
  it('lists a Vireo and a foreign entry, labels the foreign one and expands its warnings', async () => {
    stub([]);
    renderInPortal(<ExportsTab domain={domain} />);
    const rows = await screen.findAllByTestId('export-row');
    expect(rows.map((r) => [r.dataset.name, r.dataset.origin])).toEqual([
      ['web1', 'vireo'],
      ['appliance', 'foreign'],
    ]);
    expect(within(rows[1] as HTMLElement).getByTestId('export-foreign').textContent).toBe('Foreign');
    expect(rows[1]?.textContent).toContain('2 warnings');
    expect(rows[1]?.textContent).toContain('OVA');
    fireEvent.click(within(rows[1] as HTMLElement).getByRole('button', { name: /details/i }));
    await waitFor(() =>
      expect(screen.getByTestId('export-warnings').textContent).toContain('usb controller skipped'),
    );
  });

  it('imports a foreign VM with a new name, rename on clash and a bridge, then links the new VM', async () => {
    const calls = stub([
      json(202, { operation: { id: 'op1', state: 'running' }, kind: 'vm', id: NEW_VM, name: 'app2' }),
    ]);
    await openImport('appliance');
    expect(input('export-import-name').value).toBe('appliance');
    fireEvent.change(input('export-import-name'), { target: { value: 'app2' } });
    fireEvent.click(input('export-import-rename'));
    fireEvent.change(input('export-import-bridge'), { target: { value: 'br0' } });
    fireEvent.click(document.getElementById('export-import-submit') as HTMLElement);
    await waitFor(() =>
      expect(document.getElementById('export-import-result')?.getAttribute('href')).toBe(`/vms/${NEW_VM}`),
    );
    expect(imports(calls)).toEqual([
      {
        method: 'POST',
        path: `/storage-domains/${EXPORT_DOMAIN}/exports/${FOREIGN}/import`,
        body: {
          cluster_id: CLUSTER,
          storage_domain_id: DATA_DOMAIN,
          name: 'app2',
          on_clash: 'rename',
          bridge: 'br0',
        },
      },
    ]);
  });

  it('shows the engine id_in_use message under new ids, then sends new_ids when checked', async () => {
    const calls = stub([
      json(409, { error: { code: 'id_in_use', message: 'VM web1 still exists here' } }),
      json(202, { operation: { id: 'op2', state: 'running' }, kind: 'vm', id: NEW_VM, name: 'web1' }),
    ]);
    await openImport('web1');
    expect(document.getElementById('export-import-bridge')).toBeNull();
    fireEvent.click(document.getElementById('export-import-submit') as HTMLElement);
    await screen.findByText('id_in_use: VM web1 still exists here');
    fireEvent.click(input('export-import-new-ids'));
    fireEvent.click(document.getElementById('export-import-submit') as HTMLElement);
    await waitFor(() => expect(document.getElementById('export-import-result')).not.toBeNull());
    expect(imports(calls).map((c) => c.body)).toEqual([
      { cluster_id: CLUSTER, storage_domain_id: DATA_DOMAIN },
      { cluster_id: CLUSTER, storage_domain_id: DATA_DOMAIN, new_ids: true },
    ]);
  });

  it('shows an error the form has no field for with its code above the form', async () => {
    stub([json(409, { error: { code: 'storage_domain_state_invalid', message: 'domain data1 is locked' } })]);
    await openImport('web1');
    fireEvent.click(document.getElementById('export-import-submit') as HTMLElement);
    const alert = await screen.findByTestId('form-error');
    expect(alert.textContent).toContain('storage_domain_state_invalid: domain data1 is locked');
  });
});
