import type { ImageTransferCreate } from '@vireo/api';
import { updateDisk } from '../db/repositories/disks';
import type { Executor } from '../db/schema';
import type { ImageTransferRow } from '../db/tables/transfers';
import { Conflict, InvalidInput, NotFound } from '../errors';
import type { Actor } from '../services/actor';
import type { AuditRecorder, OperationCreator } from '../services/ports';
import {
  findTransferDisk,
  insertTransfer,
  insertUploadDisk,
  type TransferDisk,
  type TransferDomain,
  updateTransfer,
} from './repository';

const MiB = 1024 * 1024;

/** An upload request whose fields were checked against each other. */
export interface CheckedUpload {
  domainId: string;
  format: 'raw' | 'qcow2' | 'iso';
  sizeBytes: number;
  isIso: boolean;
}

/** Exactly one target, a format that goes with it, a size. Throws `invalid_input`. */
export function checkUploadInput(input: ImageTransferCreate): CheckedUpload {
  if (!input.storage_domain_id || !input.format || !input.size_bytes) {
    throw new InvalidInput('invalid_input', 'an upload needs storage_domain_id, format and size_bytes');
  }
  const targets = [input.iso_file, input.disk_id, input.disk_name].filter((v) => v !== undefined);
  if (targets.length !== 1) {
    throw new InvalidInput('invalid_input', 'name exactly one of iso_file, disk_id or disk_name');
  }
  const isIso = input.iso_file !== undefined;
  if (isIso !== (input.format === 'iso')) {
    throw new InvalidInput('invalid_input', 'format iso goes with iso_file, raw/qcow2 with a disk');
  }
  if (input.iso_file?.includes('..'))
    throw new InvalidInput('invalid_input', 'iso_file must not contain ".."');
  if (!isIso && input.format === 'raw' && input.size_bytes < MiB) {
    throw new InvalidInput('invalid_input', 'a disk image must be at least 1 MiB');
  }
  return { domainId: input.storage_domain_id, format: input.format, sizeBytes: input.size_bytes, isIso };
}

/** ISO files go to ISO domains, disks to data domains, and the bytes must fit. */
export function checkUploadDomain(domain: TransferDomain, checked: CheckedUpload): void {
  if (domain.kind !== (checked.isIso ? 'iso' : 'data')) {
    throw new Conflict(
      'storage_domain_state_invalid',
      `storage domain ${domain.name} is a ${domain.kind} domain`,
      {
        details: { kind: domain.kind },
      },
    );
  }
  if (domain.free_bytes !== null && checked.sizeBytes > domain.free_bytes) {
    throw new InvalidInput('image_too_large', `the domain has ${domain.free_bytes} bytes free`, {
      details: { free_bytes: domain.free_bytes, size_bytes: checked.sizeBytes },
    });
  }
}

/** A disk a transfer may read or overwrite: usable, one volume, no VM on it. */
function checkDiskIdle(disk: TransferDisk, why: string): void {
  if (disk.state !== 'ok') throw new Conflict('disk_locked', `disk ${disk.name} is ${disk.state}`);
  if (disk.in_use_by) throw new Conflict('disk_in_use', `disk ${disk.name} is used by VM ${disk.in_use_by}`);
  if (disk.volume_count !== 1 || !disk.active_volume_id) {
    throw new Conflict('disk_has_snapshots', `disk ${disk.name} has snapshots; ${why}`);
  }
}

export function checkDownloadDisk(
  disk: TransferDisk | undefined,
  id: string,
): TransferDisk & { active_volume_id: string } {
  if (!disk) throw new NotFound('disk_not_found', `disk ${id} does not exist`);
  checkDiskIdle(disk, 'only single-volume disks download');
  return disk as TransferDisk & { active_volume_id: string };
}

interface Recorders {
  audit: AuditRecorder;
  operations: OperationCreator;
}

/**
 * In one transaction: the target disk (a new locked disk with one volume, or the existing disk,
 * locked), the transfer row, its operation and the audit event.
 */
