import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNfsServer, type TestNfsServer } from '../../../test/support/nfs-server';
import type { UserspaceNfsDomain } from '../src/storage/domains/service';
import { ensureStagingRoom, NfsMemoryState } from '../src/storage/nfs/memory-state';

/**
 * The memory-state transfer of userspace-mode nfs domains (ADR 027 decision 15) against a real NFS
 * server: a state streams onto the export whole, under its own name only; a failure before the
 * rename leaves no temporary file; it streams back byte for byte into a 0600 file; missing or
 * empty states and a staging file system without room are refused with codes, nothing left behind.
 */
describe('memory states over NFS (nfs-ganesha)', () => {
  let server: TestNfsServer;
  let local = '';
  let domain: UserspaceNfsDomain;
  const diskId = randomUUID();
  const diskDir = () => join(server.dir, domain.domainId, 'images', diskId);
  const stateOf = (snapshotId: string) => {
    const rel = `images/${diskId}/${snapshotId}.memory`;
    return new NfsMemoryState(domain, rel, `${domain.root}/${rel}`);
  };
  const leftovers = () => fs.readdirSync(diskDir()).filter((f) => f.includes('.tmp'));

  beforeAll(async () => {
    server = await startNfsServer('nfsmemst');
    local = await mkdtemp(join(tmpdir(), 'vireo-nfsmemst-'));
    const id = randomUUID();
    domain = {
      domainId: id,
      location: { server: server.address, export: server.exportPath },
      root: `/run/vireo-agent/storage/${id}/${id}`,
    };
    fs.mkdirSync(join(server.dir, id, 'images', diskId), { recursive: true });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    if (local) await rm(local, { recursive: true, force: true });
  });

  it('uploads a state whole under its name and streams it back byte for byte', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const src = join(local, 'src');
    fs.writeFileSync(src, bytes);
    const state = stateOf(randomUUID());
    await state.checkNew('/memory/path');
    expect(await state.size()).toBeUndefined();

    expect(await state.upload(src)).toBe(bytes.length);
    expect(await state.size()).toBe(bytes.length);
    expect(fs.readFileSync(join(diskDir(), `${state.rel.split('/').pop()}`)).equals(bytes)).toBe(true);
    expect(leftovers()).toEqual([]);
    await expect(state.checkNew('/memory/path')).rejects.toMatchObject({ code: 'image_exists' });

    const back = join(local, 'back.staging');
    expect(await state.download(back, '/restore_memory/path')).toBe(bytes.length);
    expect(fs.readFileSync(back).equals(bytes)).toBe(true);
    expect(fs.statSync(back).mode & 0o777).toBe(0o600);
    fs.rmSync(back);
  });

  it('leaves no temporary file when the rename into place fails', async () => {
    const src = join(local, 'src2');
    fs.writeFileSync(src, randomBytes(256 * 1024));
    const sid = randomUUID();
    // A directory where the state should land: the data is written, the RENAME is refused.
    fs.mkdirSync(join(diskDir(), `${sid}.memory`));
    await expect(stateOf(sid).upload(src)).rejects.toMatchObject({ code: 'storage_unreachable' });
    expect(leftovers()).toEqual([]);
    expect(fs.statSync(join(diskDir(), `${sid}.memory`)).isDirectory()).toBe(true);
  });

  it('refuses missing and empty states and a staging file system without room, leaving nothing', async () => {
    const out = join(local, 'refused.staging');
    await expect(stateOf(randomUUID()).download(out, '/r')).rejects.toMatchObject({
      code: 'image_not_found',
    });
    expect(fs.existsSync(out)).toBe(false);

    const empty = randomUUID();
    fs.writeFileSync(join(diskDir(), `${empty}.memory`), '');
    await expect(stateOf(empty).download(out, '/r')).rejects.toMatchObject({ code: 'image_invalid' });
    expect(fs.existsSync(out)).toBe(false);

    await expect(ensureStagingRoom(local, 2 ** 60)).rejects.toMatchObject({ code: 'image_too_large' });
  });
});
