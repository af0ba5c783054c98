// @vitest-environment jsdom
import { cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { renderInPortal } from '../../testing/portal';
import { DiskCreateDialog } from './DiskCreateDialog';
import { DiskExtendDialog } from './DiskDialogs';
import { diskCreateBody, EMPTY_DISK_FORM, extendProblem } from './diskForm';
import { createBody, domainActionAllowed, EMPTY_DOMAIN_FORM, importBody, usedPercent } from './domainForm';
import { StorageDomainForm } from './StorageDomainForm';

const XSS = '<img src=x onerror=alert(1)>';
const HOST = { id: '11111111-1111-4111-8111-111111111111', name: 'host-a' };
const DATA = { id: '22222222-2222-4222-8222-222222222222', name: 'data-1', kind: 'data', state: 'active' };

interface Sent {
  method: string;
  path: string;
  body: unknown;
  headers: Record<string, string>;
}
type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

/**
 * Stubs the network: lists answer from `lists`; other calls go to `answer`, which sees what the
 * form sent. Every request is recorded with its JSON body.
 */
function stubEngine(lists: Record<string, unknown[]>, answer: (s: Sent) => Answer): Sent[] {
  const sent: Sent[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const u = new URL(url);
      const method = init.method ?? 'GET';
      const s: Sent = {
        method,
        path: u.pathname.replace('/api/v1', ''),
        body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
        headers: (init.headers ?? {}) as Record<string, string>,
      };
      sent.push(s);
      const items = method === 'GET' ? lists[s.path] : undefined;
      const a = items ? { status: 200, body: { items, next_cursor: null } } : answer(s);
      return new Response(a.body === undefined ? '' : JSON.stringify(a.body), {
        status: a.status,
        headers: { 'content-type': 'application/json', ...a.headers },
      });
    }),
  );
  return sent;
}

const type = (id: string, value: string) =>
  fireEvent.change(document.getElementById(id) as HTMLElement, { target: { value } });
const errorUnder = (id: string) =>
  (document.getElementById(id) as HTMLElement)
    .closest('.pf-v6-c-form__group')
    ?.querySelector('[data-testid="field-error"]')
    ?.textContent?.replace(/: error status;$/, '') ?? null;

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('storage domain form', () => {
  it('sends only the chosen backend’s fields and shows the engine’s schema message under the path', async () => {
    const sent = stubEngine({ '/hosts': [HOST] }, () => ({
      status: 400,
      body: {
        error: {
          code: 'invalid_input',
          message: 'invalid body field /path',
          details: { errors: [{ in: 'body', path: '/path', message: 'must match pattern "^/"' }] },
        },
      },
    }));
    renderInPortal(<StorageDomainForm mode="create" onClose={() => {}} />);
    type('sd-name', ' iso1 ');
    type('sd-kind', 'iso');
    // Typed in the NFS fields first, then switched to posix: those values must not be sent.
    type('sd-backend', 'nfs');
    type('sd-nfs-server', 'filer');
    type('sd-backend', 'posix');
    expect(document.getElementById('sd-nfs-server')).toBeNull();
    expect(document.getElementById('sd-host-id')).toBeNull();
    type('sd-path', 'relative/dir');
    fireEvent.click(screen.getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(errorUnder('sd-path')).toBe('must match pattern "^/"'));
    const post = sent.find((s) => s.method === 'POST')!;
    expect(post.path).toBe('/storage-domains');
    expect(post.body).toEqual({ name: 'iso1', kind: 'iso', backend: 'posix', path: 'relative/dir' });
    expect(post.headers['X-Vireo-CSRF'] ?? post.headers['x-vireo-csrf']).toBe('1');
    expect(screen.queryByTestId('form-error')).toBeNull();
  });

  it('puts a service error naming the host under the host picker, and an unnamed one above the form', async () => {
    let n = 0;
    stubEngine({ '/hosts': [HOST] }, () =>
      n++ === 0
        ? {
            status: 409,
            body: {
              error: { code: 'host_not_up', message: 'host host-a is not up', details: { field: 'host_id' } },
            },
          }
        : {
            status: 409,
            body: { error: { code: 'storage_domain_name_taken', message: `name ${XSS} taken`, details: {} } },
          },
    );
    renderInPortal(<StorageDomainForm mode="create" onClose={() => {}} />);
    await screen.findByRole('option', { name: 'host-a' });
    type('sd-name', 'local1');
    type('sd-host-id', HOST.id);
    type('sd-path', '/srv/vireo');
    fireEvent.click(screen.getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(errorUnder('sd-host-id')).toBe('host host-a is not up'));
    fireEvent.click(screen.getByRole('button', { name: 'Create' }));
    // Markup from the engine's message is text.
    const general = await screen.findByTestId('form-error');
    expect(general.textContent).toContain(`name ${XSS} taken`);
    expect(general.querySelector('img')).toBeNull();
  });

  it('imports: sends the location and lists the domains found, names as text', async () => {
    const sent = stubEngine({ '/hosts': [HOST] }, () => ({
      status: 200,
      body: { domains: [{ id: DATA.id, name: XSS, kind: 'data' }] },
    }));
    renderInPortal(<StorageDomainForm mode="import" onClose={() => {}} />);
    type('sd-backend', 'nfs');
    type('sd-nfs-server', 'filer');
    type('sd-nfs-export', '/exports/v');
    fireEvent.click(screen.getByRole('button', { name: 'Look and import' }));
    const result = await screen.findByTestId('import-result');
    expect(result.textContent).toContain('1 domain imported');
    expect(result.textContent).toContain(XSS);
    expect(result.querySelector('img')).toBeNull();
    expect(sent.find((s) => s.method === 'POST')!.body).toEqual({
      backend: 'nfs',
      nfs_server: 'filer',
      nfs_export: '/exports/v',
    });
  });

  it('builds bodies and decides actions without the page', () => {
    const local = { ...EMPTY_DOMAIN_FORM, name: 'a', host_id: HOST.id, path: '/srv', nfs_server: 'x' };
    expect(createBody(local)).toEqual({
      name: 'a',
      kind: 'data',
      backend: 'local',
      host_id: HOST.id,
      path: '/srv',
    });
    expect(importBody({ ...local, backend: 'posix' })).toEqual({ backend: 'posix', path: '/srv' });
    expect(domainActionAllowed('attach', 'unattached')).toBe(true);
    expect(domainActionAllowed('detach', 'active')).toBe(false);
    expect(domainActionAllowed('activate', 'inactive')).toBe(true);
    expect(domainActionAllowed('remove', 'maintenance')).toBe(false);
    expect(usedPercent(100, 25)).toBe(75);
    expect(usedPercent(null, 25)).toBeNull();
    expect(usedPercent(0, 0)).toBeNull();
  });
});

