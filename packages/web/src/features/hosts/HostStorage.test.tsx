// @vitest-environment jsdom
import { cleanup, screen } from '@testing-library/react';
import { Route, Routes } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Locale } from '../../i18n';
import { json, renderInPortal } from '../../testing/portal';
import { HostDetailPage } from '../datacenters/details';

const SEAL_MISSING = 'no seal appliance found: run scripts/build-seal-appliance.sh';
const XSS = '<img src=x onerror=alert(1)>';

const host = (capabilities: Record<string, unknown> | null) => ({
  id: 'h1',
  name: 'kvm-01',
  address: '10.0.0.1',
  port: 54321,
  cluster_id: 'c1',
  state: 'up',
  state_reason: '',
  state_changed_at: '2026-01-01T00:00:00Z',
  agent_version: '0.1.0',
  capabilities,
  stats: null,
  last_heartbeat_at: '2026-01-01T00:00:00Z',
  certificate: null,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
});

/** The host page (General tab) of a host whose agent reported `capabilities`; GETs from fixtures. */
async function renderHost(capabilities: Record<string, unknown> | null, locale: Locale = 'en') {
  vi.stubGlobal(
    'fetch',
    vi.fn(async (u: string) => {
      const { pathname } = new URL(u);
      if (pathname === '/api/v1/hosts/h1') return json(200, host(capabilities));
      if (/^\/api\/v1\/[a-z-]+$/.test(pathname)) return json(200, { items: [], next_cursor: null });
      return json(404, { error: { code: 'x', message: 'x', details: {} } });
    }),
  );
  renderInPortal(
    <Routes>
      <Route path="/hosts/:id" element={<HostDetailPage />} />
    </Routes>,
    { path: '/hosts/h1', locale },
  );
  // Generous: CI runs this beside QEMU guests on two cores.
  await screen.findByTestId('host-storage', {}, { timeout: 10_000 });
  return {
    nfs: screen.getByTestId('host-storage-nfs').textContent,
    seal: screen.getByTestId('host-storage-seal').textContent,
  };
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('host page: storage abilities', () => {
  it('a kernel-client host that can seal: both said, with the agent reasons', async () => {
    const shown = await renderHost({
      hostname: 'kvm-01',
      storage: {
        nfs: { mode: 'kernel', reason: 'kernel NFS client and mount.nfs present' },
        seal: { available: true, reason: 'seal appliance in /usr/share/vireo/seal' },
      },
    });
    expect(screen.getByText('Storage')).toBeTruthy();
    expect(shown.nfs).toBe('Kernel clientkernel NFS client and mount.nfs present');
    expect(shown.seal).toBe('Availableseal appliance in /usr/share/vireo/seal');
  });

  it('a userspace host that cannot seal says why (agent text shown as text)', async () => {
    const shown = await renderHost({
      storage: {
        nfs: { mode: 'userspace', reason: `the kernel has no NFS client ${XSS}` },
        seal: { available: false, reason: SEAL_MISSING },
      },
    });
    expect(shown.nfs).toBe(`QEMU's built-in NFS driver (userspace)the kernel has no NFS client ${XSS}`);
    expect(shown.seal).toBe(`Unavailable: ${SEAL_MISSING}`);
    expect(document.querySelector('img')).toBeNull();
  });

  it('a host whose agent reported nothing shows dashes', async () => {
    expect(await renderHost(null)).toEqual({ nfs: '—', seal: '—' });
  });

  it('an agent older than sealing: NFS access shown, sealing a dash; in Simplified Chinese', async () => {
    const shown = await renderHost(
      { storage: { nfs: { mode: 'userspace', reason: 'forced by VIREO_AGENT_NFS_MODE=userspace' } } },
      'zh-CN',
    );
    expect(screen.getByText('存储')).toBeTruthy();
    expect(shown.nfs).toBe('QEMU 内置 NFS 驱动（用户态）forced by VIREO_AGENT_NFS_MODE=userspace');
    expect(shown.seal).toBe('—');
  });
});
