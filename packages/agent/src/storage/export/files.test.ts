import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOMAIN_FILE_MAX_BYTES } from '@vireo/agent-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainFiles } from './files';

describe('storage.file_* path rules (DomainFiles on real directories)', () => {
  let base: string;
  let root: string;
  let outside: string;
  const dom = randomUUID();
  let files: DomainFiles;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'vireo-domfiles-'));
    root = join(base, 'dom', dom);
    outside = join(base, 'outside');
    await mkdir(root, { recursive: true });
    await mkdir(outside);
    await writeFile(join(outside, 'secret.txt'), 'do not read');
    files = new DomainFiles(async (id) => {
      if (id !== dom) throw Object.assign(new Error('not active'), { code: 'storage_domain_not_active' });
      return root;
    });
  });

  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('writes atomically, reads back, lists recursively and deletes', async () => {
    const r = await files.write({ domain_id: dom, path: 'vms/a/a.ovf', content: 'hello ✓' });
    expect(r.size_bytes).toBe(Buffer.byteLength('hello ✓'));
    expect(await readFile(join(root, 'master/vms/a/a.ovf'), 'utf8')).toBe('hello ✓');
    await files.write({ domain_id: dom, path: 'vms/a/a.ovf', content: 'second' });
    expect((await files.read({ domain_id: dom, path: 'vms/a/a.ovf' })).content).toBe('second');
    // No temporary file is left next to it.
    expect(await readdir(join(root, 'master/vms/a'))).toEqual(['a.ovf']);
    expect((await stat(join(root, 'master/vms/a/a.ovf'))).mode & 0o777).toBe(0o640);
    const { entries } = await files.list({ domain_id: dom, dir: 'vms', recursive: true });
    expect(entries.map((e) => [e.path, e.kind])).toEqual([
      ['vms/a', 'dir'],
      ['vms/a/a.ovf', 'file'],
    ]);
    expect((await files.list({ domain_id: dom, dir: 'nothing-here' })).entries).toEqual([]);
    await expect(files.delete({ domain_id: dom, path: 'vms/a' })).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    expect(await files.delete({ domain_id: dom, path: 'vms/a', recursive: true })).toEqual({ deleted: true });
    expect(await files.delete({ domain_id: dom, path: 'vms/a', recursive: true })).toEqual({
      deleted: false,
    });
    await expect(files.read({ domain_id: dom, path: 'vms/a/a.ovf' })).rejects.toMatchObject({
      code: 'file_not_found',
    });
  });

  it('refuses .. and absolute or odd paths before touching anything', async () => {
    for (const path of [
      '../x',
      'vms/../../x',
      '/etc/passwd',
      'a//b',
      '.',
      'a/./b',
      'a b',
      'a/b/c/d/e/f/g/h/i',
    ]) {
      await expect(files.write({ domain_id: dom, path, content: 'x' })).rejects.toMatchObject({
        code: 'path_not_allowed',
      });
      await expect(files.read({ domain_id: dom, path })).rejects.toMatchObject({ code: 'path_not_allowed' });
    }
    await expect(readdir(join(root, '..'))).resolves.toEqual([dom]);
  });

  it('never follows a symlink: not as a directory, not as the file, not to read or write', async () => {
    await mkdir(join(root, 'master'), { recursive: true });
    await symlink(outside, join(root, 'master/linkdir'));
    await symlink(join(outside, 'secret.txt'), join(root, 'master/link.txt'));
    await expect(files.read({ domain_id: dom, path: 'linkdir/secret.txt' })).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    await expect(
      files.write({ domain_id: dom, path: 'linkdir/new.txt', content: 'x' }),
    ).rejects.toMatchObject({ code: 'path_not_allowed' });
    await expect(files.read({ domain_id: dom, path: 'link.txt' })).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    await expect(files.write({ domain_id: dom, path: 'link.txt', content: 'x' })).rejects.toMatchObject({
      code: 'path_not_allowed',
    });
    expect((await files.list({ domain_id: dom, recursive: true })).entries.map((e) => e.path)).not.toContain(
      'linkdir',
    );
    // Deleting the link removes the link, never its target.
    expect(await files.delete({ domain_id: dom, path: 'link.txt' })).toEqual({ deleted: true });
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('do not read');
    expect(await readdir(outside)).toEqual(['secret.txt']);
    await rm(join(root, 'master/linkdir'));
  });

  it('refuses files over the size cap and domains that are not active', async () => {
    await writeFile(join(root, 'master/big'), Buffer.alloc(DOMAIN_FILE_MAX_BYTES + 1, 0x61));
    await expect(files.read({ domain_id: dom, path: 'big' })).rejects.toMatchObject({
      code: 'file_too_large',
    });
    await expect(
      files.write({ domain_id: dom, path: 'big2', content: 'é'.repeat(DOMAIN_FILE_MAX_BYTES / 2 + 1) }),
    ).rejects.toMatchObject({ code: 'file_too_large' });
    await expect(files.read({ domain_id: randomUUID(), path: 'x' })).rejects.toMatchObject({
      code: 'storage_domain_not_active',
    });
  });
});
