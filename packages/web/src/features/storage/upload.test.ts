import type { ImageTransfer, ImageTransferCreate } from '@vireo/api';
import { ApiError } from '@vireo/client';
import { describe, expect, it } from 'vitest';
import {
  isoNameProblem,
  type ResumeStore,
  resumeKey,
  safeIsoName,
  type UploadTransport,
  uploadIso,
} from './upload';
import { isoUpload } from '../../testing/transfers';

const DOMAIN = '00000000-0000-4000-8000-000000000001';

/**
 * A stand-in for the engine's transfer API that keeps the received bytes, so each case checks what
 * arrived, in which ranges, and what was created, finalized or refused.
 */
class FakeEngine implements UploadTransport {
  transfers = new Map<string, ImageTransfer & { data: Uint8Array }>();
  created: ImageTransferCreate[] = [];
  puts: [number, number][] = [];
  /** Per PUT number (0-based): an error to throw instead of storing, or a hook before storing. */
  failures = new Map<number, () => never>();
  /** Bytes the host "loses" at the given PUT (it keeps fewer than it was sent). */
  keepOnly = new Map<number, number>();
  refuseFinalize: ApiError | null = null;
  finalized: string[] = [];
  cancelled: string[] = [];

  async create(body: ImageTransferCreate) {
    this.created.push(body);
    const id = `t${this.transfers.size + 1}`;
    const t = {
      ...isoUpload({
        id,
        storage_domain_id: body.storage_domain_id!,
        iso_file: body.iso_file ?? null,
        format: body.format!,
        size_bytes: body.size_bytes!,
        sha256: body.sha256 ?? null,
      }),
      data: new Uint8Array(body.size_bytes!),
    };
    this.transfers.set(id, t);
    return this.view(t);
  }
  view(t: ImageTransfer & { data: Uint8Array }): ImageTransfer {
    const { data: _data, ...rest } = t;
    return { ...rest };
  }
  async get(id: string) {
    const t = this.transfers.get(id);
    if (!t) throw new ApiError(404, 'image_transfer_not_found', 'no such transfer');
    return this.view(t);
  }
  async put(id: string, start: number, end: number, total: number, body: Blob) {
    const n = this.puts.length;
    this.puts.push([start, end]);
    const t = this.transfers.get(id)!;
    this.failures.get(n)?.();
    if (start !== t.bytes_done)
      throw new ApiError(416, 'transfer_offset_mismatch', 'wrong offset', { bytes_done: t.bytes_done });
    expect(total).toBe(t.size_bytes);
    const bytes = new Uint8Array(await body.arrayBuffer());
    expect(bytes.length).toBe(end - start + 1);
    const keep = this.keepOnly.get(n) ?? bytes.length;
    t.data.set(bytes.subarray(0, keep), start);
    t.bytes_done = start + keep;
    return this.view(t);
  }
  async finalize(id: string) {
    if (this.refuseFinalize) {
      this.transfers.get(id)!.state = 'failed';
      throw this.refuseFinalize;
    }
    this.finalized.push(id);
    const t = this.transfers.get(id)!;
    t.state = 'finished';
    return this.view(t);
  }
  async cancel(id: string) {
    this.cancelled.push(id);
  }
}

function memoryStore(): ResumeStore & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    get: (k) => map.get(k) ?? null,
    set: (k, v) => void map.set(k, v),
    remove: (k) => void map.delete(k),
  };
}

function fileOf(size: number, name = 'boot.iso'): Blob & { name: string } {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) % 251;
  return Object.assign(new Blob([bytes]), { name });
}

const noDelay = async () => {};

