import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StorageDomainRef } from '@vireo/agent-protocol';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImagePolicy } from '../../vm/images';
import { readMetadata } from './metadata';
import { StorageDomains } from './service';

const log = pino({ level: 'silent' });
const ENGINE = randomUUID();

let dir: string;
let stateDir: string;
let policy: ImagePolicy;

function ref(over: Partial<StorageDomainRef> = {}): StorageDomainRef {
  return {
    id: randomUUID(),
    name: 'data1',
    kind: 'data',
    backend: 'local',
    path: join(dir, 'local'),
    ...over,
  };
}

function service(mountTool?: (tool: 'mount' | 'umount', args: string[]) => Promise<void>) {
  return new StorageDomains({ stateDir, policy, log, ...(mountTool ? { mountTool } : {}) });
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toMatchObject({ code });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vireo-sd-'));
  stateDir = join(dir, 'state');
  await mkdir(stateDir);
  policy = new ImagePolicy([]);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('storage domains on a host', () => {
  it('creates the layout and metadata, reports capacity, and is idempotent', async () => {
    const sd = service();
    const d = ref();
    const res = await sd.activate({ domain: d, engine_id: ENGINE, create_metadata: true });
    const root = join(dir, 'local', d.id);
    expect(res.root).toBe(root);
    expect(res.total_bytes).toBeGreaterThan(0);
    expect(res.free_bytes).toBeGreaterThan(0);
    expect(res.free_bytes).toBeLessThanOrEqual(res.total_bytes);
    expect(res.metadata).toMatchObject({
      id: d.id,
      kind: 'data',
      name: 'data1',
      format_version: 1,
      owner_engine_id: ENGINE,
    });
    expect((await stat(join(root, 'images'))).isDirectory()).toBe(true);
    expect(JSON.parse(await readFile(join(root, 'dom_md', 'metadata.json'), 'utf8')).id).toBe(d.id);
    // Again (the controller re-activates on every pass): same metadata, no error.
    const again = await sd.activate({ domain: d, engine_id: ENGINE, create_metadata: false });
    expect(again.metadata.created_at).toBe(res.metadata.created_at);
    expect(await sd.capacity(d.id)).toMatchObject({ total_bytes: res.total_bytes });
    expect(sd.list()).toEqual([d.id]);
  });

  it('lets VM specs reach files of active domains only, and remembers them across a restart', async () => {
    const sd = service();
    const d = ref({ kind: 'iso', name: 'isos' });
    const { root } = await sd.activate({ domain: d, engine_id: ENGINE, create_metadata: true });
    const iso = join(root, 'images', 'iso', 'boot.iso');
    await writeFile(iso, 'iso9660');
    await expect(policy.checkFile(iso, '/cdrom/path')).resolves.toBe(iso);

    // A new agent process: a fresh policy and service over the same state directory.
    policy = new ImagePolicy([]);
    const restarted = service();
    await restarted.restore();
    expect(restarted.list()).toEqual([d.id]);
    await expect(policy.checkFile(iso, '/cdrom/path')).resolves.toBe(iso);
    expect(await restarted.rootOf(d.id)).toBe(root);

    expect(await restarted.deactivate(d.id)).toEqual({ id: d.id, was_active: true });
    expect(await restarted.deactivate(d.id)).toEqual({ id: d.id, was_active: false });
    await expectCode(policy.checkFile(iso, '/cdrom/path'), 'path_not_allowed');
    await expectCode(restarted.rootOf(d.id), 'storage_domain_not_active');
    await expectCode(restarted.capacity(d.id), 'storage_domain_not_active');
    const third = service();
    await third.restore();
    expect(third.list()).toEqual([]);
  });

  it('lists ISO files: regular files with safe names only, sorted', async () => {
    const sd = service();
    const d = ref({ kind: 'iso', name: 'isos' });
    const { root } = await sd.activate({ domain: d, engine_id: ENGINE, create_metadata: true });
    const isoDir = join(root, 'images', 'iso');
    await writeFile(join(isoDir, 'b.iso'), 'bb');
    await writeFile(join(isoDir, 'a.iso'), 'a');
    await writeFile(join(isoDir, '.hidden.iso'), 'h');
    await mkdir(join(isoDir, 'subdir'));
    await symlink('/etc/passwd', join(isoDir, 'link.iso'));
    const files = await sd.listIsos(d.id);
    expect(files.map((f) => [f.name, f.size_bytes])).toEqual([
      ['a.iso', 1],
      ['b.iso', 2],
    ]);
  });

  it('refuses a directory that holds another domain, another kind or another engine', async () => {
    const sd = service();
    const d = ref();
    const { root } = await sd.activate({ domain: d, engine_id: ENGINE, create_metadata: true });
    await sd.deactivate(d.id);
    // Another engine.
    await expectCode(
      sd.activate({ domain: d, engine_id: randomUUID(), create_metadata: true }),
      'storage_domain_foreign',
    );
    // Same id, other kind.
    await expectCode(
      sd.activate({ domain: { ...d, kind: 'iso' }, engine_id: ENGINE, create_metadata: true }),
      'storage_domain_foreign',
    );
    // A directory named for one id holding another's metadata (copied by hand).
    const other = ref();
    await mkdir(join(dir, 'local', other.id, 'dom_md'), { recursive: true });
    await writeFile(
      join(dir, 'local', other.id, 'dom_md', 'metadata.json'),
      await readFile(join(root, 'dom_md', 'metadata.json')),
    );
    await expectCode(
      sd.activate({ domain: other, engine_id: ENGINE, create_metadata: true }),
      'storage_domain_foreign',
    );
    // Without create_metadata an empty place is not a domain.
    await expectCode(
      sd.activate({ domain: ref(), engine_id: ENGINE, create_metadata: false }),
      'storage_metadata_invalid',
    );
    expect(sd.list()).toEqual([]);
  });

  it('rejects hostile metadata', async () => {
    const sd = service();
    const d = ref();
    const root = join(dir, 'local', d.id);
    await mkdir(join(root, 'dom_md'), { recursive: true });
    const file = join(root, 'dom_md', 'metadata.json');
    for (const text of ['{not json', JSON.stringify({ id: d.id }), 'x'.repeat(70_000)]) {
      await writeFile(file, text);
      await expectCode(
        sd.activate({ domain: d, engine_id: ENGINE, create_metadata: true }),
        'storage_metadata_invalid',
      );
    }
    await writeFile(
      file,
      JSON.stringify({
        id: d.id,
        name: 'x',
        kind: 'data',
        format_version: 99,
        owner_engine_id: null,
        created_at: '',
        updated_at: '',
      }),
    );
    await expectCode(
      sd.activate({ domain: d, engine_id: ENGINE, create_metadata: true }),
      'storage_metadata_invalid',
    );
  });

  it('releases ownership on detach so another engine can claim the domain, found by probe', async () => {
    const sd = service();
    const d = ref({ name: 'moving' });
    await sd.activate({ domain: d, engine_id: ENGINE, create_metadata: true });
    await sd.deactivate(d.id, true);
    const probed = await sd.probe({ backend: 'local', path: join(dir, 'local') });
    expect(probed).toHaveLength(1);
    expect(probed[0]).toMatchObject({ id: d.id, name: 'moving', kind: 'data', owner_engine_id: null });
    const other = randomUUID();
    const res = await sd.activate({ domain: d, engine_id: other, create_metadata: true });
    expect(res.metadata.owner_engine_id).toBe(other);
    const md = await readMetadata(join(dir, 'local', d.id));
    expect(md?.owner_engine_id).toBe(other);
  });

  it('posix: the directory must exist already and be writable', async () => {
    const sd = service();
    await expectCode(
      sd.activate({
        domain: ref({ backend: 'posix', path: join(dir, 'not-mounted') }),
        engine_id: ENGINE,
        create_metadata: true,
      }),
      'storage_unreachable',
    );
    await writeFile(join(dir, 'file'), '');
    await expectCode(
      sd.activate({
        domain: ref({ backend: 'posix', path: join(dir, 'file') }),
        engine_id: ENGINE,
        create_metadata: true,
      }),
      'storage_unreachable',
    );
    await mkdir(join(dir, 'mnt'));
    const res = await sd.activate({
      domain: ref({ backend: 'posix', path: join(dir, 'mnt') }),
      engine_id: ENGINE,
      create_metadata: true,
    });
    expect(res.total_bytes).toBeGreaterThan(0);
  });

  it('nfs: mounts with the derived argv, unmounts on deactivate and when activation fails', async () => {
    const calls: string[][] = [];
    const sd = service(async (tool, args) => {
      calls.push([tool, ...args]);
    });
    const mnt = join(dir, 'nfs', 'mnt1');
    const d = ref({
      backend: 'nfs',
      path: mnt,
      nfs_server: 'filer.example',
      nfs_export: '/exports/vireo',
      mount_options: 'nfsvers=4.2,timeo=50',
    });
    // The fake mount leaves a plain directory there, which is enough for the layout code.
    await sd.activate({ domain: d, engine_id: ENGINE, create_metadata: true });
    expect(calls).toEqual([
      [
        'mount',
        '-t',
        'nfs',
        '-o',
        'soft,retrans=3,nosharecache,nfsvers=4.2,timeo=50',
        'filer.example:/exports/vireo',
        mnt,
      ],
    ]);
    calls.length = 0;
    // Nothing is really mounted, so deactivate has nothing to unmount: it checks, not assumes.
    await sd.deactivate(d.id);
    expect(calls).toEqual([]);

    // A failure after mounting (metadata of another engine) unmounts again.
    const foreign = randomUUID();
    await sd.activate({ domain: d, engine_id: ENGINE, create_metadata: true });
    await sd.deactivate(d.id, true);
    await sd.activate({ domain: d, engine_id: foreign, create_metadata: true });
    await sd.deactivate(d.id);
    calls.length = 0;
    await expectCode(
      sd.activate({ domain: d, engine_id: ENGINE, create_metadata: false }),
      'storage_domain_foreign',
    );
    expect(calls.map((c) => c[0])).toEqual(['mount', 'umount']);
    expect(calls[1]).toEqual(['umount', mnt]);
  });

  it('nfs: a failing mount is storage_unreachable and leaves nothing active', async () => {
    const { AgentError } = await import('../../util/errors');
    const sd = service(async () => {
      throw new AgentError('storage_unreachable', 'mount.nfs: Connection refused');
    });
    const d = ref({ backend: 'nfs', path: join(dir, 'nfs', 'x'), nfs_server: '192.0.2.1', nfs_export: '/e' });
    await expectCode(
      sd.activate({ domain: d, engine_id: ENGINE, create_metadata: true }),
      'storage_unreachable',
    );
    expect(sd.list()).toEqual([]);
  });
});
