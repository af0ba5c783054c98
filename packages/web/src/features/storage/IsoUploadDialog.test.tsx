// @vitest-environment jsdom
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import type { ImageTransfer } from '@vireo/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LocaleProvider } from '../../i18n';
import { json } from '../../testing/portal';
import { isoUpload } from '../../testing/transfers';
import { IsoUploadDialog } from './IsoUploadDialog';

const DOMAIN = '22222222-2222-4222-8222-222222222222';
const transfer = (over: Partial<ImageTransfer>) =>
  isoUpload({ storage_domain_id: DOMAIN, iso_file: 'My_Disc.iso', size_bytes: 5, ...over });

/** The engine's transfer API; `put` decides what a PUT of the bytes does. */
function stub(put: (init: RequestInit) => Promise<Response>) {
  const calls: { method: string; path: string; headers: Record<string, string>; body: unknown }[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const path = new URL(url).pathname.replace('/api/v1', '');
      const method = init.method ?? 'GET';
      calls.push({
        method,
        path,
        headers: (init.headers ?? {}) as Record<string, string>,
        body: typeof init.body === 'string' ? JSON.parse(init.body) : init.body,
      });
      if (method === 'POST' && path === '/image-transfers')
        return json(201, { transfer: transfer({}), operation: { id: 'o1', state: 'running' } });
      if (method === 'PUT') return put(init);
      if (method === 'POST' && path.endsWith('/finalize'))
        return json(200, transfer({ state: 'finished', bytes_done: 5 }));
      if (method === 'DELETE') return json(200, transfer({ state: 'cancelled' }));
      return json(404, { error: { code: 'route_not_found', message: path } });
    }),
  );
  return calls;
}

// jsdom's Blob has no arrayBuffer() (browsers do): read it with jsdom's FileReader and hand the
// bytes over as a Node Buffer, which Node's WebCrypto accepts (jsdom's own ArrayBuffer it does not).
if (!Blob.prototype.arrayBuffer) {
  Blob.prototype.arrayBuffer = function (this: Blob) {
    return new Promise<ArrayBuffer>((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(Buffer.from(r.result as ArrayBuffer) as unknown as ArrayBuffer);
      r.onerror = () => reject(r.error);
      r.readAsArrayBuffer(this);
    });
  };
}

function renderDialog() {
  const queries = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={queries}>
      <LocaleProvider initial="en">
        <IsoUploadDialog domainId={DOMAIN} onClose={() => {}} />
      </LocaleProvider>
    </QueryClientProvider>,
  );
  const input = document.querySelector('input[type=file]') as HTMLInputElement;
  fireEvent.change(input, { target: { files: [new File(['hello'], 'My Disc.iso')] } });
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  localStorage.clear();
});

describe('IsoUploadDialog', () => {
  it('proposes a safe name, sends the bytes with the Content-Range and CSRF header, and finalizes', async () => {
    const calls = stub(async () => json(200, transfer({ bytes_done: 5 })));
    renderDialog();
    await waitFor(() =>
      expect((document.getElementById('iso-name') as HTMLInputElement).value).toBe('My_Disc.iso'),
    );
    fireEvent.click(document.getElementById('iso-upload-start') as HTMLElement);
    await waitFor(() =>
      expect(screen.getByTestId('upload-progress').getAttribute('data-phase')).toBe('done'),
    );
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'POST /image-transfers',
      'PUT /image-transfers/t1/data',
      'POST /image-transfers/t1/finalize',
    ]);
    expect(calls[0]!.body).toMatchObject({
      format: 'iso',
      iso_file: 'My_Disc.iso',
      size_bytes: 5,
      // SHA-256 of "hello": the host verifies it at finalize.
      sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
    });
    const put = calls[1]!;
    expect(put.headers['content-range']).toBe('bytes 0-4/5');
    expect(put.headers['X-Vireo-CSRF'] ?? put.headers['x-vireo-csrf']).toBe('1');
    expect(localStorage.length).toBe(0);
  });

  it('cancels a running upload: the request is aborted and the transfer deleted on the engine', async () => {
    let aborted = false;
    const calls = stub(
      (init) =>
        new Promise<Response>((_resolve, reject) => {
          init.signal?.addEventListener('abort', () => {
            aborted = true;
            reject(new DOMException('aborted', 'AbortError'));
          });
        }),
    );
    renderDialog();
    await waitFor(() => expect(document.getElementById('iso-upload-start')).not.toBeNull());
    fireEvent.click(document.getElementById('iso-upload-start') as HTMLElement);
    await waitFor(() => expect(document.getElementById('iso-upload-cancel')).not.toBeNull());
    await waitFor(() => expect(calls.some((c) => c.method === 'PUT')).toBe(true));
    fireEvent.click(document.getElementById('iso-upload-cancel') as HTMLElement);
    await waitFor(() =>
      expect(calls.some((c) => c.method === 'DELETE' && c.path === '/image-transfers/t1')).toBe(true),
    );
    expect(aborted).toBe(true);
    expect(screen.getByTestId('upload-progress').getAttribute('data-phase')).toBe('cancelled');
    expect(screen.queryByTestId('upload-error')).toBeNull();
    expect(calls.some((c) => c.path.endsWith('/finalize'))).toBe(false);
  });

  it('shows the host’s refusal with its code and its message as text, and offers a fresh upload, not a resume', async () => {
    stub(async () => json(200, transfer({ bytes_done: 5 })));
    const fetchStub = globalThis.fetch as unknown as ReturnType<typeof vi.fn>;
    const answer = fetchStub.getMockImplementation() as (url: string, init: RequestInit) => Promise<Response>;
    fetchStub.mockImplementation(async (url: string, init: RequestInit = {}) =>
      url.endsWith('/finalize')
        ? json(400, {
            error: { code: 'image_format_mismatch', message: 'not an ISO 9660 image <b>x</b>', details: {} },
          })
        : answer(url, init),
    );
    renderDialog();
    await waitFor(() => expect(document.getElementById('iso-upload-start')).not.toBeNull());
    fireEvent.click(document.getElementById('iso-upload-start') as HTMLElement);
    const err = await screen.findByTestId('upload-error');
    expect(err.getAttribute('data-code')).toBe('image_format_mismatch');
    expect(err.textContent).toContain('The host refused the file: it is not an ISO 9660 image');
    expect(err.textContent).toContain('not an ISO 9660 image <b>x</b> (image_format_mismatch)');
    expect(err.querySelector('b')).toBeNull();
    expect(screen.getByTestId('upload-progress').getAttribute('data-phase')).toBe('failed');
    expect(document.getElementById('iso-upload-start')?.textContent).toBe('Upload');
    expect(localStorage.length).toBe(0);
  });
});