describe('uploadIso (chunking, resume, retries)', () => {
  it('sends the file in consecutive inclusive ranges and finalizes once, with the checksum and ISO name', async () => {
    const engine = new FakeEngine();
    const file = fileOf(2500);
    const progress: number[] = [];
    const t = await uploadIso({
      file,
      storageDomainId: DOMAIN,
      transport: engine,
      chunkBytes: 1000,
      sha256: async () => 'a'.repeat(64),
      onProgress: (done) => progress.push(done),
      delay: noDelay,
    });
    expect(t.state).toBe('finished');
    expect(engine.puts).toEqual([
      [0, 999],
      [1000, 1999],
      [2000, 2499],
    ]);
    expect(engine.created).toEqual([
      {
        direction: 'upload',
        storage_domain_id: DOMAIN,
        format: 'iso',
        size_bytes: 2500,
        iso_file: 'boot.iso',
        sha256: 'a'.repeat(64),
      },
    ]);
    expect(engine.transfers.get('t1')!.data).toEqual(new Uint8Array(await file.arrayBuffer()));
    expect(progress).toEqual([0, 1000, 2000, 2500]);
    expect(engine.finalized).toEqual(['t1']);
  });

  it('continues where the host says when it kept fewer bytes than sent (offset mismatch → details.bytes_done)', async () => {
    const engine = new FakeEngine();
    engine.keepOnly.set(0, 600); // the host kept 600 of the first 1000 bytes
    const file = fileOf(2000);
    await uploadIso({ file, storageDomainId: DOMAIN, transport: engine, chunkBytes: 1000, delay: noDelay });
    expect(engine.puts).toEqual([
      [0, 999],
      [600, 1599],
      [1600, 1999],
    ]);
    expect(engine.transfers.get('t1')!.data).toEqual(new Uint8Array(await file.arrayBuffer()));
  });

  it('retries a broken request from the bytes the host holds, and gives up after five failures in a row', async () => {
    const engine = new FakeEngine();
    engine.failures.set(1, () => {
      throw new TypeError('Failed to fetch');
    });
    engine.failures.set(2, () => {
      throw new ApiError(503, 'agent_unavailable', 'host went away');
    });
    const file = fileOf(3000);
    await uploadIso({ file, storageDomainId: DOMAIN, transport: engine, chunkBytes: 1000, delay: noDelay });
    expect(engine.puts.map((p) => p[0])).toEqual([0, 1000, 1000, 1000, 2000]);
    expect(engine.transfers.get('t1')!.data).toEqual(new Uint8Array(await file.arrayBuffer()));

    const dead = new FakeEngine();
    for (let i = 0; i < 10; i++)
      dead.failures.set(i, () => {
        throw new TypeError('Failed to fetch');
      });
    await expect(
      uploadIso({ file, storageDomainId: DOMAIN, transport: dead, chunkBytes: 1000, delay: noDelay }),
    ).rejects.toThrow(TypeError);
    expect(dead.puts).toHaveLength(6);
    expect(dead.finalized).toEqual([]);
  });

  it('resumes a remembered transfer at its bytes_done after the page went away, and forgets it when done', async () => {
    const engine = new FakeEngine();
    const store = memoryStore();
    const file = fileOf(3000);
    const abort = new AbortController();
    // First attempt: the page "closes" after the first chunk.
    await expect(
      uploadIso({
        file,
        storageDomainId: DOMAIN,
        transport: engine,
        store,
        chunkBytes: 1000,
        delay: noDelay,
        signal: abort.signal,
        onProgress: (done) => {
          if (done === 1000) abort.abort();
        },
      }),
    ).rejects.toThrow();
    expect(store.map.get(resumeKey(DOMAIN, 'boot.iso', 3000))).toBe('t1');
    // Second attempt with the same file: no new transfer, continues at 1000.
    await uploadIso({
      file,
      storageDomainId: DOMAIN,
      transport: engine,
      store,
      chunkBytes: 1000,
      delay: noDelay,
    });
    expect(engine.created).toHaveLength(1);
    expect(engine.puts.map((p) => p[0])).toEqual([0, 1000, 2000]);
    expect(engine.transfers.get('t1')!.data).toEqual(new Uint8Array(await file.arrayBuffer()));
    expect(store.map.size).toBe(0);
  });

  it('starts afresh when the remembered transfer ended or is gone', async () => {
    const engine = new FakeEngine();
    const store = memoryStore();
    store.set(resumeKey(DOMAIN, 'boot.iso', 100), 'missing');
    await uploadIso({ file: fileOf(100), storageDomainId: DOMAIN, transport: engine, store, delay: noDelay });
    expect(engine.created).toHaveLength(1);
    expect(engine.finalized).toEqual(['t1']);
  });

  it('throws the engine’s refusal at finalize with its code and forgets the transfer', async () => {
    const engine = new FakeEngine();
    const store = memoryStore();
    engine.refuseFinalize = new ApiError(400, 'image_format_mismatch', 'not an ISO 9660 image');
    const err = await uploadIso({
      file: fileOf(100),
      storageDomainId: DOMAIN,
      transport: engine,
      store,
      delay: noDelay,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('image_format_mismatch');
    expect(store.map.size).toBe(0);
  });

  it('does not trust an offset outside the file', async () => {
    const engine = new FakeEngine();
    engine.failures.set(0, () => {
      throw new ApiError(416, 'transfer_offset_mismatch', 'x', { bytes_done: 10_000 });
    });
    await expect(
      uploadIso({ file: fileOf(100), storageDomainId: DOMAIN, transport: engine, delay: noDelay }),
    ).rejects.toMatchObject({ code: 'transfer_offset_mismatch' });
  });
});

describe('ISO file names', () => {
  it.each([
    ['debian-12.iso', null],
    ['', 'empty'],
    ['../etc/passwd', 'invalid'],
    ['.hidden.iso', 'invalid'],
    ['a b.iso', 'invalid'],
    ['a..b.iso', 'invalid'],
  ])('%s → %s', (name, problem) => {
    expect(isoNameProblem(name)).toBe(problem);
  });

  it('makes a browser file name acceptable', () => {
    expect(safeIsoName('My Installer (1).iso')).toBe('My_Installer__1_.iso');
    expect(safeIsoName('..x.iso')).toBe('x.iso');
    expect(isoNameProblem(safeIsoName('数据.iso'))).toBeNull();
  });
});
