import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VireoClient } from '@vireo/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveExport } from '../../packages/cli/src/commands/export/export';
import { assertUploadableFile, uploadTargetProblem } from '../../packages/cli/src/commands/image/upload';
import { resolveSnapshot } from '../../packages/cli/src/commands/snapshot/list';
import { cdromBody } from '../../packages/cli/src/commands/vm/cdrom';
import { runCli } from './support/cli';

// The CLI turns the names people read in its tables (snapshot descriptions, export names, ISO
// domain names) into the ids the API takes. These tests hold the engine's side fixed with a fake
// client answering GETs from a map; the commands' HTTP use is covered by the e2e CLI suites.

const VM = { id: '11111111-1111-4111-8111-111111111111', name: 'web1' };
const DOMAIN = { id: '22222222-2222-4222-8222-222222222222', name: 'exports' };
const S1 = '33333333-3333-4333-8333-333333333331';
const S2 = '33333333-3333-4333-8333-333333333332';
const S3 = '33333333-3333-4333-8333-333333333333';
const E1 = '44444444-4444-4444-8444-444444444441';
const E2 = '44444444-4444-4444-8444-444444444442';

function fakeClient(answers: Record<string, unknown>): { client: VireoClient; asked: string[] } {
  const asked: string[] = [];
  const get = async (path: string) => {
    asked.push(path);
    if (!(path in answers)) throw new Error(`unexpected GET ${path}`);
    return answers[path];
  };
  const list = async (path: string, query: { search?: string }) => {
    asked.push(`${path}?search=${query.search}`);
    return answers[`${path}?search=${query.search}`] ?? { items: [] };
  };
  return { client: { get, list } as unknown as VireoClient, asked };
}

const snapshots = {
  items: [
    { id: S1, description: 'before upgrade' },
    { id: S2, description: 'nightly' },
    { id: S3, description: 'nightly' },
  ],
};

describe('snapshot arguments', () => {
  it('passes ids through without asking the engine', async () => {
    const { client, asked } = fakeClient({});
    await expect(resolveSnapshot(client, VM, S2)).resolves.toBe(S2);
    expect(asked).toEqual([]);
  });

  it('finds a snapshot by its unique description', async () => {
    const { client } = fakeClient({ [`/vms/${VM.id}/snapshots`]: snapshots });
    await expect(resolveSnapshot(client, VM, 'before upgrade')).resolves.toBe(S1);
  });

  it('refuses a shared description (exit 2) and an unknown one (exit 3) and says where to look', async () => {
    const { client } = fakeClient({ [`/vms/${VM.id}/snapshots`]: snapshots });
    await expect(resolveSnapshot(client, VM, 'nightly')).rejects.toMatchObject({
      code: 'ambiguous_name',
      exitCode: 2,
      message: expect.stringContaining('vireo snapshot list web1'),
    });
    await expect(resolveSnapshot(client, VM, 'before')).rejects.toMatchObject({
      code: 'snapshot_not_found',
      exitCode: 3,
      message: expect.stringContaining('vireo snapshot list web1'),
    });
  });
});

describe('export arguments', () => {
  const exportsPath = `/storage-domains/${DOMAIN.id}/exports`;
  const exportList = {
    items: [
      // One VM exported as OVF and as OVA: one entity, two rows.
      { id: E1, name: 'web1', kind: 'vm', format: 'ovf' },
      { id: E1, name: 'web1', kind: 'vm', format: 'ova' },
      { id: E2, name: 'base', kind: 'template', format: 'ovf' },
      { id: '44444444-4444-4444-8444-444444444443', name: 'base', kind: 'vm', format: 'ova' },
    ],
    invalid: [],
  };

  it('finds an export by id or by a unique name and labels it by kind and name', async () => {
    const { client } = fakeClient({ [exportsPath]: exportList });
    await expect(resolveExport(client, DOMAIN, E2)).resolves.toEqual({ id: E2, label: 'template base' });
    await expect(resolveExport(client, DOMAIN, 'web1')).resolves.toEqual({ id: E1, label: 'vm web1' });
  });

  it('refuses a name two exports share (exit 2) and an unknown name (exit 3)', async () => {
    const { client } = fakeClient({ [exportsPath]: exportList });
    await expect(resolveExport(client, DOMAIN, 'base')).rejects.toMatchObject({
      code: 'ambiguous_name',
      exitCode: 2,
    });
    await expect(resolveExport(client, DOMAIN, 'db1')).rejects.toMatchObject({
      code: 'export_not_found',
      exitCode: 3,
      message: expect.stringContaining('vireo export list exports'),
    });
  });

  it('leaves an id it does not list to the engine (which answers with its own code)', async () => {
    const { client } = fakeClient({ [exportsPath]: exportList });
    const other = '55555555-5555-4555-8555-555555555555';
    await expect(resolveExport(client, DOMAIN, other)).resolves.toEqual({ id: other, label: other });
  });
});