export async function insertUploadRows(
  tx: Executor,
  { audit, operations }: Recorders,
  p: {
    actor: Actor;
    input: ImageTransferCreate;
    checked: CheckedUpload;
    domain: TransferDomain;
    hostId: string;
  },
): Promise<ImageTransferRow> {
  const { actor, input, checked, domain } = p;
  let diskId: string | null = null;
  let volumeId: string | null = null;
  if (input.disk_id) {
    const disk = await findTransferDisk(tx, input.disk_id);
    if (!disk) throw new NotFound('disk_not_found', `disk ${input.disk_id} does not exist`);
    if (disk.storage_domain_id !== domain.id) {
      throw new InvalidInput('invalid_input', 'the disk is in another storage domain');
    }
    checkDiskIdle(disk, 'remove them first');
    if (disk.format !== checked.format) {
      throw new InvalidInput('invalid_input', `disk ${disk.name} is ${disk.format}, not ${checked.format}`);
    }
    diskId = disk.id;
    volumeId = disk.active_volume_id;
    await updateDisk(tx, disk.id, undefined, { state: 'locked' });
  } else if (input.disk_name) {
    const created = await insertUploadDisk(tx, {
      name: input.disk_name,
      domainId: domain.id,
      format: checked.format as 'raw' | 'qcow2',
      // Provisional: finalize sets the image's real virtual size.
      sizeBytes: Math.max(MiB, checked.sizeBytes),
    });
    diskId = created.diskId;
    volumeId = created.volumeId;
  }
  const t = await insertTransfer(tx, {
    direction: 'upload',
    storage_domain_id: domain.id,
    disk_id: diskId,
    volume_id: volumeId,
    iso_file: input.iso_file ?? null,
    created_disk: input.disk_name !== undefined,
    format: checked.format,
    size_bytes: checked.sizeBytes,
    sha256: input.sha256?.toLowerCase() ?? null,
    host_id: p.hostId,
    created_by: actor.userId,
  });
  const op = await operations.create(tx, {
    type: 'image_transfer.upload',
    target: { kind: 'image_transfer', id: t.id },
    createdBy: actor.userId,
    input: { transfer_id: t.id },
  });
  const what = input.iso_file ?? input.disk_name ?? `into disk ${diskId}`;
  await audit.record(tx, {
    kind: 'image_transfer.created',
    severity: 'info',
    message: `${actor.username} started uploading ${what} to ${domain.name}`,
    object: { kind: 'image_transfer', id: t.id },
    userId: actor.userId,
    username: actor.username,
    details: { size_bytes: checked.sizeBytes, format: checked.format, disk_id: diskId, operation_id: op.id },
  });
  return (await updateTransfer(tx, t.id, { operation_id: op.id })) ?? t;
}

/** In one transaction: the download's transfer row, its operation and the audit event. */
export async function insertDownloadRows(
  tx: Executor,
  { audit, operations }: Recorders,
  p: { actor: Actor; disk: TransferDisk & { active_volume_id: string }; hostId: string },
): Promise<ImageTransferRow> {
  const { actor, disk } = p;
  const t = await insertTransfer(tx, {
    direction: 'download',
    storage_domain_id: disk.storage_domain_id,
    disk_id: disk.id,
    volume_id: disk.active_volume_id,
    format: disk.format,
    // Replaced by the file's size once the host opened it.
    size_bytes: Math.max(1, disk.size_bytes),
    sha256: null,
    host_id: p.hostId,
    created_by: actor.userId,
  });
  const op = await operations.create(tx, {
    type: 'image_transfer.download',
    target: { kind: 'image_transfer', id: t.id },
    createdBy: actor.userId,
    input: { transfer_id: t.id },
  });
  await audit.record(tx, {
    kind: 'image_transfer.created',
    severity: 'info',
    message: `${actor.username} started downloading disk ${disk.name}`,
    object: { kind: 'image_transfer', id: t.id },
    userId: actor.userId,
    username: actor.username,
    details: { disk_id: disk.id, operation_id: op.id },
  });
  return (await updateTransfer(tx, t.id, { operation_id: op.id })) ?? t;
}
