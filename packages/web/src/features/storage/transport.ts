import type { ImageTransfer, ImageTransferCreated } from '@vireo/api';
import { ApiError } from '@vireo/client';
import { api, browserFetch } from '../../api';
import type { ResumeStore, UploadTransport } from './upload';

const path = (id: string, sub = '') => `/image-transfers/${encodeURIComponent(id)}${sub}`;

async function errorOf(res: Response): Promise<ApiError> {
  let body: { error?: { code?: string; message?: string; details?: Record<string, unknown> } } = {};
  try {
    body = JSON.parse(await res.text());
  } catch {
    // not JSON: the status says enough
  }
  const e = body.error ?? {};
  return new ApiError(
    res.status,
    e.code ?? `http_${res.status}`,
    e.message ?? `HTTP ${res.status}`,
    e.details ?? {},
  );
}

/**
 * The image-transfer API from the browser: JSON calls through the portal's client, and the bytes as
 * a Blob slice in a plain PUT (a Blob body needs no streaming upload support from the browser).
 */
export function browserTransport(): UploadTransport {
  const send = browserFetch();
  return {
    async create(body, signal) {
      const res = await api.request<ImageTransferCreated>('POST', '/image-transfers', {
        body,
        ...(signal ? { signal } : {}),
      });
      return res.body.transfer;
    },
    get: (id, signal) => api.get<ImageTransfer>(path(id), signal ? { signal } : {}),
    async put(id, start, end, total, body, signal) {
      const res = (await send(`${api.baseUrl.href.replace(/\/$/, '')}${path(id, '/data')}`, {
        method: 'PUT',
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `bytes ${start}-${end}/${total}`,
        },
        body,
        signal,
      })) as unknown as Response;
      if (!res.ok) throw await errorOf(res);
      return (await res.json()) as ImageTransfer;
    },
    async finalize(id, signal) {
      const res = await api.request<ImageTransfer>('POST', path(id, '/finalize'), {
        timeoutMs: 20 * 60_000,
        ...(signal ? { signal } : {}),
      });
      return res.body;
    },
    async cancel(id) {
      await api.request('DELETE', path(id));
    },
  };
}

/** Unfinished uploads remembered in the browser (ids only; nothing secret). */
export const localResumeStore: ResumeStore = {
  get: (k) => globalThis.localStorage?.getItem(k) ?? null,
  set: (k, v) => globalThis.localStorage?.setItem(k, v),
  remove: (k) => globalThis.localStorage?.removeItem(k),
};
