import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type DiskMetadataSource,
  diskMetadataOf,
  diskMetadataText,
  parseDiskMetadata,
  sha256,
} from './disk-metadata';

function source(): DiskMetadataSource {
  const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
  return {
    disk: {
      id: randomUUID(),
      storage_domain_id: randomUUID(),
      name: 'root',
      description: 'boot disk',
      format: 'qcow2',
      size_bytes: 1 << 30,
      preallocation: 'off',
      shareable: false,
      encrypted: false,
    },
    // Deliberately out of order: the metadata lists the chain root first.
    volumes: [
      { id: c, parent_id: b, format: 'qcow2', size_bytes: 1 << 30, active: true },
      { id: a, parent_id: null, format: 'qcow2', size_bytes: 1 << 30, active: false },
      { id: b, parent_id: a, format: 'qcow2', size_bytes: 1 << 30, active: false },
    ],
  };
}

describe('disk metadata', () => {
  it('orders the chain root first and round-trips through its text', () => {
    const src = source();
    const m = diskMetadataOf(src);
    expect(m.volumes.map((v) => v.id)).toEqual([src.volumes[1]?.id, src.volumes[2]?.id, src.volumes[0]?.id]);
    const text = diskMetadataText(m);
    expect(parseDiskMetadata(text, src.disk.id)).toEqual(m);
    // Same rows, same text: the controller rewrites a file only when its digest changes.
    expect(sha256(diskMetadataText(diskMetadataOf(source())))).not.toBe(sha256(text));
    expect(sha256(diskMetadataText(diskMetadataOf(src)))).toBe(sha256(text));
  });

  it('keeps a thin clone root backed by a volume outside the disk', () => {
    const src = source();
    const outside = randomUUID();
    (src.volumes[1] as { parent_id: string | null }).parent_id = outside;
    const m = parseDiskMetadata(diskMetadataText(diskMetadataOf(src)));
    expect(m.volumes[0]?.parent_id).toBe(outside);
  });

  it('refuses rows that are not one chain', () => {
    const src = source();
    (src.volumes[0] as { parent_id: string | null }).parent_id = src.volumes[1]?.id ?? null;
    expect(() => diskMetadataOf(src)).toThrow(/backs two volumes/);
  });

  it('refuses hostile files with a reason', () => {
    const m = diskMetadataOf(source());
    const bad = (patch: (x: Record<string, unknown>) => void) => {
      const copy = JSON.parse(JSON.stringify(m)) as Record<string, unknown>;
      patch(copy);
      return () => parseDiskMetadata(JSON.stringify(copy), m.id);
    };
    expect(() => parseDiskMetadata('{', m.id)).toThrow(/not JSON/);
    expect(() => parseDiskMetadata(' '.repeat(70_000), m.id)).toThrow(/larger/);
    expect(() => parseDiskMetadata(diskMetadataText(m), randomUUID())).toThrow(/describes disk/);
    expect(bad((x) => (x.name = '../etc'))).toThrow(/wrong shape at \/name/);
    expect(bad((x) => (x.key = 'c2VjcmV0'))).toThrow(/wrong shape/);
    expect(bad((x) => (x.format_version = 2))).toThrow(/wrong shape/);
    expect(bad((x) => (x.shareable = true))).toThrow(/shareable/);
    expect(bad((x) => (x.volumes as unknown[]).reverse())).toThrow(/not backed by the volume before/);
    expect(
      bad((x) => {
        const v = x.volumes as { parent_id: string | null; id: string }[];
        (v[0] as { parent_id: string | null }).parent_id = v[2]?.id ?? null;
      }),
    ).toThrow(/own chain/);
    expect(
      bad((x) => {
        const v = x.volumes as { active: boolean }[];
        (v[0] as { active: boolean }).active = true;
      }),
    ).toThrow(/leaf/);
    expect(
      bad((x) => {
        const v = x.volumes as { id: string }[];
        (v[1] as { id: string }).id = 'json:{"file":"/etc/shadow"}';
      }),
    ).toThrow(/wrong shape/);
  });
});
