import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DomainStoreRows } from '../../db/repositories/ovf-store';
import type { DiskRow, VolumeRow } from '../../db/tables/disks';
import type { VmRow } from '../../db/tables/vms';
import { parseOvf } from '../ovf';
import { parseDiskMetadata } from './disk-metadata';
import { domainFilesOf } from './ovf-store';

const now = new Date('2026-11-24T00:00:00Z');

function diskRow(over: Partial<DiskRow> = {}): DiskRow {
  return {
    id: randomUUID(),
    name: 'root',
    description: '',
    storage_domain_id: randomUUID(),
    size_bytes: 1 << 30,
    format: 'qcow2',
    preallocation: 'off',
    shareable: false,
    encrypted: false,
    state: 'ok',
    version: 1,
    created_at: now,
    updated_at: now,
    ...over,
  };
}

function volumeRow(diskId: string, over: Partial<VolumeRow> = {}): VolumeRow {
  return {
    id: randomUUID(),
    disk_id: diskId,
    parent_id: null,
    format: 'qcow2',
    active: true,
    state: 'ok',
    size_bytes: 1 << 30,
    on_storage: true,
    created_at: now,
    updated_at: now,
    ...over,
  };
}

function vmRow(over: Partial<VmRow> = {}): VmRow {
  return {
    id: randomUUID(),
    name: 'web',
    cluster_id: randomUUID(),
    host_id: null,
    desired_state: 'down',
    state: 'down',
    state_reason: '',
    state_changed_at: now,
    cpus: 2,
    memory_mib: 256,
    os_type: 'other_linux',
    boot_order: ['cdrom', 'disk'],
    cdrom_image: 'test-guest.iso',
    cdrom_storage_domain_id: null,
    cdrom_file: null,
    nics: [{ type: 'user', mac: '56:6f:00:00:00:01' }],
    console_type: 'vnc',
    version: 3,
    created_at: now,
    updated_at: now,
    ...over,
  };
}

describe('domainFilesOf (what the OVF store writes)', () => {
  it('describes settled disks and their VMs; the OVF parses back with the leaf volume', () => {
    const disk = diskRow();
    const base = volumeRow(disk.id, { active: false });
    const leaf = volumeRow(disk.id, { parent_id: base.id });
    const vm = vmRow();
    const rows: DomainStoreRows = {
      templates: [],
      disks: [{ disk, volumes: [leaf, base] }],
      vms: [
        {
          vm,
          attachments: [
            {
              disk_id: disk.id,
              position: 0,
              interface: 'virtio',
              bootable: true,
              name: disk.name,
              description: '',
              size_bytes: disk.size_bytes,
              format: 'qcow2',
              storage_domain_id: disk.storage_domain_id,
              state: 'ok',
              volume_id: leaf.id,
            },
          ],
        },
      ],
    };
    const set = domainFilesOf(rows);
    expect(set.errors).toEqual([]);
    expect(set.files.map((f) => f.path)).toEqual([`disks/${disk.id}.json`, `vms/${vm.id}.ovf`]);
    const meta = parseDiskMetadata(set.files[0]?.text ?? '', disk.id);
    expect(meta.volumes.map((v) => v.id)).toEqual([base.id, leaf.id]);
    const ovf = parseOvf(set.files[1]?.text ?? '');
    expect(ovf).toMatchObject({
      kind: 'vm',
      id: vm.id,
      name: 'web',
      cpus: 2,
      cdrom: { image: 'test-guest.iso' },
    });
    expect(ovf.disks[0]).toMatchObject({ disk_id: disk.id, volume_id: leaf.id, bootable: true });
    expect(ovf.nics[0]).toMatchObject({ type: 'user', mac: '56:6f:00:00:00:01', model: 'virtio' });
    // Same rows, same bytes: an unchanged VM or disk is never rewritten.
    expect(domainFilesOf(rows).files.map((f) => f.text)).toEqual(set.files.map((f) => f.text));
  });

  it('keeps (neither writes nor deletes) disks in flux and VMs whose disk has no active volume', () => {
    const locked = diskRow({ state: 'locked' });
    const merging = diskRow();
    const fresh = diskRow();
    const vm = vmRow();
    const set = domainFilesOf({
      templates: [],
      disks: [
        { disk: locked, volumes: [volumeRow(locked.id)] },
        { disk: merging, volumes: [volumeRow(merging.id, { state: 'merging' })] },
        { disk: fresh, volumes: [volumeRow(fresh.id, { on_storage: false })] },
      ],
      vms: [
        {
          vm,
          attachments: [
            {
              disk_id: fresh.id,
              position: 0,
              interface: 'virtio',
              bootable: true,
              name: 'x',
              description: '',
              size_bytes: 1 << 30,
              format: 'qcow2',
              storage_domain_id: fresh.storage_domain_id,
              state: 'ok',
              volume_id: null,
            },
          ],
        },
      ],
    });
    expect(set.files).toEqual([]);
    expect(set.keep.sort()).toEqual(
      [
        `disks/${locked.id}.json`,
        `disks/${merging.id}.json`,
        `disks/${fresh.id}.json`,
        `vms/${vm.id}.ovf`,
      ].sort(),
    );
  });

  it('reports a disk whose rows are not one chain and keeps its old file', () => {
    const disk = diskRow();
    const set = domainFilesOf({
      disks: [{ disk, volumes: [volumeRow(disk.id), volumeRow(disk.id, { active: false })] }],
      vms: [],
      templates: [],
    });
    expect(set.files).toEqual([]);
    expect(set.keep).toEqual([`disks/${disk.id}.json`]);
    expect(set.errors[0]).toMatchObject({
      path: `disks/${disk.id}.json`,
      message: expect.stringMatching(/root/),
    });
  });
  it('writes a settled template as a template OVF and keeps a locked one', () => {
    const disk = diskRow();
    const base = volumeRow(disk.id);
    const template = {
      id: randomUUID(),
      name: 'base-debian',
      description: 'golden',
      cluster_id: randomUUID(),
      version_of: null,
      version_number: 1,
      cpus: 1,
      memory_mib: 128,
      os_type: 'debian',
      boot_order: ['disk'],
      nics: [],
      console_type: 'serial' as const,
      created_from_vm_id: null,
      state: 'ok' as const,
      version: 1,
      created_at: now,
      updated_at: now,
    };
    const tdisk = {
      template_id: template.id,
      disk_id: disk.id,
      position: 0,
      interface: 'virtio',
      bootable: true,
      name: disk.name,
      storage_domain_id: disk.storage_domain_id,
      size_bytes: disk.size_bytes,
      format: 'qcow2' as const,
      volume_id: base.id,
      volume_format: 'qcow2' as const,
      on_storage: true,
    };
    const set = domainFilesOf({
      disks: [{ disk, volumes: [base] }],
      vms: [],
      templates: [
        { template, disks: [tdisk] },
        { template: { ...template, id: randomUUID(), state: 'locked' }, disks: [tdisk] },
      ],
    });
    expect(set.errors).toEqual([]);
    const ovf = parseOvf(set.files.find((f) => f.path === `vms/${template.id}.ovf`)?.text ?? '');
    expect(ovf).toMatchObject({
      kind: 'template',
      name: 'base-debian',
      console: 'serial',
      template: { version_number: 1 },
    });
    expect(ovf.disks[0]).toMatchObject({ disk_id: disk.id, volume_id: base.id });
    expect(set.keep).toHaveLength(1);
  });
});
