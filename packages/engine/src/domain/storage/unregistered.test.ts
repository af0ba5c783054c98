import { randomUUID } from 'node:crypto';
import type { ScannedDisk } from '@vireo/agent-protocol';
import { describe, expect, it } from 'vitest';
import type { OvfDocument } from '../ovf';
import { type DiskMetadata, DiskMetadataError, diskMetadataOf } from './disk-metadata';
import { freeName, matchDisk, matchVm, type RegisteredFacts } from './unregistered';

const none: RegisteredFacts = { templateBaseVolumes: new Map() };
const MiB = 1048576;

function chain(base?: { disk_id: string; volume_id: string }): { scan: ScannedDisk; meta: DiskMetadata } {
  const diskId = randomUUID();
  const [a, b] = [randomUUID(), randomUUID()];
  const scan: ScannedDisk = {
    disk_id: diskId,
    volumes: [
      {
        volume_id: a,
        format: 'qcow2',
        virtual_size: 64 * MiB,
        actual_size: 1000,
        encrypted: false,
        parent: base ? { ...base, format: 'qcow2' } : null,
      },
      {
        volume_id: b,
        format: 'qcow2',
        virtual_size: 64 * MiB,
        actual_size: 1000,
        encrypted: false,
        parent: { disk_id: diskId, volume_id: a, format: 'qcow2' },
      },
    ],
  };
  const meta = diskMetadataOf({
    disk: {
      id: diskId,
      storage_domain_id: randomUUID(),
      name: 'data',
      description: '',
      format: 'qcow2',
      size_bytes: 64 * MiB,
      preallocation: 'off',
      shareable: false,
      encrypted: false,
    },
    volumes: [
      { id: a, parent_id: base?.volume_id ?? null, format: 'qcow2', size_bytes: 64 * MiB, active: false },
      { id: b, parent_id: a, format: 'qcow2', size_bytes: 64 * MiB, active: true },
    ],
  });
  return { scan, meta };
}

function ovfOf(diskId: string, volumeId: string, kind: 'vm' | 'template' = 'vm'): OvfDocument {
  return {
    kind,
    id: randomUUID(),
    name: 'web',
    description: '',
    cpus: 1,
    memory_mib: 128,
    os_type: 'other_linux',
    boot_order: ['disk'],
    console: 'vnc',
    cdrom: null,
    template: kind === 'template' ? { version_of: null, version_number: 1 } : null,
    created_at: null,
    disks: [
      {
        disk_id: diskId,
        volume_id: volumeId,
        name: 'data',
        description: '',
        size_bytes: 64 * MiB,
        format: 'qcow2',
        interface: 'virtio',
        bootable: true,
        position: 0,
        file_bytes: null,
      },
    ],
    nics: [],
  };
}

