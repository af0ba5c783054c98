import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanDisks } from './scan-disks';

let root: string;
const img = (...a: string[]) => execFileSync('qemu-img', a, { stdio: 'pipe' });

function disk(): { id: string; dir: string } {
  const id = randomUUID();
  const dir = join(root, 'images', id);
  mkdirSync(dir, { recursive: true });
  return { id, dir };
}
function base(dir: string, id = randomUUID(), fmt = 'qcow2'): string {
  img('create', '-q', '-f', fmt, join(dir, id), '1M');
  return id;
}
function overlay(dir: string, backing: string, id = randomUUID(), backingFmt = 'qcow2'): string {
  img('create', '-q', '-f', 'qcow2', '-b', backing, '-F', backingFmt, join(dir, id));
  return id;
}
/** Rewrites a volume's backing name without opening it (what a hostile copy of a domain can hold). */
function setBacking(path: string, name: string, fmt = 'qcow2'): void {
  img('rebase', '-q', '-u', '-f', 'qcow2', '-b', name, '-F', fmt, path);
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'vireo-scan-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('scanDisks', () => {
  it('reports a snapshot chain root first with sizes and parents', async () => {
    const d = disk();
    const b = base(d.dir);
    const top = overlay(d.dir, b);
    const [found] = await scanDisks(root, { diskIds: [d.id] });
    expect(found?.problem).toBeUndefined();
    expect(found?.volumes.map((v) => [v.volume_id, v.parent?.volume_id ?? null])).toEqual([
      [b, null],
      [top, b],
    ]);
    expect(found?.volumes[1]).toMatchObject({ format: 'qcow2', virtual_size: 1048576, encrypted: false });
  });

  it('accepts a thin clone of a parentless base in another disk directory, with a raw base', async () => {
    const t = disk();
    const tb = base(t.dir, randomUUID(), 'raw');
    const c = disk();
    const top = overlay(c.dir, `../${t.id}/${tb}`, randomUUID(), 'raw');
    const [found] = await scanDisks(root, { diskIds: [c.id] });
    expect(found?.problem).toBeUndefined();
    expect(found?.volumes[0]?.parent).toEqual({ disk_id: t.id, volume_id: tb, format: 'raw' });
    expect(found?.volumes[0]?.volume_id).toBe(top);
  });

  it('refuses a parent outside the domain (absolute path, and ../.. escapes)', async () => {
    const outside = join(root, 'outside.qcow2');
    img('create', '-q', '-f', 'qcow2', outside, '1M');
    const d = disk();
    const v = overlay(d.dir, outside);
    let [found] = await scanDisks(root, { diskIds: [d.id] });
    expect(found?.problem?.code).toBe('image_chain_invalid');
    expect(found?.volumes).toEqual([]);
    setBacking(join(d.dir, v), `../../${randomUUID()}/${randomUUID()}`);
    [found] = await scanDisks(root, { diskIds: [d.id] });
    expect(found?.problem?.code).toBe('image_chain_invalid');
  });

  it('refuses a json: backing name before qemu-img could follow it', async () => {
    const d = disk();
    const v = base(d.dir);
    setBacking(join(d.dir, v), 'json:{"file":{"driver":"file","filename":"/etc/shadow"}}', 'raw');
    const [found] = await scanDisks(root, { diskIds: [d.id] });
    expect(found?.problem?.code).toBe('image_json_filename');
  });

  it('refuses a loop, two chains, a missing parent and a thin clone of a non-base volume', async () => {
    const loop = disk();
    const a = base(loop.dir);
    const b = overlay(loop.dir, a);
    setBacking(join(loop.dir, a), b);
    const two = disk();
    base(two.dir);
    base(two.dir);
    const missing = disk();
    const m = base(missing.dir);
    setBacking(join(missing.dir, m), randomUUID());
    const t = disk();
    const tb = base(t.dir);
    const tt = overlay(t.dir, tb);
    const clone = disk();
    overlay(clone.dir, `../${t.id}/${tt}`);
    const found = await scanDisks(root, { diskIds: [loop.id, two.id, missing.id, clone.id] });
    expect(found.map((f) => f.problem?.code)).toEqual([
      'image_chain_invalid',
      'image_chain_invalid',
      'image_chain_invalid',
      'image_chain_invalid',
    ]);
    expect(found[0]?.problem?.message).toMatch(/loop/);
  });

  it('refuses symlinked volumes and disk directories, merge markers, and raw files with another magic', async () => {
    const linked = disk();
    const target = join(root, 'target.qcow2');
    img('create', '-q', '-f', 'qcow2', target, '1M');
    symlinkSync(target, join(linked.dir, randomUUID()));
    const dirLink = randomUUID();
    symlinkSync(linked.dir, join(root, 'images', dirLink));
    const merging = disk();
    base(merging.dir);
    writeFileSync(join(merging.dir, 'merge.json'), '{}');
    const vmdk = disk();
    writeFileSync(join(vmdk.dir, randomUUID()), Buffer.from('KDMV\0\0\0\0'));
    const found = await scanDisks(root, { diskIds: [linked.id, dirLink, merging.id, vmdk.id] });
    expect(found.map((f) => f.problem?.code)).toEqual([
      'path_not_allowed',
      'image_not_found',
      'merge_pending',
      'image_unsupported',
    ]);
  });

  it('lists every UUID directory but skips excluded ones and the iso directory', async () => {
    const d = disk();
    base(d.dir);
    mkdirSync(join(root, 'images', 'iso'), { recursive: true });
    const all = await scanDisks(root);
    expect(all.some((f) => f.disk_id === d.id)).toBe(true);
    expect(all.some((f) => f.disk_id === 'iso')).toBe(false);
    const without = await scanDisks(root, { excludeDiskIds: [d.id.toUpperCase()] });
    expect(without.some((f) => f.disk_id === d.id)).toBe(false);
  });
});
