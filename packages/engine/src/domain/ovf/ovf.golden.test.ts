import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { templateDisks, templateEntity, vmDisks, vmEntity, vmNics } from './fixtures.test-support';
import { parseOvf, writeOvf } from './index';

const dir = join(import.meta.dirname, 'testdata');

/** Set VIREO_UPDATE_GOLDEN=1 to rewrite the expected files after an intended change (then review the diff). */
function golden(name: string, actual: string): string {
  const path = join(dir, name);
  if (process.env.VIREO_UPDATE_GOLDEN === '1') writeFileSync(path, actual);
  return readFileSync(path, 'utf8');
}

describe('OVF golden files', () => {
  it('writes a VM with disks, CD-ROM and NICs exactly as the golden file', () => {
    const text = writeOvf(vmEntity, vmDisks, vmNics);
    expect(text).toBe(golden('vm.ovf', text));
  });

  it('writes a template version exactly as the golden file', () => {
    const text = writeOvf(templateEntity, templateDisks, []);
    expect(text).toBe(golden('template.ovf', text));
  });

  it('reads the golden VM back losslessly', () => {
    const doc = parseOvf(readFileSync(join(dir, 'vm.ovf'), 'utf8'));
    expect(doc).toEqual({ ...vmEntity, disks: vmDisks, nics: vmNics });
  });

  it('reads the golden template back losslessly', () => {
    const doc = parseOvf(readFileSync(join(dir, 'template.ovf'), 'utf8'));
    expect(doc).toEqual({ ...templateEntity, disks: templateDisks, nics: [] });
  });

  it('sorts disks by position and round-trips a disk list given out of order', () => {
    const reversed = [...vmDisks].reverse();
    const doc = parseOvf(writeOvf(vmEntity, reversed, vmNics));
    expect(doc.disks.map((d) => d.position)).toEqual([0, 1]);
  });

  it('keeps an older-form CD-ROM image and a VM without disks or NICs', () => {
    const entity = { ...vmEntity, cdrom: { image: 'tiny.iso' }, boot_order: ['cdrom' as const] };
    const doc = parseOvf(writeOvf(entity, [], []));
    expect(doc).toEqual({ ...entity, disks: [], nics: [] });
  });

  it('replaces characters XML cannot carry instead of writing a broken file', () => {
    const entity = { ...vmEntity, description: 'bell\u0007here' };
    expect(parseOvf(writeOvf(entity, vmDisks, vmNics)).description).toBe('bell\uFFFDhere');
  });
});