describe('--cdrom values', () => {
  const iso = { id: '66666666-6666-4666-8666-666666666666', name: 'local-iso' };

  it('maps ISO-DOMAIN:FILE to the domain id and the file, by domain name or id', async () => {
    const { client } = fakeClient({ '/storage-domains?search=local-iso': { items: [iso] } });
    const connect = async () => client;
    await expect(cdromBody('local-iso:test guest.iso', connect)).resolves.toEqual({
      storage_domain_id: iso.id,
      file: 'test guest.iso',
    });
    await expect(cdromBody(`${iso.id}:a.iso`, connect)).resolves.toEqual({
      storage_domain_id: iso.id,
      file: 'a.iso',
    });
  });

  it('keeps a bare file name as the legacy ISO directory image, without asking the engine', async () => {
    const { client, asked } = fakeClient({});
    await expect(cdromBody('debian.iso', async () => client)).resolves.toEqual({ image: 'debian.iso' });
    expect(asked).toEqual([]);
  });

  it('refuses an empty domain or file (exit 2) and an unknown domain (exit 3)', async () => {
    const { client } = fakeClient({});
    const connect = async () => client;
    for (const bad of [':a.iso', 'local-iso:']) {
      await expect(cdromBody(bad, connect)).rejects.toMatchObject({ exitCode: 2 });
    }
    await expect(cdromBody('nope:a.iso', connect)).rejects.toMatchObject({ exitCode: 3 });
  });
});

describe('upload targets', () => {
  it('sends ISO files to ISO domains and disk images to data domains, saying what to do otherwise', () => {
    expect(uploadTargetProblem('iso', { name: 'local-iso', kind: 'iso' })).toBeUndefined();
    expect(uploadTargetProblem('qcow2', { name: 'local-data', kind: 'data' })).toBeUndefined();
    expect(uploadTargetProblem('raw', { name: 'local-data', kind: 'data' })).toBeUndefined();
    expect(uploadTargetProblem('iso', { name: 'local-data', kind: 'data' })).toBe(
      'local-data is a data domain: ISO files go to an ISO domain (vireo storage-domain list --kind iso); ' +
        'a disk image needs --format raw or qcow2',
    );
    expect(uploadTargetProblem('qcow2', { name: 'local-iso', kind: 'iso' })).toMatch(
      /^local-iso is an iso domain: disk images go to a data domain/,
    );
    expect(uploadTargetProblem('raw', { name: 'exports', kind: 'export' })).toMatch(
      /^exports is an export domain/,
    );
  });
});

describe('upload files', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vireo-cli-upload-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a missing file and a directory before talking to the engine (exit 2)', async () => {
    await expect(assertUploadableFile(join(dir, 'missing.iso'))).rejects.toMatchObject({
      code: 'file_unreadable',
      exitCode: 2,
      message: expect.stringContaining('no such file'),
    });
    await expect(assertUploadableFile(dir)).rejects.toMatchObject({
      code: 'file_unreadable',
      message: expect.stringContaining('not a regular file'),
    });
  });

  it('the commands say what was wrong with the value before they need an engine', async () => {
    // Nothing is logged in: these must fail on their own, without a connection.
    const config = join(dir, 'config');
    const upload = await runCli(
      ['image', 'upload', join(dir, 'nope.iso'), '--storage-domain', 'iso'],
      config,
    );
    expect(upload.code).toBe(2);
    expect(upload.stderr).toContain('Error [file_unreadable]: cannot read');
    const size = await runCli(['disk', 'create', 'd1', '--storage-domain', 'data', '--size', '10T'], config);
    expect(size.code).toBe(2);
    expect(size.stderr).toContain('--size 10T: expected a whole number of GiB');
  }, 60_000);
});