describe('matchDisk', () => {
  it('lists a disk whose scanned chain is its metadata chain, leaf active', () => {
    const { scan, meta } = chain();
    const d = matchDisk(scan, meta, none);
    expect(d.problem).toBeNull();
    expect(d).toMatchObject({ name: 'data', format: 'qcow2', size_bytes: 64 * MiB, base: null });
    expect(d.volumes.map((v) => v.active)).toEqual([false, true]);
  });

  it('keeps the scan problem, and refuses missing, invalid or encrypted metadata', () => {
    const { scan, meta } = chain();
    expect(
      matchDisk({ ...scan, volumes: [], problem: { code: 'image_json_filename', message: 'x' } }, meta, none)
        .problem?.code,
    ).toBe('image_json_filename');
    expect(matchDisk(scan, undefined, none).problem?.code).toBe('disk_metadata_missing');
    expect(matchDisk(scan, new DiskMetadataError('not JSON'), none).problem).toEqual({
      code: 'disk_metadata_invalid',
      message: 'not JSON',
    });
    expect(matchDisk(scan, { ...meta, encrypted: true }, none).problem?.code).toBe('disk_encrypted');
  });

  it('refuses a chain that differs from the metadata (extra volume, other parent, other format)', () => {
    const { scan, meta } = chain();
    expect(matchDisk(scan, { ...meta, volumes: meta.volumes.slice(0, 1) }, none).problem?.code).toBe(
      'disk_chain_mismatch',
    );
    const swapped = { ...scan, volumes: [...scan.volumes].reverse() };
    expect(matchDisk(swapped, meta, none).problem?.code).toBe('disk_chain_mismatch');
    const raw = { ...scan, volumes: scan.volumes.map((v) => ({ ...v, format: 'raw' as const })) };
    expect(matchDisk(raw, meta, none).problem?.code).toBe('disk_chain_mismatch');
  });

  it('accepts a thin clone only when its base is a registered template disk of the domain', () => {
    const base = { disk_id: randomUUID(), volume_id: randomUUID() };
    const { scan, meta } = chain(base);
    expect(matchDisk(scan, meta, none).problem?.code).toBe('disk_base_not_registered');
    const wrongOwner: RegisteredFacts = { templateBaseVolumes: new Map([[base.volume_id, randomUUID()]]) };
    expect(matchDisk(scan, meta, wrongOwner).problem?.code).toBe('disk_base_not_registered');
    const ok: RegisteredFacts = { templateBaseVolumes: new Map([[base.volume_id, base.disk_id]]) };
    expect(matchDisk(scan, meta, ok)).toMatchObject({ problem: null, base });
  });
});

describe('matchVm', () => {
  it('is registrable when each disk is an unregistered disk whose leaf the OVF names', () => {
    const { scan, meta } = chain();
    const disk = matchDisk(scan, meta, none);
    const leaf = scan.volumes[1]?.volume_id as string;
    const ovf = ovfOf(scan.disk_id, leaf);
    expect(matchVm(ovf.id, ovf, new Map([[disk.id, disk]])).problem).toBeNull();
    expect(matchVm(ovf.id, ovf, new Map()).problem?.code).toBe('disk_missing');
    const other = ovfOf(scan.disk_id, scan.volumes[0]?.volume_id as string);
    expect(matchVm(other.id, other, new Map([[disk.id, disk]])).problem?.code).toBe('disk_chain_mismatch');
    expect(matchVm(randomUUID(), ovf, new Map([[disk.id, disk]])).problem?.code).toBe('ovf_invalid');
    const broken = matchDisk(scan, undefined, none);
    expect(matchVm(ovf.id, ovf, new Map([[disk.id, broken]])).problem?.code).toBe('disk_unusable');
    // A template's disk must be one base volume; a version needs its base template registered.
    const tpl = ovfOf(scan.disk_id, leaf, 'template');
    expect(matchVm(tpl.id, tpl, new Map([[disk.id, disk]])).problem?.code).toBe('disk_chain_mismatch');
    const single = { ...disk, volumes: disk.volumes.slice(1).map((v) => ({ ...v, parent_id: null })) };
    expect(matchVm(tpl.id, tpl, new Map([[disk.id, single]])).problem).toBeNull();
    const baseId = randomUUID();
    const version = { ...tpl, template: { version_of: baseId, version_number: 2 } };
    expect(matchVm(tpl.id, version, new Map([[disk.id, single]])).problem?.code).toBe(
      'template_base_not_registered',
    );
    expect(
      matchVm(tpl.id, version, new Map([[disk.id, single]]), { templates: new Set([baseId]) }).problem,
    ).toBeNull();
    expect(matchVm(ovf.id, new Error('bad xml'), new Map()).problem?.code).toBe('ovf_invalid');
  });
});

describe('freeName', () => {
  it('adds the first free -N suffix, case-insensitively, within 64 characters', () => {
    expect(freeName('web', new Set())).toBe('web');
    expect(freeName('Web', new Set(['web', 'web-1']))).toBe('Web-2');
    const long = 'a'.repeat(64);
    expect(freeName(long, new Set([long]))).toBe(`${'a'.repeat(62)}-1`);
  });
});
