// @vitest-environment jsdom
import { cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { Route, Routes } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, renderInPortal } from '../../testing/portal';
import { VmDetailPage } from './VmDetailPage';

const vm = (console: 'vnc' | 'serial') => ({
  id: 'v1',
  name: 'web1',
  cluster_id: 'c1',
  host_id: 'h1',
  state: 'up',
  state_reason: '',
  desired_state: 'up',
  cpus: 1,
  memory_mib: 512,
  os_type: 'other_linux',
  boot_order: ['cdrom'],
  cdrom: null,
  disks: [],
  nics: [],
  console,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
});

/** The VM page of a running VM whose console type is `console`, GETs answered from fixtures. */
function renderPage(console: 'vnc' | 'serial') {
  vi.stubGlobal(
    'fetch',
    vi.fn(async (u: string) => {
      const { pathname } = new URL(u);
      if (pathname === '/api/v1/vms/v1') return json(200, vm(console));
      if (/^\/api\/v1\/[a-z-]+$/.test(pathname)) return json(200, { items: [], next_cursor: null });
      return json(404, { error: { code: 'x', message: 'x', details: {} } });
    }),
  );
  renderInPortal(
    <Routes>
      <Route path="/vms/:id" element={<VmDetailPage />} />
    </Routes>,
    { path: '/vms/v1' },
  );
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('VM page: the VNC console button and the console type', () => {
  it('a headless VM: the VNC button is disabled and says why; the serial console stays', async () => {
    renderPage('serial');
    await screen.findByTestId('vm-name');
    const button = document.getElementById('vm-console');
    expect(button).not.toBeNull();
    expect(button?.getAttribute('aria-disabled')).toBe('true');
    expect(button?.tagName).toBe('BUTTON');
    expect(document.getElementById('vm-serial')?.getAttribute('aria-disabled')).not.toBe('true');
    expect(screen.getByText('Serial only (headless: no display, USB or VNC)')).toBeTruthy();
    fireEvent.mouseEnter(button as HTMLElement);
    fireEvent.focus(button as HTMLElement);
    await waitFor(() => expect(screen.getByText(/This VM is headless/)).toBeTruthy());
  });

  it('a VNC VM: the VNC button links to its console page', async () => {
    renderPage('vnc');
    await screen.findByTestId('vm-name');
    const button = document.getElementById('vm-console');
    expect(button?.getAttribute('href')).toBe('/vms/v1/console');
    expect(button?.getAttribute('aria-disabled')).not.toBe('true');
    expect(screen.getByText('VNC (graphical display)')).toBeTruthy();
  });
});
