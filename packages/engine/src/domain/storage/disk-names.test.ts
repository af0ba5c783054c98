import { describe, expect, it } from 'vitest';
import { ownedDiskName } from './disk-names';

describe('ownedDiskName', () => {
  it('names a disk after its owner and position', () => {
    expect(ownedDiskName('web-1', 0)).toBe('web-1_Disk1');
    expect(ownedDiskName('web-1', 11)).toBe('web-1_Disk12');
  });

  it('cuts a long owner name so the whole name fits 64 characters', () => {
    const name = ownedDiskName('v'.repeat(64), 99);
    expect(name).toHaveLength(64);
    expect(name.endsWith('_Disk100')).toBe(true);
  });
});