describe('disk dialogs', () => {
  it('creates a preallocated raw disk in the first active data domain; the engine’s size message goes under the size', async () => {
    const sent = stubEngine({ '/storage-domains': [DATA] }, () => ({
      status: 400,
      body: {
        error: {
          code: 'invalid_input',
          message: 'bad',
          details: { errors: [{ in: 'body', path: '/size_gib', message: 'must be integer' }] },
        },
      },
    }));
    renderInPortal(<DiskCreateDialog onClose={() => {}} />);
    await screen.findByRole('option', { name: 'data-1' });
    type('disk-name', 'd1');
    type('disk-size', '2.5');
    type('disk-format', 'raw');
    type('disk-allocation', 'preallocated');
    fireEvent.click(document.getElementById('disk-shareable') as HTMLElement);
    fireEvent.click(screen.getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(errorUnder('disk-size')).toBe('must be integer'));
    expect(sent.find((s) => s.method === 'POST')!.body).toEqual({
      name: 'd1',
      storage_domain_id: DATA.id,
      size_gib: '2.5',
      format: 'raw',
      preallocation: 'falloc',
      shareable: true,
    });
  });

  it('extends with If-Match from a fresh GET, and refuses a smaller size before asking the engine', async () => {
    const disk = { id: '33333333-3333-4333-8333-333333333333', name: 'd1', size_gib: 4 };
    const sent = stubEngine({}, (s) =>
      s.method === 'GET'
        ? { status: 200, body: disk, headers: { etag: '"7"' } }
        : { status: 200, body: { ...disk, size_gib: 6 } },
    );
    const closed = vi.fn();
    // biome-ignore lint/suspicious/noExplicitAny: only the fields the dialog reads
    renderInPortal(<DiskExtendDialog disk={disk as any} onClose={closed} />);
    type('disk-new-size', '3');
    fireEvent.click(document.getElementById('disk-extend-submit') as HTMLElement);
    await waitFor(() => expect(errorUnder('disk-new-size')).toMatch(/larger than 4 GiB/));
    expect(sent).toEqual([]);
    type('disk-new-size', '6');
    fireEvent.click(document.getElementById('disk-extend-submit') as HTMLElement);
    await waitFor(() => expect(closed).toHaveBeenCalled());
    const patch = sent.find((s) => s.method === 'PATCH')!;
    expect(patch.body).toEqual({ size_gib: 6 });
    expect(patch.headers['if-match']).toBe('"7"');
  });

  it('maps the form to a create body', () => {
    expect(
      diskCreateBody({ ...EMPTY_DISK_FORM, name: ' x ', storage_domain_id: DATA.id, encrypted: true }),
    ).toEqual({
      name: 'x',
      storage_domain_id: DATA.id,
      size_gib: 10,
      format: 'qcow2',
      preallocation: 'off',
      encrypted: true,
    });
    expect(extendProblem(4, 'x')).toBe('notNumber');
    expect(extendProblem(4, '4')).toBe('notLarger');
    expect(extendProblem(4, ' 5 ')).toBeNull();
  });
});
