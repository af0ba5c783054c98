// @vitest-environment jsdom
import { cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { Route, Routes } from 'react-router';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, renderInPortal } from '../../testing/portal';
import { CreateVmWizard } from './CreateVmWizard';

const LISTS: Record<string, unknown[]> = {
  '/api/v1/clusters': [{ id: 'c1', name: 'Default', datacenter_id: 'dc1' }],
  '/api/v1/templates': [
    { id: 't1', name: 'base-web', state: 'ok' },
    { id: 't2', name: 'being-made', state: 'locked' },
  ],
  '/api/v1/storage-domains': [],
};

/** Renders the wizard at `url`; `post` answers its POST; returns the POSTs sent (path, body). */
function renderWizard(url: string, post: (path: string, body: unknown) => Response) {
  const posts: { path: string; body: unknown }[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (u: string, init: { method?: string; body?: string }) => {
      const { pathname } = new URL(u);
      if (init.method === 'POST') {
        const body = JSON.parse(init.body ?? 'null');
        posts.push({ path: pathname, body });
        return post(pathname, body);
      }
      const items = LISTS[pathname];
      return items
        ? json(200, { items, next_cursor: null })
        : json(404, { error: { code: 'x', message: 'x' } });
    }),
  );
  renderInPortal(
    <Routes>
      <Route path="/vms/new" element={<CreateVmWizard />} />
      <Route path="/vms/:id" element={<p>vm page</p>} />
    </Routes>,
    { path: url },
  );
  return posts;
}

/** Generous: CI runs this beside QEMU guests on two cores. */
const WAIT = { timeout: 10_000 };
const input = (id: string) => document.getElementById(id) as HTMLInputElement;
const next = () => fireEvent.click(screen.getByRole('button', { name: 'Next' }));

describe('CreateVmWizard', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it('from a template (?template=): only ready templates, name and clone kind, POST /templates/{id}/vms', async () => {
    const posts = renderWizard('/vms/new?template=t1', () =>
      json(202, { operation: { id: 'o1', state: 'pending' }, vm: { id: 'v9' } }),
    );
    await waitFor(() => expect(input('vm-template').value).toBe('t1'), WAIT);
    const options = [...input('vm-template').querySelectorAll('option')].map((o) => o.textContent);
    expect(options).toEqual(['base-web']);
    // The hardware comes from the template: none of its fields are asked.
    expect(input('vm-cpus')).toBeNull();
    fireEvent.change(input('vm-name'), { target: { value: 'clone-1' } });
    fireEvent.click(input('vm-clone-full'));
    next();
    fireEvent.click(await screen.findByRole('button', { name: 'Create' }, WAIT));
    await screen.findByText('vm page', {}, WAIT);
    expect(posts).toEqual([{ path: '/api/v1/templates/t1/vms', body: { name: 'clone-1', clone: 'full' } }]);
  }, 30_000);

  it('a blank VM with a bridge NIC; the engine’s message about the bridge lands under its field', async () => {
    const posts = renderWizard('/vms/new', () =>
      json(400, {
        error: {
          code: 'invalid_input',
          message: 'body/nics/0/bridge must match pattern',
          details: { errors: [{ in: 'body', path: '/nics/0/bridge', message: 'must match pattern' }] },
        },
      }),
    );
    await waitFor(() => expect(input('vm-cluster').value).toBe('c1'), WAIT);
    fireEvent.change(input('vm-name'), { target: { value: 'web1' } });
    next();
    fireEvent.click(await screen.findByRole('button', { name: 'Remove' }, WAIT));
    next();
    fireEvent.change(await screen.findByLabelText('Type', {}, WAIT), { target: { value: 'bridge' } });
    fireEvent.change(input('nic-0-bridge'), { target: { value: 'br 0' } });
    next();
    next();
    fireEvent.click(await screen.findByRole('button', { name: 'Create' }, WAIT));
    fireEvent.click(await screen.findByRole('button', { name: 'Go to the field' }, WAIT));
    expect(await screen.findByText('must match pattern', {}, WAIT)).toBeTruthy();
    expect(input('nic-0-bridge').value).toBe('br 0');
    expect(posts).toHaveLength(1);
    expect(posts[0]).toMatchObject({
      path: '/api/v1/vms',
      body: { name: 'web1', cluster_id: 'c1', disks: [], nics: [{ bridge: 'br 0' }] },
    });
  }, 30_000);
});
