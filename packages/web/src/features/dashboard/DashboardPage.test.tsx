// @vitest-environment jsdom
import { cleanup, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, renderInPortal } from '../../testing/portal';
import { DashboardPage } from './DashboardPage';

const XSS = '<img src=x onerror=alert(1)>';
const now = new Date().toISOString();

const LISTS: Record<string, unknown[]> = {
  '/api/v1/hosts': [
    {
      id: 'h1',
      name: 'h1',
      state: 'up',
      state_reason: '',
      capabilities: { cpu: { logical_cpus: 4 } },
      stats: { memory: { total_bytes: 8e9, used_bytes: 2e9 } },
    },
    {
      id: 'h2',
      name: 'h2',
      state: 'non_responsive',
      state_reason: 'heartbeat failed',
      capabilities: null,
      stats: null,
    },
  ],
  '/api/v1/vms': [
    { id: 'v1', state: 'up', cpus: 2, memory_mib: 512 },
    { id: 'v2', state: 'down', cpus: 1, memory_mib: 512 },
  ],
  '/api/v1/datacenters': [{ id: 'd' }],
  '/api/v1/clusters': [{ id: 'c' }, { id: 'c2' }],
  '/api/v1/operations': [
    {
      id: 'o1',
      type: 'vm.start',
      state: 'failed',
      target: { kind: 'vm', id: 'v2' },
      error: { code: 'no_host', message: 'no host can run it' },
      finished_at: now,
      created_at: now,
    },
  ],
  '/api/v1/events': [
    {
      id: '7',
      time: now,
      kind: 'vm.created',
      severity: 'info',
      message: `VM ${XSS} created`,
      object_kind: 'vm',
      object_id: null,
      object_name: XSS,
      user_id: null,
      username: null,
      operation_id: null,
      details: {},
    },
  ],
};

function renderDashboard(locale: 'en' | 'zh-CN' = 'en') {
  const fetched: string[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string) => {
      const u = new URL(url);
      fetched.push(`${u.pathname}${u.search}`);
      const items = LISTS[u.pathname];
      if (!items) {
        // The storage API is not in this engine: the dashboard must leave storage out, not fail.
        return json(404, { error: { code: 'route_not_found', message: 'no route' } });
      }
      return json(200, { items, next_cursor: null });
    }),
  );
  renderInPortal(<DashboardPage />, { locale });
  return fetched;
}

describe('DashboardPage', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('shows counts by state, capacity, alerts and recent events from the engine lists', async () => {
    const fetched = renderDashboard();
    const hosts = await screen.findByTestId('inventory-nav.hosts');
    expect(await within(hosts).findByText('2')).toBeTruthy();
    expect(within(hosts).getByText(/Not responding/).textContent).toBe('Not responding 1');
    expect(within(screen.getByTestId('inventory-nav.vms')).getByText(/Down/).textContent).toBe('Down 1');
    expect(
      within(screen.getByTestId('inventory-nav.clusters')).getByTestId('inventory-total').textContent,
    ).toBe('2');

    // vCPUs of running VMs against the up hosts' CPUs; memory in use against memory.
    expect(await screen.findByText('2 vCPUs of 4 CPUs')).toBeTruthy();
    expect(screen.getByText('2 GB of 8 GB')).toBeTruthy();

    const alerts = screen.getByTestId('alerts');
    expect(await within(alerts).findByText(/Host h2 is not responding/)).toBeTruthy();
    expect(within(alerts).getByText('Operation vm.start failed: no host can run it')).toBeTruthy();

    // Guest- and user-supplied text is text: the markup shows, no element is made from it.
    const events = screen.getByTestId('recent-events');
    expect(await within(events).findByText(`VM ${XSS} created`)).toBeTruthy();
    expect(events.querySelector('img')).toBeNull();

    // No storage API: no storage card and no storage donut, and nothing polls.
    expect(screen.queryByTestId('inventory-dashboard.inventory.storageDomains')).toBeNull();
    expect(screen.queryByTestId('capacity-storage')).toBeNull();
    expect(fetched.some((f) => f.startsWith('/api/v1/operations?') && f.includes('state=failed'))).toBe(true);
    const before = fetched.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(fetched.length).toBe(before);
  });

  it('speaks Chinese', async () => {
    renderDashboard('zh-CN');
    expect(await screen.findByText('告警')).toBeTruthy();
    expect(await screen.findByText(/主机 h2 无响应/)).toBeTruthy();
  });
});
