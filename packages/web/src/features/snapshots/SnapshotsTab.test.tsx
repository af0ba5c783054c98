// @vitest-environment jsdom
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import type { Vm } from '@vireo/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, renderInPortal } from '../../testing/portal';
import { SnapshotsTab } from './SnapshotsTab';

const now = new Date().toISOString();
const XSS = '<img src=x onerror=alert(1)>';
const snap = (id: string, state: string, description: string) => ({
  id,
  vm_id: 'vm1',
  description,
  memory: id === 's1',
  state,
  disks: [],
  created_at: now,
  updated_at: now,
});
const vm = (state: string) =>
  ({
    id: 'vm1',
    name: 'web1',
    state,
    disks: [{ id: 'd1' }],
  }) as unknown as Vm;

function renderTab(
  v: Vm,
  snapshots: unknown[],
  answer?: (method: string, path: string) => Response | undefined,
) {
  const calls: string[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: { method?: string }) => {
      const u = new URL(url);
      const method = init.method ?? 'GET';
      calls.push(`${method} ${u.pathname}`);
      if (method === 'GET' && u.pathname === '/api/v1/vms/vm1/snapshots')
        return json(200, { items: snapshots });
      return answer?.(method, u.pathname) ?? json(404, { error: { code: 'route_not_found', message: 'no' } });
    }),
  );
  renderInPortal(<SnapshotsTab vm={v} />);
  return calls;
}

/** Generous: CI runs this beside QEMU guests on two cores. */
const WAIT = { timeout: 10_000 };
const button = (row: HTMLElement, action: string) =>
  row.querySelector(`[data-action="${action}"]`) as HTMLButtonElement;

describe('SnapshotsTab', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('a VM that is down: preview, revert and delete offered; descriptions shown as text', async () => {
    renderTab(vm('down'), [snap('s1', 'ok', XSS), snap('s2', 'ok', 'second')]);
    const rows = await screen.findAllByTestId('snapshot-row', {}, WAIT);
    expect(rows).toHaveLength(2);
    expect(within(rows[0]!).getByText(XSS)).toBeTruthy();
    expect(document.querySelector('img')).toBeNull();
    // The second rests on the first.
    expect(within(rows[1]!).getByText(XSS)).toBeTruthy();
    for (const a of ['preview', 'revert', 'delete']) expect(button(rows[1]!, a).disabled, a).toBe(false);
    expect((screen.getByText('Take snapshot').closest('button') as HTMLButtonElement).disabled).toBe(false);
    expect(screen.queryByText('Commit preview')).toBeNull();
  }, 30_000);

  it('a running VM: only delete (live merge); previewing: only commit and undo', async () => {
    renderTab(vm('up'), [snap('s1', 'ok', 'one')]);
    const [row] = await screen.findAllByTestId('snapshot-row', {}, WAIT);
    expect([
      button(row!, 'preview').disabled,
      button(row!, 'revert').disabled,
      button(row!, 'delete').disabled,
    ]).toEqual([true, true, false]);
    cleanup();
    renderTab(vm('down'), [snap('s1', 'in_preview', 'one')]);
    const [previewing] = await screen.findAllByTestId('snapshot-row', {}, WAIT);
    expect(button(previewing!, 'delete').disabled).toBe(true);
    expect(await screen.findByText('Commit preview', {}, WAIT)).toBeTruthy();
    expect(screen.getByText('Undo preview')).toBeTruthy();
    expect(screen.getByText('The VM runs on a preview: commit it or undo it first.')).toBeTruthy();
  }, 30_000);

  it('delete asks first, then sends DELETE; a refusal shows the engine’s message', async () => {
    const calls = renderTab(vm('up'), [snap('s1', 'ok', 'one')], (method) =>
      method === 'DELETE'
        ? json(409, { error: { code: 'snapshot_busy', message: 'another snapshot operation runs' } })
        : undefined,
    );
    const [row] = await screen.findAllByTestId('snapshot-row', {}, WAIT);
    fireEvent.click(button(row!, 'delete'));
    expect(await screen.findByText(/a live merge while the VM runs/, {}, WAIT)).toBeTruthy();
    expect(calls.filter((c) => c.startsWith('DELETE'))).toEqual([]);
    fireEvent.click(document.getElementById('confirm-action')!);
    await waitFor(() => expect(calls).toContain('DELETE /api/v1/vms/vm1/snapshots/s1'), WAIT);
    expect(await screen.findByText('another snapshot operation runs', {}, WAIT)).toBeTruthy();
  }, 30_000);
});
