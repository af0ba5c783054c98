import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readQcow2Header } from './image-header';

describe('readQcow2Header on images qemu-img made', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vireo-header-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { stdio: 'pipe' });

  it('names the backing file and its format, and nothing for a plain image', async () => {
    const base = join(dir, 'base.raw');
    const overlay = join(dir, 'overlay.qcow2');
    qemuImg('create', '-q', '-f', 'raw', base, '1M');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', overlay);
    expect(await readQcow2Header(overlay)).toMatchObject({
      version: 3,
      backingFile: 'base.raw',
      backingFormat: 'raw',
      hasExternalData: false,
    });
    const plain = join(dir, 'plain.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', plain, '1M');
    const header = await readQcow2Header(plain);
    expect(header?.backingFile).toBeUndefined();
    expect(header?.backingFormat).toBeUndefined();
    expect(await readQcow2Header(base)).toBeUndefined();
  });
});
