import type { VmDisk } from '@vireo/agent-protocol';
import { describe, expect, it } from 'vitest';
import { diskChain, requireDiskKeys, usedDiskKeys } from './disk-chains';
import type { ImageLayer, ImagePolicy } from './images';

/** An image policy whose chain check answers `layers` (the header walk itself is images.ts's). */
function policy(layers: ImageLayer[]): ImagePolicy {
  return { checkDisk: async () => layers } as unknown as ImagePolicy;
}

const disk = (extra: Partial<VmDisk> = {}): VmDisk => ({
  id: 'd1',
  path: '/dom/images/clone/top',
  format: 'qcow2',
  interface: 'virtio',
  bootable: false,
  readonly: false,
  ...extra,
});

const LUKS = 2;
const layers = (top: number, mid: number, base: number): ImageLayer[] => [
  { path: '/dom/images/clone/top', format: 'qcow2', cryptMethod: top },
  { path: '/dom/images/clone/mid', format: 'qcow2', cryptMethod: mid },
  { path: '/dom/images/tmpl/base', format: 'qcow2', cryptMethod: base },
];

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('diskChain: which key opens which layer', () => {
  it('gives own-directory layers the disk key and the template layers the base key', async () => {
    const d = disk({ encryption_secret_id: 'key-d1', base_encryption_secret_id: 'key-t' });
    expect(await diskChain(policy(layers(LUKS, LUKS, LUKS)), d, '/disks/0/path')).toEqual([
      { path: '/dom/images/clone/top', format: 'qcow2', secretId: 'key-d1', writable: true },
      { path: '/dom/images/clone/mid', format: 'qcow2', secretId: 'key-d1', writable: true },
      { path: '/dom/images/tmpl/base', format: 'qcow2', secretId: 'key-t', writable: false },
    ]);
  });

  it('keeps a plain template base keyless under an encrypted clone', async () => {
    const chain = await diskChain(
      policy(layers(LUKS, LUKS, 0)),
      disk({ encryption_secret_id: 'key-d1' }),
      '/disks/0/path',
    );
    expect(chain[2]).toEqual({ path: '/dom/images/tmpl/base', format: 'qcow2', writable: false });
  });

  it.each([
    ['an encrypted layer without a key', layers(LUKS, LUKS, LUKS), { encryption_secret_id: 'key-d1' }],
    [
      'a key for a plain layer',
      layers(LUKS, 0, LUKS),
      { encryption_secret_id: 'key-d1', base_encryption_secret_id: 'key-t' },
    ],
    ['legacy qcow2 AES', layers(1, 0, 0), { encryption_secret_id: 'key-d1' }],
    ['an encrypted layer on a disk the spec calls plain', layers(0, 0, LUKS), {}],
  ])('refuses %s (image_invalid)', async (_what, chain, extra) => {
    expect(await codeOf(diskChain(policy(chain), disk(extra), '/disks/0/path'))).toBe('image_invalid');
  });
});

describe('disk keys in vm.start / vm.attach_disk', () => {
  const disks = [
    disk({ encryption_secret_id: 'key-d1', base_encryption_secret_id: 'key-t' }),
    disk({ id: 'p' }),
  ];

  it('needs a value for every key a disk names', () => {
    expect(() => requireDiskKeys(disks, { 'key-d1': 'a' })).toThrow(/no key given/);
    expect(() => requireDiskKeys(disks, { 'key-d1': 'a', 'key-t': 'b' })).not.toThrow();
  });

  it('passes on only the keys the disks name', () => {
    expect(usedDiskKeys(disks, { 'key-d1': 'a', 'key-t': 'b', other: 'c' })).toEqual({
      'key-d1': 'a',
      'key-t': 'b',
    });
  });
});
