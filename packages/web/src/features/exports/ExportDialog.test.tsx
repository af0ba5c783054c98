// @vitest-environment jsdom
import { cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, renderInPortal } from '../../testing/portal';
import { VmsPage } from '../vms/VmsPage';
import { ExportDialog } from './ExportDialog';

const EXPORT_DOMAIN = '11111111-1111-4111-8111-111111111111';
const VM = '44444444-4444-4444-8444-444444444444';

type Call = { method: string; path: string; query: string; body: unknown };

/** The engine: one active export domain; `answer` answers the export POST. */
function stub(answer: Response) {
  const calls: Call[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const u = new URL(url);
      const path = u.pathname.replace('/api/v1', '');
      const method = init.method ?? 'GET';
      calls.push({
        method,
        path,
        query: u.search,
        body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
      });
      if (path === '/storage-domains')
        return json(200, {
          items: [{ id: EXPORT_DOMAIN, name: 'exp', kind: 'export', state: 'active' }],
          total: 1,
        });
      if (method === 'POST' && path === `/vms/${VM}/export`) return answer;
      if (path === '/vms')
        return json(200, {
          items: [
            {
              id: VM,
              name: 'web1',
              state: 'down',
              cpus: 1,
              memory_mib: 256,
              cluster_id: null,
              host_id: null,
            },
          ],
          total: 1,
        });
      return json(404, { error: { code: 'route_not_found', message: path } });
    }),
  );
  return calls;
}

async function exportAsOva() {
  renderInPortal(<ExportDialog object={{ kind: 'vm', id: VM, name: 'web1' }} onClose={() => {}} />);
  await waitFor(() =>
    expect((document.getElementById('export-domain') as HTMLSelectElement).value).toBe(EXPORT_DOMAIN),
  );
  fireEvent.change(document.getElementById('export-format') as HTMLElement, { target: { value: 'ova' } });
  fireEvent.click(document.getElementById('export-submit') as HTMLElement);
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
});

describe('ExportDialog', () => {
  it('offers only active export domains and sends the chosen format, then shows the operation', async () => {
    const calls = stub(json(202, { operation: { id: 'op1', state: 'running' } }));
    await exportAsOva();
    await screen.findByTestId('dialog-operation');
    const list = calls.find((c) => c.path === '/storage-domains');
    expect(new URLSearchParams(list?.query).get('kind')).toBe('export');
    expect(new URLSearchParams(list?.query).get('state')).toBe('active');
    expect(calls.filter((c) => c.method === 'POST')).toEqual([
      {
        method: 'POST',
        path: `/vms/${VM}/export`,
        query: '',
        body: { storage_domain_id: EXPORT_DOMAIN, format: 'ova', overwrite: false },
      },
    ]);
  });

  it('shows the engine code and message of a refusal', async () => {
    stub(json(409, { error: { code: 'export_exists', message: 'web1.ova exists on exp' } }));
    await exportAsOva();
    const alert = await screen.findByTestId('form-error');
    expect(alert.textContent).toContain('export_exists: web1.ova exists on exp');
    expect(screen.queryByTestId('dialog-operation')).toBeNull();
  });
});

describe('VM list Export… row action', () => {
  it('opens the export dialog for a down VM from its row menu and exports it', async () => {
    const calls = stub(json(202, { operation: { id: 'op3', state: 'running' } }));
    renderInPortal(<VmsPage />);
    const toggle = await screen.findByRole('button', { name: 'Kebab toggle' });
    fireEvent.click(toggle);
    fireEvent.click(await screen.findByRole('menuitem', { name: 'Export…' }));
    await waitFor(() =>
      expect((document.getElementById('export-domain') as HTMLSelectElement).value).toBe(EXPORT_DOMAIN),
    );
    fireEvent.click(document.getElementById('export-submit') as HTMLElement);
    await screen.findByTestId('dialog-operation');
    expect(calls.filter((c) => c.method === 'POST').map((c) => c.path)).toEqual([`/vms/${VM}/export`]);
  });
});
