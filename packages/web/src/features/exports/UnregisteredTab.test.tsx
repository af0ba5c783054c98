// @vitest-environment jsdom
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import type { StorageDomain, UnregisteredList } from '@vireo/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, renderInPortal } from '../../testing/portal';
import { UnregisteredTab } from './UnregisteredTab';

const DOMAIN = '22222222-2222-4222-8222-222222222222';
const CLUSTER = '33333333-3333-4333-8333-333333333333';
const VM = '44444444-4444-4444-8444-444444444444';
const DISK = '55555555-5555-4555-8555-555555555555';
const SECRET = '66666666-6666-4666-8666-666666666666';

const domain = { id: DOMAIN, name: 'data2', kind: 'data', state: 'active' } as StorageDomain;
const disk = (id: string, name: string, problem: { code: string; message: string } | null) => ({
  id,
  name,
  description: '',
  format: 'qcow2' as const,
  size_bytes: 2 ** 30,
  shareable: false,
  volumes: [],
  base: null,
  problem,
});
const LIST: UnregisteredList = {
  vms: [{ id: VM, name: 'web1', kind: 'vm', cpus: 1, memory_mib: 256, disk_ids: [DISK], problem: null }],
  disks: [
    disk(DISK, 'web1-disk', null),
    disk(SECRET, 'vault', {
      code: 'disk_encrypted',
      message: 'the disk is encrypted with a key this engine lacks',
    }),
  ],
};

type Call = { method: string; path: string; body: unknown };

/** The engine: the listing, one cluster; `answers` answer the register POSTs in turn. */
function stub(answers: Response[]) {
  const calls: Call[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const path = new URL(url).pathname.replace('/api/v1', '');
      const method = init.method ?? 'GET';
      calls.push({ method, path, body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined });
      if (path === `/storage-domains/${DOMAIN}/unregistered`) return json(200, LIST);
      if (path === '/clusters') return json(200, { items: [{ id: CLUSTER, name: 'c1' }], total: 1 });
      if (method === 'POST' && path.endsWith('/register')) {
        const next = answers.shift();
        if (next) return next;
      }
      return json(404, { error: { code: 'route_not_found', message: path } });
    }),
  );
  return calls;
}

const registers = (calls: Call[]) => calls.filter((c) => c.method === 'POST');
const click = (id: string) => fireEvent.click(document.getElementById(id) as HTMLElement);

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
});

describe('UnregisteredTab', () => {
  it('shows each entry with its problem and only lets the registrable ones be registered', async () => {
    stub([]);
    renderInPortal(<UnregisteredTab domain={domain} />);
    const disks = await screen.findAllByTestId('unregistered-disk');
    const vault = disks.find((r) => r.dataset.name === 'vault') as HTMLElement;
    expect(within(vault).getByTestId('unregistered-problem').textContent).toBe('disk_encrypted');
    expect((within(vault).getByTestId('unregistered-register') as HTMLButtonElement).disabled).toBe(true);
    const ok = disks.find((r) => r.dataset.name === 'web1-disk') as HTMLElement;
    expect(within(ok).queryByTestId('unregistered-problem')).toBeNull();
    expect((within(ok).getByTestId('unregistered-register') as HTMLButtonElement).disabled).toBe(false);
  });

  it('registers a VM: a name clash shows the engine message, then rename is sent and progress shows', async () => {
    const calls = stub([
      json(409, { error: { code: 'name_in_use', message: 'a VM named web1 exists' } }),
      json(202, { operation: { id: 'op1', state: 'running' } }),
    ]);
    renderInPortal(<UnregisteredTab domain={domain} />);
    const row = await screen.findByTestId('unregistered-vm');
    fireEvent.click(within(row).getByTestId('unregistered-register'));
    await waitFor(() =>
      expect((document.getElementById('register-cluster') as HTMLSelectElement).value).toBe(CLUSTER),
    );
    click('register-submit');
    await screen.findByText('name_in_use: a VM named web1 exists');
    click('register-rename');
    click('register-submit');
    await screen.findByTestId('dialog-operation');
    expect(registers(calls)).toEqual([
      {
        method: 'POST',
        path: `/storage-domains/${DOMAIN}/unregistered/vms/${VM}/register`,
        body: { cluster_id: CLUSTER },
      },
      {
        method: 'POST',
        path: `/storage-domains/${DOMAIN}/unregistered/vms/${VM}/register`,
        body: { cluster_id: CLUSTER, on_clash: 'rename' },
      },
    ]);
  });

  it('registers a disk and shows the operation', async () => {
    const calls = stub([json(202, { operation: { id: 'op2', state: 'running' } })]);
    renderInPortal(<UnregisteredTab domain={domain} />);
    const disks = await screen.findAllByTestId('unregistered-disk');
    const ok = disks.find((r) => r.dataset.name === 'web1-disk') as HTMLElement;
    fireEvent.click(within(ok).getByTestId('unregistered-register'));
    click('register-submit');
    await screen.findByTestId('dialog-operation');
    expect(registers(calls).map((c) => c.path)).toEqual([
      `/storage-domains/${DOMAIN}/unregistered/disks/${DISK}/register`,
    ]);
  });
});
