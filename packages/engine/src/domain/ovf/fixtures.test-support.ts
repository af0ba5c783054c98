import type { OvfDisk, OvfEntity, OvfNic } from './types';

/** A VM with two disks, a CD-ROM and both kinds of NIC: every field the writer emits. */
export const vmEntity: OvfEntity = {
  kind: 'vm',
  id: '6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b',
  name: 'web-1',
  description: 'Front end <"prod"> & friends',
  cpus: 2,
  memory_mib: 512,
  os_type: 'debian',
  boot_order: ['disk', 'cdrom'],
  console: 'vnc',
  cdrom: { storage_domain_id: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', file: 'debian-12.iso' },
  template: null,
  created_at: '2026-11-24T21:00:00.000Z',
};

export const vmDisks: OvfDisk[] = [
  {
    disk_id: '11111111-2222-4333-8444-555555555555',
    volume_id: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee',
    name: 'web-1_disk0',
    description: 'system',
    size_bytes: 1073741824,
    format: 'qcow2',
    interface: 'virtio',
    bootable: true,
    position: 0,
    file_bytes: 196608,
  },
  {
    disk_id: '22222222-3333-4444-8555-666666666666',
    volume_id: 'bbbbbbbb-cccc-4ddd-8eee-ffffffffffff',
    name: 'web-1_data',
    description: '',
    size_bytes: 2147483648,
    format: 'raw',
    interface: 'scsi',
    bootable: false,
    position: 1,
    file_bytes: null,
  },
];

export const vmNics: OvfNic[] = [
  { type: 'bridge', bridge: 'vireomgmt', mac: '56:6f:00:00:00:01', model: 'virtio' },
  { type: 'user', mac: '56:6f:00:00:00:02', model: 'e1000' },
];

export const templateEntity: OvfEntity = {
  kind: 'template',
  id: '7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d',
  name: 'base-debian',
  description: '',
  cpus: 1,
  memory_mib: 256,
  os_type: 'other_linux',
  boot_order: ['disk'],
  console: 'vnc',
  cdrom: null,
  template: { version_of: '8b9c0d1e-2f3a-4b4c-9d5e-6f7a8b9c0d1e', version_number: 2 },
  created_at: null,
};

export const templateDisks: OvfDisk[] = [
  {
    disk_id: '33333333-4444-4555-8666-777777777777',
    volume_id: 'cccccccc-dddd-4eee-8fff-000000000000',
    name: 'base-debian_disk0',
    description: '',
    size_bytes: 536870912,
    format: 'qcow2',
    interface: 'virtio',
    bootable: true,
    position: 0,
    file_bytes: 1048576,
  },
];
