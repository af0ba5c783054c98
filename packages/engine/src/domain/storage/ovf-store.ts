import type { DomainStoreRows } from '../../db/repositories/ovf-store';
import type { TemplateDiskRow, TemplateRow } from '../../db/repositories/templates';
import type { VmRow } from '../../db/tables/vms';
import { type OvfCdrom, type OvfDisk, type OvfEntity, type OvfNic, writeOvf } from '../ovf';
import { diskMetadataOf, diskMetadataText } from './disk-metadata';

/**
 * What a data domain should carry under `master/` (pure): one `disks/<id>.json` per disk and one
 * `vms/<id>.ovf` per VM or template with a disk on it (oVirt keeps both in one OVF store too). A disk or VM in the middle of a change (locked, a volume
 * not yet on storage or merging) is `kept`: its last file stays until it settles, rather than being
 * rewritten half-way or deleted.
 */
export interface DomainFileSet {
  files: { path: string; text: string }[];
  /** Paths whose object exists but cannot be written right now (never deleted). */
  keep: string[];
  /** Objects that could not be described (logged; their old file is kept). */
  errors: { path: string; message: string }[];
}

export const diskFilePath = (diskId: string) => `disks/${diskId}.json`;
export const vmFilePath = (vmId: string) => `vms/${vmId}.ovf`;

export function domainFilesOf(rows: DomainStoreRows): DomainFileSet {
  const out: DomainFileSet = { files: [], keep: [], errors: [] };
  for (const { disk, volumes } of rows.disks) {
    const path = diskFilePath(disk.id);
    const settled =
      disk.state === 'ok' && volumes.length > 0 && volumes.every((v) => v.on_storage && v.state === 'ok');
    if (!settled) {
      out.keep.push(path);
      continue;
    }
    try {
      out.files.push({ path, text: diskMetadataText(diskMetadataOf({ disk, volumes })) });
    } catch (err) {
      out.keep.push(path);
      out.errors.push({ path, message: (err as Error).message });
    }
  }
  for (const { vm, attachments } of rows.vms) {
    const path = vmFilePath(vm.id);
    if (attachments.some((a) => a.volume_id === null || a.state !== 'ok')) {
      out.keep.push(path);
      continue;
    }
    try {
      const disks: OvfDisk[] = attachments.map((a) => ({
        disk_id: a.disk_id,
        volume_id: a.volume_id as string,
        name: a.name,
        description: a.description,
        size_bytes: a.size_bytes,
        format: a.format,
        interface: a.interface,
        bootable: a.bootable,
        position: a.position,
        file_bytes: null,
      }));
      out.files.push({ path, text: writeOvf(vmEntityOf(vm), disks, vm.nics.map(nicOf)) });
    } catch (err) {
      out.keep.push(path);
      out.errors.push({ path, message: (err as Error).message });
    }
  }
  for (const { template, disks } of rows.templates) {
    const path = vmFilePath(template.id);
    if (template.state !== 'ok' || disks.some((d) => !d.on_storage)) {
      out.keep.push(path);
      continue;
    }
    try {
      const entity = templateEntityOf(template);
      const ovfDisks = templateOvfDisks(disks);
      const nics = (template.nics as VmRow['nics']).map(nicOf);
      out.files.push({ path, text: writeOvf(entity, ovfDisks, nics) });
    } catch (err) {
      out.keep.push(path);
      out.errors.push({ path, message: (err as Error).message });
    }
  }
  return out;
}

/** The OVF entity of a template row (`created_at` left out, as for VMs). */
export function templateEntityOf(template: TemplateRow): OvfEntity {
  return {
    kind: 'template',
    id: template.id,
    name: template.name,
    description: template.description,
    cpus: template.cpus,
    memory_mib: template.memory_mib,
    os_type: template.os_type as OvfEntity['os_type'],
    boot_order: template.boot_order as OvfEntity['boot_order'],
    console: template.console_type === 'serial' ? 'serial' : 'vnc',
    cdrom: null,
    template: { version_of: template.version_of, version_number: template.version_number },
    created_at: null,
  };
}

/** The OVF disks of a template: each a single base volume. */
export function templateOvfDisks(disks: TemplateDiskRow[]): OvfDisk[] {
  return disks.map((d) => ({
    disk_id: d.disk_id,
    volume_id: d.volume_id,
    name: d.name,
    description: '',
    size_bytes: d.size_bytes,
    format: d.format,
    interface: d.interface as OvfDisk['interface'],
    bootable: d.bootable,
    position: d.position,
    file_bytes: null,
  }));
}

/** The OVF entity of a VM row, without its creation time (see `created_at` below). */
export function vmEntityOf(vm: VmRow): OvfEntity {
  let cdrom: OvfCdrom | null = null;
  if (vm.cdrom_storage_domain_id && vm.cdrom_file)
    cdrom = { storage_domain_id: vm.cdrom_storage_domain_id, file: vm.cdrom_file };
  else if (vm.cdrom_image) cdrom = { image: vm.cdrom_image };
  return {
    kind: 'vm',
    id: vm.id,
    name: vm.name,
    description: '',
    cpus: vm.cpus,
    memory_mib: vm.memory_mib,
    os_type: vm.os_type as OvfEntity['os_type'],
    boot_order: vm.boot_order as OvfEntity['boot_order'],
    console: vm.console_type === 'serial' ? 'serial' : 'vnc',
    cdrom,
    template: null,
    // Left out on purpose: the file's digest should change only with the configuration.
    created_at: null,
  };
}

function nicOf(n: VmRow['nics'][number]): OvfNic {
  const model = n.model ?? 'virtio';
  return n.type === 'bridge'
    ? { type: 'bridge', bridge: n.bridge, mac: n.mac, model }
    : { type: 'user', mac: n.mac, model };
}
