import { describe, expect, it } from 'vitest';
import { type Disk, diskKind, formatSize, parseSize } from './kind';

describe('disk sizes on the command line', () => {
  it.each([
    ['10', 10 * 1024 ** 3],
    ['10G', 10 * 1024 ** 3],
    ['512m', 512 * 1024 ** 2],
    ['1048576B', 1024 ** 2],
  ])('parses %s', (text, bytes) => {
    expect(parseSize(text)).toEqual({ size_bytes: bytes });
  });

  it.each(['', '0', '-1', '1.5', '10T', 'ten', undefined])('refuses %s', (text) => {
    expect(parseSize(text)).toBeUndefined();
  });

  it('prints whole GiB as GiB, the rest as MiB', () => {
    expect(formatSize(2 * 1024 ** 3)).toBe('2 GiB');
    expect(formatSize(64 * 1024 ** 2)).toBe('64 MiB');
  });
});

describe('disk list columns', () => {
  it('says which disks are encrypted', () => {
    const column = diskKind.columns.find((c) => c.header === 'ENCRYPTED');
    expect(column).toBeDefined();
    expect(column?.value({ encrypted: true } as Disk)).toBe('yes');
    expect(column?.value({ encrypted: false } as Disk)).toBe('no');
  });
});
