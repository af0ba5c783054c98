import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTransfer, finalizeTransfer, getTransfer, putChunk, VireoClient } from '@vireo/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Platform, startPlatform, until } from '../support/platform';

const MiB = 1024 * 1024;
const IDLE_MS = 3000;

/**
 * Idle image transfers expire (engine binary, a real agent, a local data domain): with
 * `VIREO_TRANSFER_IDLE_TIMEOUT_MS` at 3 s, an upload abandoned after its first chunk ends
 * `cancelled` with `transfer_expired`, its staging file is gone from the domain, the disk it created
 * is removed and its operation fails with the same code; an upload that keeps sending chunks more
 * slowly than the timeout in total, but never idle that long, is left alone and finishes.
 */
describe('image transfer expiry (engine + agent)', () => {
  let platform: Platform | undefined;
  let client: VireoClient;
  let domain: { id: string; parent: string };
  let work: string;

  beforeAll(async () => {
    platform = await startPlatform({
      prefix: 'vireo-xfer-expiry-',
      hostName: 'expiry-host',
      engineEnv: { VIREO_TRANSFER_IDLE_TIMEOUT_MS: String(IDLE_MS) },
    });
    domain = await platform.addLocalDataDomain('expiry-data');
    client = new VireoClient({
      baseUrl: platform.engine.url,
      ca: platform.engine.caPem,
      token: platform.api.bearer,
    });
    work = await mkdtemp(join(tmpdir(), 'vireo-xfer-expiry-files-'));
  }, 180_000);

  afterAll(async () => {
    await platform?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const staging = () => {
    const dir = join(domain.parent, domain.id, 'staging');
    return existsSync(dir) ? readdirSync(dir) : [];
  };

  it('expires an abandoned upload: partial file and new disk gone, operation failed with transfer_expired', async () => {
    const file = join(work, 'abandoned.raw');
    writeFileSync(file, Buffer.alloc(4 * MiB, 7));
    const { transfer, operation } = await createTransfer(client, {
      direction: 'upload',
      storage_domain_id: domain.id,
      format: 'raw',
      size_bytes: 4 * MiB,
      disk_name: 'abandoned',
    });
    const diskId = transfer.disk_id as string;
    await putChunk(client, { id: transfer.id, file, start: 0, end: MiB - 1, total: 4 * MiB });
    expect(staging()).toEqual([`${transfer.id}.part`]);

    const ended = await until(
      'the transfer to expire',
      async () => {
        const t = await getTransfer(client, transfer.id);
        return t.state !== 'transferring' ? t : undefined;
      },
      60_000,
    );
    expect(ended.state).toBe('cancelled');
    expect(ended.error).toMatchObject({ code: 'transfer_expired', details: { bytes_done: MiB } });
    expect(staging()).toEqual([]);
    expect((await (platform as Platform).api.call('GET', `/disks/${diskId}`)).status).toBe(404);
    const op = await (platform as Platform).api.operationOf({ status: 202, json: { operation } }, 60);
    expect(op).toMatchObject({ state: 'failed', error: { code: 'transfer_expired' } });
    const events = (
      await (platform as Platform).api.call(
        'GET',
        `/events?kind=image_transfer.expired&object_id=${transfer.id}`,
      )
    ).json.items;
    expect(events).toHaveLength(1);
  }, 120_000);

  it('leaves an upload that keeps sending alone, even when it lasts longer than the idle timeout', async () => {
    const file = join(work, 'slow.raw');
    writeFileSync(file, Buffer.alloc(4 * MiB, 9));
    const { transfer } = await createTransfer(client, {
      direction: 'upload',
      storage_domain_id: domain.id,
      format: 'raw',
      size_bytes: 4 * MiB,
      disk_name: 'slow',
    });
    const started = Date.now();
    for (let i = 0; i < 4; i++) {
      await putChunk(client, {
        id: transfer.id,
        file,
        start: i * MiB,
        end: (i + 1) * MiB - 1,
        total: 4 * MiB,
      });
      // A third of the timeout between chunks: idle never, but 4 chunks span more than the timeout.
      if (i < 3) await new Promise((r) => setTimeout(r, IDLE_MS / 3));
    }
    expect(Date.now() - started).toBeGreaterThan(IDLE_MS);
    const done = await finalizeTransfer(client, transfer.id);
    expect(done.state).toBe('finished');
    expect((await (platform as Platform).api.call('GET', `/disks/${done.disk_id}`)).json.state).toBe('ok');
  }, 120_000);
});
